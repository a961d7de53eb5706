"""Running a trial: every prompt of a suite over every contender, resumable and stoppable.

Cells run contender by contender, so each model is loaded once per trial (the one already in
memory goes first) and never twice in a row. Each finished cell is written at once; a resume
skips the cells already stored, so a cancelled or crashed trial loses at most the cell that
was running. Each repeat is a real sample: it gets its own seed, derived from the trial's (or
the contender's) seed and the repeat number, and recorded on the cell. :class:`TrialRun` is
an iterator of :class:`TrialProgress` events with a ``stop()`` that ends the running reply
within a token, which is the shape the window's task manager and the CLI both drive.

Prompts run in an order shuffled with the trial's seed (the same on every rerun). Given a
pass-rate bar, a contender stops as soon as its verdict is settled by the anytime-valid rule
of :mod:`.sequential` ("stopped after 14 of 40 prompts: the pass rate cannot reach 80%"),
recorded in ``trial_stops``; ``stop_early=False`` (``trial resume --no-stop-early``) runs the
rest.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from sqlite_utils import Database

from workbench.engine import Engine, Reply
from workbench.engine.remote_batch import RemoteBatch
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.streams import EventStream
from workbench.trials import judge, store
from workbench.trials.batched_run import Step, batched_steps, check_batch
from workbench.trials.checks import run_checks
from workbench.trials.compare import build_messages, run_order
from workbench.trials.contenders import Contender, get_contender
from workbench.trials.recommend import Bar
from workbench.trials.sequential import MEETS, stop_text, stop_verdict
from workbench.trials.suites import Suite, get_suite


@dataclass
class TrialProgress:
    """Where a trial stands: cells done of total, an ETA, and the cell just finished."""

    trial_id: int
    done: int
    total: int
    eta_s: float | None
    cell: dict[str, Any] | None = None
    message: str = ""
    contender: str = field(default="")


def create_trial(db: Database, suite_ref: int | str, contenders: list[Contender],
                 *, seed: int | None = None, repeats: int = 1, name: str = "",
                 rerun_of: int | None = None) -> int:
    """Store a trial. Its seed is fixed now (random when not given) and given, at run time,
    to every contender without one, so the trial can be repeated exactly. The contender rows
    stay as they are, so a trial's results and a comparison's votes add up per contender."""
    if not contenders:
        raise InvalidInputError("trial: choose at least one contender")
    if len({c.id for c in contenders}) < len(contenders):
        raise InvalidInputError("trial: the same contender twice (same model and settings)")
    if repeats < 1:
        raise InvalidInputError("trial: repeats must be 1 or more")
    suite = get_suite(db, suite_ref)
    if not suite.prompts:
        raise InvalidInputError(f"suite '{suite.name}': has no prompts")
    seed = seed if seed is not None else random.randrange(2**31)
    return store.insert_trial(db, suite.id, [c.id for c in contenders], seed, repeats, name,
                              rerun_of)


def repeat_seed(base: int, repeat: int) -> int:
    """The seed of one repeat: the base seed itself for the first, so a one-repeat trial
    replies as before, and a hash of (base, repeat) for the others, so repeats are distinct
    samples yet the same on every rerun."""
    if repeat == 0:
        return int(base)
    digest = hashlib.sha256(f"workbench-repeat:{int(base)}:{repeat}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


class TrialRun(EventStream[TrialProgress]):
    """Iterate to run (or resume) a trial; ``stop()`` cancels it, keeping finished cells."""

    @classmethod
    def under(cls, db: Database, engine: Engine, trial_id: int, bar: Bar | None,
              stop_early: bool = True, batch: int | None = None) -> TrialRun:
        """The run for the user's bar, as the CLI and the window start it: a contender stops
        early once its pass rate settles the bar, and a settled "meets" stops it only when
        no vote or speed part of the bar still needs every reply. Cells are batched at the
        automatic width unless ``batch`` says otherwise."""
        return cls(db, engine, trial_id,
                   bar=bar.min_pass_rate if bar is not None else None, stop_early=stop_early,
                   settled_by_pass_rate=bar is None or (bar.min_vote_share is None
                                                        and bar.min_tps is None),
                   batch=batch)

    def __init__(self, db: Database, engine: Engine, trial_id: int,
                 bar: float | None = None, stop_early: bool = True,
                 settled_by_pass_rate: bool = True, batch: int | None = 1) -> None:
        """``bar``: the pass-rate bar (0-1) a contender may stop early at, when
        ``stop_early``; ``settled_by_pass_rate`` False (other parts of the bar still need
        every reply, such as votes) stops only on a failing pass rate. ``batch``: how many
        of a contender's cells are decoded together (1: one after another; None: as many
        as memory and the machine suit, see :mod:`.batched_run`)."""
        self.batch = check_batch(batch)
        self._complete = False
        self.bar = bar if stop_early else None
        self.settled_by_pass_rate = settled_by_pass_rate
        self.db = db
        self.engine = engine
        self.trial = store.get_trial_row(db, trial_id)
        self.trial_id = int(self.trial["id"])
        self.suite: Suite = get_suite(db, self.trial["suite_id"])
        self.contenders = [get_contender(db, i) for i in self.trial["contender_ids"]]
        self.total = len(self.suite.prompts) * len(self.contenders) * self.trial["repeats"]
        self._stop = threading.Event()
        self._reply: Reply | RemoteBatch | None = None

    def stop(self) -> None:
        """Cancel from any thread: the running reply ends within a token and is not saved."""
        self._stop.set()
        reply = self._reply
        if reply is not None:
            reply.stop()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def prompt_order(self) -> list[int]:
        """The suite's prompt indexes shuffled with the trial's seed."""
        return self.order_for(len(self.suite.prompts), int(self.trial["seed"]))

    @staticmethod
    def order_for(count: int, seed: int) -> list[int]:
        """``count`` prompt indexes shuffled with a trial's ``seed``."""
        order = list(range(count))
        random.Random(f"workbench-order:{int(seed)}").shuffle(order)
        return order

    def plan(self) -> list[tuple[Contender, int, int]]:
        """(contender, prompt index, repeat) in run order, finished cells left out, and the
        contenders stopped early left out while early stopping is on."""
        done = store.done_cells(self.db, self.trial_id)
        if self.bar is None:
            store.clear_stops(self.db, self.trial_id)
        stopped = store.trial_stops(self.db, self.trial_id)
        cells = []
        for contender in run_order(self.contenders, self.engine):
            if contender.id in stopped:
                continue
            for index in self.prompt_order():
                prompt = self.suite.prompts[index]
                for repeat in range(self.trial["repeats"]):
                    if (prompt.id, contender.id, repeat) not in done:
                        cells.append((contender, index, repeat))
        return cells

    def _settled(self, contender: Contender) -> str | None:
        """After a prompt's last repeat: the stop sentence when the contender's pass rate
        is settled (recorded), else None."""
        if self.bar is None:
            return None
        mine = [c for c in store.trial_cells(self.db, self.trial_id)
                if c["contender_id"] == contender.id]
        if len(mine) % int(self.trial["repeats"]):
            return None
        tally: dict[int, list[int]] = {}
        for cell in mine:
            if cell["passed"] is not None:
                entry = tally.setdefault(int(cell["prompt_id"]), [0, 0])
                entry[0] += int(cell["passed"])
                entry[1] += 1
        passed = sum(a / b for a, b in tally.values())
        outcome = stop_verdict(passed, len(tally), self.bar, len(self.contenders))
        if outcome is None or (outcome == MEETS and not self.settled_by_pass_rate):
            return None
        after, total = len({c["prompt_id"] for c in mine}), len(self.suite.prompts)
        if after >= total:
            return None
        text = stop_text(outcome, after, total, self.bar)
        store.save_stop(self.db, self.trial_id, contender.id, after, total, outcome,
                        self.bar, text)
        return text

    def __iter__(self) -> Iterator[TrialProgress]:
        plan = self.plan()
        stopped = store.trial_stops(self.db, self.trial_id)
        self.total -= sum((s["total_prompts"] - s["after_prompts"]) * self.trial["repeats"]
                          for s in stopped.values())
        done = self.total - len(plan)
        store.set_trial_status(self.db, self.trial_id, "running")
        status = "cancelled"
        yield TrialProgress(self.trial_id, done, self.total, None,
                            message="resuming" if done else "starting")
        started = time.perf_counter()
        ran = 0
        skip: set[int] = set()
        steps = (self._sequential(plan, skip) if self.batch == 1
                 else batched_steps(self, plan, skip))
        try:
            for step in steps:
                contender = step.contender
                if step.message:
                    yield TrialProgress(self.trial_id, done, self.total, None,
                                        message=f"{contender.label}: {step.message}",
                                        contender=contender.label)
                if step.cell is not None:
                    done += 1
                    ran += 1
                    elapsed = time.perf_counter() - started
                    eta = elapsed / ran * (self.total - done)
                    yield TrialProgress(self.trial_id, done, self.total, eta, step.cell,
                                        contender=contender.label)
                if not step.boundary:
                    continue
                settled = self._settled(contender)  # a batch's end: where the rule is read
                if settled:
                    skip.add(contender.id)
                    self.total -= sum(1 for c, _i, _r in plan[step.position + 1:]
                                      if c.id == contender.id)
                    yield TrialProgress(self.trial_id, done, self.total, None,
                                        message=f"{contender.label} {settled}",
                                        contender=contender.label)
            if self._complete:
                yield from self._judge()
                status = "cancelled" if self._stop.is_set() else "done"
        except WorkbenchError:
            status = "error"
            raise
        finally:
            store.set_trial_status(self.db, self.trial_id, status)

    def _sequential(self, plan: list[tuple[Contender, int, int]], skip: set[int]
                    ) -> Iterator[Step]:
        """One cell after another (``batch=1``): the stop rule is read after every cell."""
        self._complete = False
        for position, (contender, index, repeat) in enumerate(plan):
            if self._stop.is_set():
                return
            if contender.id in skip:
                continue
            cell = self._run_cell(contender, index, repeat)
            if cell is None:  # stopped in the middle: not a result, not saved
                return
            yield Step(contender, position, cell, boundary=True)
        self._complete = True

    def _judge(self) -> Iterator[TrialProgress]:
        """After every contender's cells: the judge checks, graded in one pass (see
        :mod:`workbench.trials.judge`), so each judge model loads once per trial."""
        def hold(reply: Reply | None) -> None:
            self._reply = reply

        for graded, total in judge.judge_trial(self.db, self.engine, self.trial_id,
                                               self._stop, hold):
            yield TrialProgress(self.trial_id, self.total, self.total, None,
                                message=f"judging {graded}/{total}")

    def cell_seed(self, contender: Contender, repeat: int) -> int:
        """A cell's seed: the contender's (or else the trial's) for the repeat."""
        base = contender.sampling.seed
        return repeat_seed(base if base is not None else int(self.trial["seed"]), repeat)

    def _run_cell(self, contender: Contender, index: int, repeat: int) -> dict[str, Any] | None:
        prompt = self.suite.prompts[index]
        assert prompt.id is not None
        messages = build_messages(prompt.prompt, prompt.system or contender.system_prompt)
        error: str | None = None
        sampling = replace(contender.sampling, seed=self.cell_seed(contender, repeat))
        # A rerun must give the same replies, and the template and system prompt they share
        # should be paid for once: keep_prefix evaluates that start as a batch of its own and
        # keeps it, so every cell splits its prompt the same way (see Engine.reply).
        reply = self.engine.reply(contender.model_path, messages, load=contender.load,
                                  sampling=sampling, fresh=True, keep_prefix=True)
        self._reply = reply
        try:
            if self._stop.is_set():
                return None
            for _piece in reply:
                pass
        except WorkbenchError as failure:  # one bad cell (context overflow) is a result
            error = str(failure)
        finally:
            self._reply = None
        if reply.stopped:
            return None
        stats = reply.stats
        passed, results = run_checks(prompt.checks, reply.text, stats.completion_tokens,
                                     stats.total_ms, prompt=prompt.prompt, cut=reply.note)
        if error:
            passed = False if prompt.checks else None
        check_dicts = [r.to_dict() for r in results]
        store.save_cell(self.db, self.trial_id, prompt.id, contender.id, repeat, reply.text,
                        stats, passed, check_dicts, "error" if error else "done", error,
                        seed=sampling.seed)
        return {"prompt_id": prompt.id, "prompt_index": index, "contender_id": contender.id,
                "repeat": repeat, "seed": sampling.seed, "content": reply.text, "passed": passed,
                "error": error,
                "gen_tps": stats.gen_tps, "ttft_ms": stats.ttft_ms, "cold": stats.load_ms
                is not None}
