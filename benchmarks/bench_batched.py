"""Benchmark: Workbench's batched generation against ``llama-batched-bench`` at the same width.

Issue 25 asks that a trial's batched cells generate at >= 0.9 of llama.cpp's own batched
throughput. The reference is ``llama-batched-bench`` built by ``llama_tools.py`` from the
source the installed wheel was built from and linked to the wheel's own libraries, so both
sides run the same kernels. Both are asked for the same work:

- the same model, threads (``-t``/``-tb``), micro-batches (``-b``/``-ub`` 512, the engine's)
  and flash attention off (llama-cpp-python's default, which the engine keeps), and on a CPU
  with AMX no weight repacking (``--no-repack``; the engine loads without it, llama.cpp#20824);
- the same KV layout: a stream of cells per sequence (``-no-kvu``; the engine's
  ``kv_unified`` off, see ``workbench/engine/batched.py``; it is also llama-batched-bench's
  default, its "auto" applies to llama-server only), and the same context: ``width`` streams
  of prompt + generated tokens;
- the same shape: ``width`` sequences (``-npl``), each with a prompt as long as Workbench's
  rendered chat prompt (``-npp``, the mean over the cells) and ``tokens`` generated (``-ntg``).

Workbench's side is ``Engine.reply_batch`` (the trial's path: the engine process, one sampler
chain per cell, greedy with the repeat penalty, detokenizing and stop strings each step). Its
generation throughput is counted as S_TG is: tokens decoded after every prompt is in (each
cell's first token comes with its prompt) over the time from the last prompt's first token to
the last cell's end. llama-batched-bench decodes random tokens and samples nothing, so the
ratio charges Workbench for all of its per-step work. Rounds alternate (Workbench, tool,
Workbench...) at each width; the figures are medians and the ratio is taken per round.
Target: >= 0.9 at every width.

    .venv/bin/python benchmarks/llama_tools.py --only llama-batched-bench   # once
    .venv/bin/python benchmarks/bench_batched.py [--threads 1 2] [--widths 1 2 4 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import llama_tools  # noqa: E402
from bench_engine import same_work_flags  # noqa: E402

from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine, LoadSettings, SamplingSettings  # noqa: E402
from workbench.engine.batched import UNIFIED, BatchCell  # noqa: E402
from workbench.trials.compare import build_messages  # noqa: E402
from workbench.units import human_tps  # noqa: E402

TOPICS = ("a river", "gravity", "a violin", "bread", "a volcano", "rain", "a comet", "chess",
          "a bridge", "honey", "a glacier", "jazz", "a lighthouse", "salt", "a desert", "paper")
N_BATCH = 512  # the engine's n_batch and n_ubatch (llama-cpp-python's defaults)


def cells(width: int, tokens: int) -> list[BatchCell]:
    sampling = SamplingSettings(temperature=0.0, max_tokens=tokens, seed=1)
    return [BatchCell(build_messages(f"Write a long story about {TOPICS[i % len(TOPICS)]}.",
                                     None), sampling) for i in range(width)]


def workbench_tg(engine: Engine, model: Path, width: int, threads: int, tokens: int
                 ) -> tuple[float, int, int]:
    """Workbench's generation throughput at ``width``: (tokens/s, mean prompt tokens, cells
    that ended before ``tokens``, which make the later steps narrower)."""
    load = LoadSettings(n_ctx=2048, n_threads=threads, gpu_layers=0)
    results = list(engine.reply_batch(model, cells(width, tokens), width=width, load=load))
    made = sum(r.stats.completion_tokens - 1 for r in results)
    first = max(r.stats.ttft_ms or 0.0 for r in results)  # every prompt in: the loop starts
    last = max(r.stats.total_ms for r in results)
    prompt = round(statistics.mean(r.stats.prompt_tokens for r in results))
    short = sum(r.stats.completion_tokens < tokens for r in results)
    return made / ((last - first) / 1000), prompt, short


def batched_bench_tg(tool: str, model: Path, width: int, threads: int, prompt: int,
                     tokens: int, unified: bool = UNIFIED) -> float:
    """llama-batched-bench's S_TG for ``width`` sequences of ``prompt`` + ``tokens``."""
    command = [tool, "-m", str(model), "-ngl", "0", "-t", str(threads), "-tb", str(threads),
               "-c", str(width * (prompt + tokens)), "-b", str(N_BATCH), "-ub", str(N_BATCH),
               *same_work_flags("llama-batched-bench"), "-kvu" if unified else "-no-kvu",
               "-npp", str(prompt), "-ntg", str(tokens), "-npl", str(width),
               "--output-format", "jsonl"]
    for _ in range(2):  # once more if a run gives no result line
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        for line in (done.stdout + "\n" + done.stderr).splitlines():
            if line.startswith("{") and '"speed_tg"' in line:
                return float(json.loads(line)["speed_tg"])
        print(f"llama-batched-bench gave no result line (exit {done.returncode}): "
              f"{' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}",
              file=sys.stderr, flush=True)
    tail = (done.stdout + done.stderr).strip().splitlines()[-4:]
    raise SystemExit(f"llama-batched-bench gave no result (exit {done.returncode}): "
                     f"{' '.join(command)}\n" + "\n".join(tail))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated a sequence")
    parser.add_argument("--model", type=Path, default=None,
                        help="a .gguf file (default: the test model, SmolLM2-135M)")
    parser.add_argument("--unified", action="store_true",
                        help="also run llama-batched-bench with one KV cache shared by all "
                        "sequences (-kvu), for reference: Workbench never uses it")
    args = parser.parse_args()
    tool = llama_tools.tool("llama-batched-bench")
    if tool is None:
        raise SystemExit("llama-batched-bench is not built: run "
                         "benchmarks/llama_tools.py --only llama-batched-bench")
    model = args.model or demo_model_path()
    print(f"model {model.name}, {args.tokens} tokens a sequence, {args.rounds} rounds, "
          f"tool {tool}\nKV: a stream per sequence on both sides (Workbench kv_unified="
          f"{UNIFIED}, llama-batched-bench -no-kvu); tool flags "
          f"{' '.join(same_work_flags('llama-batched-bench'))}", flush=True)
    engine = Engine()
    try:
        for threads in args.threads:
            workbench_tg(engine, model, 1, threads, 8)  # load, untimed
            print(f"\n{threads} thread(s):")
            for width in args.widths:
                ours, theirs, ratios, shared = [], [], [], []
                short = prompt = 0
                for _ in range(args.rounds):
                    rate, prompt, cut = workbench_tg(engine, model, width, threads, args.tokens)
                    short += cut
                    ref = batched_bench_tg(tool, model, width, threads, prompt, args.tokens)
                    ours.append(rate)
                    theirs.append(ref)
                    ratios.append(rate / ref)
                    if args.unified:
                        shared.append(batched_bench_tg(tool, model, width, threads, prompt,
                                                       args.tokens, unified=True))
                ratio = statistics.median(ratios)
                line = (f"  width {width}: Workbench {human_tps(statistics.median(ours))}, "
                        f"llama-batched-bench {human_tps(statistics.median(theirs))} "
                        f"(npp {prompt}), ratio {ratio:.3f} "
                        f"[{', '.join(f'{r:.3f}' for r in ratios)}] "
                        f"{'meets' if ratio >= 0.9 else 'UNDER'} 0.9")
                if shared:
                    line += f"; -kvu {human_tps(statistics.median(shared))}"
                if short:
                    line += f"; {short} cells ended before {args.tokens} tokens"
                print(line, flush=True)
    finally:
        engine.unload()


if __name__ == "__main__":
    main()
