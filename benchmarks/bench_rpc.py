"""A model split across workers on loopback (llama.cpp's RPC backend) against the same model
run on this computer alone.

Starts two ``llm-workbench worker`` processes on 127.0.0.1 and, for local, 1 worker and 2
workers, each in a fresh engine process: loads the model (load time, and the bytes the engine
process wrote while loading: almost all of them the weights sent to the workers, read from
``/proc/PID/io``), then streams the same greedy reply a few times and reports the median
generation tokens/s, and whether the text is the local one. Then the workers are restarted
with ``--cache DIR`` and the model loaded twice: llama.cpp sends a tensor over 10 MiB once and
only its hash afterwards, so the second load should be faster where the offloaded tensors are
that large (not the case for the 93 MB test model, whose largest offloaded tensor is ~1 MB).

llama.cpp's own ``llama-server --rpc`` (the one ``benchmarks/llama_tools.py`` builds from the
installed llama-cpp-python, linked to its RPC-enabled libraries, else one on PATH) is run
against the same workers in the same interleaved rounds, all layers offloaded (``-ngl 99``),
greedy, the same number of tokens, with the engine's flash attention and weight layout; its
own timings give its generation tokens/s. Like is compared with like: Workbench with
``split=workers`` (every layer and the output layer on the workers, as ``-ngl 99`` puts them)
over llama-server (target >= 0.95); Workbench's default split (``auto``: this computer keeps
its share by free memory) is shown beside it. Each worker's check (round trip, measured
bandwidth) is printed first.

    python benchmarks/bench_rpc.py [MODEL.gguf] [--replies 3] [--tokens 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import llama_tools  # noqa: E402
from bench_engine import same_work_flags  # noqa: E402

from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine, LoadSettings, SamplingSettings, rpc  # noqa: E402
from workbench.units import human_ms, human_size, human_tps  # noqa: E402
from workbench.workers import check_worker  # noqa: E402

PROMPT = [{"role": "user", "content": "Explain, step by step and at length, how a steam "
           "engine works."}]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_worker(threads: int, cache: str | None = None) -> tuple[subprocess.Popen[Any], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    args = [sys.executable, "-m", "workbench", "worker", "--port", str(port),
            "--threads", str(threads)]
    if cache:
        args += ["--cache", cache]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=env)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while rpc.reachable(address, timeout=1) is not None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker on {address} did not start")
        time.sleep(0.2)
    return process, address


def received(addresses: tuple[str, ...]) -> int | None:
    """Bytes the workers have received on their open connections (``ss``'s
    ``bytes_received`` of each worker's end); None where ``ss`` is missing."""
    import re

    if not addresses or shutil.which("ss") is None:
        return 0 if not addresses else None
    total = 0
    for address in addresses:
        port = address.rsplit(":", 1)[1]
        out = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True).stdout
        total += sum(int(n) for n in re.findall(r"bytes_received:(\d+)", out))
    return total


def run(model: Path, workers: tuple[str, ...], args: argparse.Namespace,
        split: str = "auto") -> dict[str, Any]:
    engine = Engine()
    load = LoadSettings(n_ctx=1024, n_threads=args.threads, workers=workers, split=split)
    sampling = SamplingSettings(temperature=0.0, top_k=1, seed=7, max_tokens=args.tokens)
    try:
        loaded = engine.load(model, load)
        sent = received(workers)
        rates, text = [], ""
        for _ in range(args.replies):
            reply = engine.reply(model, PROMPT, load=load, sampling=sampling, fresh=True)
            text = "".join(reply)
            rates.append(reply.stats.gen_tps or 0.0)
        return {"load_ms": loaded.load_ms, "sent": sent, "tps": statistics.median(rates),
                "text": text}
    finally:
        engine.unload()


def llama_server(model: Path, workers: tuple[str, ...], args: argparse.Namespace
                 ) -> dict[str, Any]:
    """llama.cpp's own server with ``--rpc`` on the same workers: its load time and the
    median generation tokens/s of its own timings (``text``: its first reply)."""
    tool = llama_tools.tool("llama-server")
    assert tool is not None
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [tool, "-m", str(model), "--rpc", ",".join(workers), "-ngl", "99", "-t",
         str(args.threads), "-c", "1024", "--port", str(port), "--host", "127.0.0.1", "-np",
         "1", *same_work_flags("llama-server")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("llama-server --rpc did not start") from None
                time.sleep(0.3)
        load_ms = (time.perf_counter() - started) * 1000
        rates, text = [], ""
        for _ in range(args.replies):
            body = json.dumps({"messages": PROMPT, "max_tokens": args.tokens,
                               "temperature": 0, "top_k": 1, "seed": 7,
                               "cache_prompt": False}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/chat/completions", body,
                {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as answer:
                reply = json.load(answer)
            rates.append(float(reply["timings"]["predicted_per_second"]))
            text = text or reply["choices"][0]["message"]["content"]
        return {"load_ms": load_ms, "sent": received(workers), "tps": statistics.median(rates),
                "text": text}
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", type=Path, default=demo_model_path())
    parser.add_argument("--replies", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not rpc.available():
        raise SystemExit(rpc.missing_line())
    workers = [start_worker(args.threads) for _ in range(2)]
    try:
        addresses = tuple(address for _, address in workers)
        for address in addresses:
            print(check_worker(address, timeout=30).line)
        setups = {"local": (), "1 worker": addresses[:1], "2 workers": addresses,
                  "1 worker, all layers": addresses[:1], "2 workers, all layers": addresses}
        if llama_tools.tool("llama-server"):
            setups |= {"llama-server, 1 worker": addresses[:1],
                       "llama-server, 2 workers": addresses}
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in setups}
        for index in range(args.rounds):  # interleaved: drift in load falls on each setup
            order = list(setups) if index % 2 == 0 else list(reversed(setups))
            for name in order:
                if name.startswith("llama-server"):
                    rounds[name].append(llama_server(args.model, setups[name], args))
                else:
                    split = "workers" if name.endswith("all layers") else "auto"
                    rounds[name].append(run(args.model, setups[name], args, split))
        results = {name: {"load_ms": statistics.median(r["load_ms"] for r in rows),
                          "sent": rows[0]["sent"],
                          "tps": statistics.median(r["tps"] for r in rows),
                          "text": rows[0]["text"],
                          "same": all(r["text"] == rows[0]["text"] for r in rows)}
                   for name, rows in rounds.items()}
    finally:
        for process, _ in workers:
            process.terminate()
            process.wait(10)
    base = results["local"]
    print(f"model {args.model.name}, {args.threads} thread(s) everywhere, {args.tokens} "
          f"tokens x {args.replies}, loopback")
    print(f"medians of {args.rounds} interleaved rounds; 'sent': bytes the workers received "
          "during the load\n")
    print(f"{'':24} {'load':>8} {'sent':>10} {'generation':>14} {'vs local':>9}  same text")
    for name, row in results.items():
        sent = human_size(row["sent"]) if row["sent"] is not None else "-"
        same = "yes" if row["text"] == base["text"] else (
            "n/a (its own template)" if name.startswith("llama-server") else "NO")
        print(f"{name:24} {human_ms(row['load_ms']):>8} {sent:>10} "
              f"{human_tps(row['tps']):>14} {row['tps'] / base['tps']:>9.2f}  {same}")
    for count in ("1 worker", "2 workers"):
        theirs = results.get(f"llama-server, {count}")
        if theirs:
            same = results[f"{count}, all layers"]
            print(f"workbench (split=workers) / llama-server --rpc, {count}, the same setup: "
                  f"generation {same['tps'] / theirs['tps']:.3f} (target >= 0.95), load "
                  f"{same['load_ms'] / theirs['load_ms']:.2f}x its time; with this "
                  f"computer's share (split=auto): "
                  f"{results[count]['tps'] / theirs['tps']:.3f}")

    cache = tempfile.mkdtemp(prefix="wb-rpc-cache-")
    cached = [start_worker(args.threads, cache)]
    try:
        first = run(args.model, (cached[0][1],), args)
        second = run(args.model, (cached[0][1],), args)
    finally:
        cached[0][0].terminate()
        cached[0][0].wait(10)
        files = list(Path(cache).iterdir())
        shutil.rmtree(cache, ignore_errors=True)
    print(f"\n--cache, 1 worker: first load {human_ms(first['load_ms'])} "
          f"({human_size(first['sent'])} sent), second {human_ms(second['load_ms'])} "
          f"({human_size(second['sent'])} sent); {len(files)} tensor(s) cached")

    if not llama_tools.tool("llama-server"):
        print("\nllama-server: not built (python benchmarks/llama_tools.py) and not on PATH, "
              "so llama.cpp's own --rpc was not measured")


if __name__ == "__main__":
    main()
