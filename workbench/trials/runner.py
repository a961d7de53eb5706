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
from typing import Any, cast

from sqlite_utils import Database

from workbench.documents.embedder import Embedder
from workbench.endpoints import check_online
from workbench.engine import Engine, Reply, ReplyStats, SamplingSettings
from workbench.engine.endpoint_http import Target, is_remote
from workbench.engine.remote_batch import RemoteBatch
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.streams import EventStream
from workbench.trials import judge, store
from workbench.trials.batched_run import Step, batched_steps, check_batch
from workbench.trials.checks import run_checks
from workbench.trials.compare import build_messages, run_order
from workbench.trials.contenders import Contender, get_contender
from workbench.trials.doc_cells import cell_docs, finish_record, ground_cell
from workbench.trials.image_prompts import check_contenders_see, suite_carries, with_images
from workbench.trials.recommend import Bar
from workbench.trials.sequential import MEETS, stop_text, stop_verdict
from workbench.trials.side_by_side import Lanes, decide
from workbench.trials.suites import Suite, get_suite
from workbench.trials.tool_prompts import Stopped, check_choice_fits, run_tool_cell


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
    for contender in contenders:  # a named tool must be one every tool prompt offers
        for number, prompt in enumerate(suite.prompts, 1):
            check_choice_fits(contender.settings.get("tool_choice"), prompt.tools,
                              f"{contender.label}, prompt {number}")
    check_contenders_see(contenders, suite_carries(suite.prompts))
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
              stop_early: bool = True, together: bool | None = False,
              batch: int | None = None) -> TrialRun:
        """The run for the user's bar, as the CLI and the window start it: a contender stops
        early once its pass rate settles the bar, and a settled "meets" stops it only when
        no vote or speed part of the bar still needs every reply. Cells are batched at the
        automatic width unless ``batch`` says otherwise."""
        return cls(db, engine, trial_id,
                   bar=bar.min_pass_rate if bar is not None else None, stop_early=stop_early,
                   settled_by_pass_rate=bar is None or (bar.min_vote_share is None
                                                        and bar.min_tps is None),
                   together=together, batch=batch)

    def __init__(self, db: Database, engine: Engine, trial_id: int,
                 bar: float | None = None, stop_early: bool = True,
                 settled_by_pass_rate: bool = True, together: bool | None = False,
                 batch: int | None = 1) -> None:
        """``bar``: the pass-rate bar (0-1) a contender may stop early at, when
        ``stop_early``; ``settled_by_pass_rate`` False (other parts of the bar still need
        every reply, such as votes) stops only on a failing pass rate. ``together``: two
        contenders side by side (True), one at a time (False) or as memory allows (None);
        see :mod:`.side_by_side`. ``batch``: how many of a contender's cells are decoded
        together (1: one after another; None: as many as memory and the machine suit, see
        :mod:`.batched_run`). Batching comes first: contenders go side by side when asked
        (``together`` True) or when their cells run one at a time."""
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
        for contender in self.contenders:  # a remote one, while offline: refused up front
            if is_remote(contender.model_path):
                check_online(db, Target.from_path(contender.model_path))
        self.total = len(self.suite.prompts) * len(self.contenders) * self.trial["repeats"]
        self._stop = threading.Event()
        self._reply: Reply | RemoteBatch | None = None
        #: One embedding model process for the whole run (prompts over collections with an
        #: embedding model), started on first use and ended with the run.
        self.embedder = Embedder(share=engine)
        self.together = together
        #: Side by side: the lanes running (copies of this run, see .side_by_side), and the
        #: note a lane adds to its cells' settings record.
        self._lanes: list[TrialRun] = []
        #: per contender id: how far into the prompt order its cells reached when the run
        #: began (see :meth:`_settled`)
        self._floors: dict[int, int] = {}
        self.side_by_side: dict[str, Any] | None = None

    def stop(self) -> None:
        """Cancel from any thread: the running replies end within a token and are not saved."""
        self._stop.set()
        for run in [self, *self._lanes]:
            reply = run._reply
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

    def _reach(self, contender: Contender) -> int:
        """How far into the prompt order the contender's stored cells go (0: none)."""
        ran = {c["prompt_id"] for c in store.trial_cells(self.db, self.trial_id)
               if c["contender_id"] == contender.id}
        order = [int(self.suite.prompts[i].id or 0) for i in self.prompt_order()]
        return max((n for n, prompt_id in enumerate(order, 1) if prompt_id in ran), default=0)

    def _settled(self, contender: Contender) -> tuple[str, int] | None:
        """After a cell: the stop sentence when the contender's pass rate is settled
        (recorded), and how many of its cells were dropped for it; else None.

        The rule is read only on *prefixes of the prompt order*, the order the trial's seed
        fixed before any reply was seen: a prompt counts once all its repeats are stored, and
        the walk ends at the first prompt that is not. Cells of a batch finish in any order
        (short replies first), so the longest finished prefix can grow by several prompts at
        once; the rule is read at each of them and the contender stops at the *first* prefix
        where it holds, the prompt a run one cell at a time stops after. Reading it at a time
        that depends on the replies is fine: the confidence sequence behind it is valid at
        every number of prompts at once. What must not depend on the replies is which prompts
        are counted, so the cells that finished past that prefix (out of order, or in the
        same batch after it) are dropped rather than counted: counting them would pick
        prompts by how soon their replies ended, which goes with whether they pass. So a
        stopped contender's cells are exactly its first N prompts, as one at a time, and the
        stop record, ``trial show --json`` and the verdict all read those N. ``trial resume
        --no-stop-early`` runs the dropped ones again (same seeds).

        The walk starts no earlier than where the contender's cells reached when this run
        began (:attr:`_floors`), so cells an earlier, cancelled run left past a gap are never
        dropped: the stop then comes at the first prefix, from there on, where it holds."""
        if self.bar is None:
            return None
        repeats = int(self.trial["repeats"])
        order = [int(self.suite.prompts[i].id or 0) for i in self.prompt_order()]
        mine: dict[int, list[dict[str, Any]]] = {}
        for cell in store.trial_cells(self.db, self.trial_id):
            if cell["contender_id"] == contender.id:
                mine.setdefault(int(cell["prompt_id"]), []).append(cell)
        floor, total = self._floors.get(contender.id, 0), len(order)
        passed, checked = 0.0, 0
        for after, prompt_id in enumerate(order, 1):
            cells = mine.get(prompt_id, [])
            if len(cells) < repeats or after >= total:
                return None
            verdicts = [int(c["passed"]) for c in cells if c["passed"] is not None]
            if verdicts:
                passed += sum(verdicts) / len(verdicts)
                checked += 1
            if after < floor:
                continue
            outcome = stop_verdict(passed, checked, self.bar, len(self.contenders))
            if outcome is None or (outcome == MEETS and not self.settled_by_pass_rate):
                continue
            past = [p for p in order[after:] if p in mine]
            store.drop_cells(self.db, self.trial_id, contender.id, past)
            text = stop_text(outcome, after, total, self.bar)
            store.save_stop(self.db, self.trial_id, contender.id, after, total, outcome,
                            self.bar, text)
            return text, sum(len(mine[p]) for p in past)
        return None

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
        self._floors = {c.id: self._reach(c) for c in self.contenders}
        skip: set[int] = set()
        left: dict[int, int] = {}  # cells planned and not yet run, per contender
        for contender, _index, _repeat in plan:
            left[contender.id] = left.get(contender.id, 0) + 1
        try:
            steps: Iterator[Step]
            side, why = (decide(self.db, list({c.id: c for c, _i, _r in plan}.values()),
                                self.together)
                         if self.together or self.batch == 1 else (False, ""))
            if side:
                lanes = Lanes(self, plan)
                lanes.skip = skip
                steps = self._lane_steps(lanes)
                yield TrialProgress(self.trial_id, done, self.total, None, message=why)
            elif self.batch == 1:
                steps = self._sequential(plan, skip)
            else:
                steps = batched_steps(self, plan, skip)
            for step in steps:
                contender = step.contender
                if step.message:
                    yield TrialProgress(self.trial_id, done, self.total, None,
                                        message=f"{contender.label}: {step.message}",
                                        contender=contender.label)
                if step.cell is not None:
                    done += 1
                    ran += 1
                    left[contender.id] -= 1
                    elapsed = time.perf_counter() - started
                    eta = elapsed / ran * (self.total - done)
                    yield TrialProgress(self.trial_id, done, self.total, eta, step.cell,
                                        contender=contender.label)
                if not step.boundary or contender.id in skip:
                    continue
                settled = self._settled(contender)  # after each cell, on the order's prefix
                if settled:
                    text, dropped = settled
                    skip.add(contender.id)  # a batch running for it stops at once
                    done -= dropped
                    self.total -= left[contender.id] + dropped
                    yield TrialProgress(self.trial_id, done, self.total, None,
                                        message=f"{contender.label} {text}",
                                        contender=contender.label)
            if self._complete:
                yield from self._judge()
                status = "cancelled" if self._stop.is_set() else "done"
        except WorkbenchError:
            status = "error"
            raise
        finally:
            self.embedder.close()
            store.set_trial_status(self.db, self.trial_id, status)

    def _lane_steps(self, lanes: Lanes) -> Iterator[Step]:
        """Two contenders side by side (:mod:`.side_by_side`): the stop rule is read after
        every cell, as one at a time."""
        self._complete = False
        for contender, cell in lanes:
            if cell is None:  # stopped in the middle: not a result, not saved
                return
            yield Step(contender, -1, cell, boundary=True)
        self._complete = not self._stop.is_set()

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

    def batchable(self, contender: Contender, index: int, _repeat: int = 0) -> bool:
        """Whether a cell may be decoded in a batch: a plain prompt on a local model. Tools
        (a loop), documents (grounded first), images and remote models run one at a time."""
        prompt = self.suite.prompts[index]
        return not (is_remote(contender.model_path) or prompt.tools or prompt.images
                    or cell_docs(self.suite, prompt, contender) is not None)

    def cell_seed(self, contender: Contender, repeat: int) -> int:
        """A cell's seed: the contender's (or else the trial's) for the repeat."""
        base = contender.sampling.seed
        return repeat_seed(base if base is not None else int(self.trial["seed"]), repeat)

    def _run_cell(self, contender: Contender, index: int, repeat: int) -> dict[str, Any] | None:
        prompt = self.suite.prompts[index]
        assert prompt.id is not None
        if prompt.tools:
            return self._run_tool_cell(contender, index, repeat)
        messages = with_images(self.db, build_messages(
            prompt.prompt, prompt.system or contender.system_prompt), prompt.images)
        error: str | None = None
        sampling = replace(contender.sampling, seed=self.cell_seed(contender, repeat))
        where = cell_docs(self.suite, prompt, contender)
        grounding = None
        if where is not None:  # answered from documents, grounded as chat is
            messages, grounding = ground_cell(self.db, self.engine, self.embedder, contender,
                                              prompt, messages, where, sampling)
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
        if self.side_by_side:  # the one difference in a cell run beside another contender
            stats.settings["side_by_side"] = self.side_by_side
        grounding = finish_record(grounding, reply.text)
        passed, results = run_checks(prompt.checks, reply.text, stats.completion_tokens,
                                     stats.total_ms, prompt=prompt.prompt, cut=reply.note,
                                     grounding=grounding, sources=prompt.sources)
        if error:
            passed = False if prompt.checks else None
        check_dicts = [r.to_dict() for r in results]
        store.save_cell(self.db, self.trial_id, prompt.id, contender.id, repeat, reply.text,
                        stats, passed, check_dicts, "error" if error else "done", error,
                        seed=sampling.seed, grounding=grounding)
        return {"prompt_id": prompt.id, "prompt_index": index, "contender_id": contender.id,
                "repeat": repeat, "seed": sampling.seed, "content": reply.text, "passed": passed,
                "error": error, "image_tokens": stats.image_tokens,
                "gen_tps": stats.gen_tps, "ttft_ms": stats.ttft_ms, "cold": stats.load_ms
                is not None}

    def _run_tool_cell(self, contender: Contender, index: int, repeat: int
                       ) -> dict[str, Any] | None:
        """A prompt that offers tools: one reply, or the canned loop to a final answer
        (:mod:`.tool_prompts`); the calls are recorded and the tool checks grade them."""
        prompt = self.suite.prompts[index]
        assert prompt.id is not None and prompt.tools is not None
        messages = build_messages(prompt.prompt, prompt.system or contender.system_prompt)
        sampling = replace(contender.sampling, seed=self.cell_seed(contender, repeat))
        last: list[Reply] = []  # the step running, for the error record

        def reply_for(conversation: list[dict[str, Any]], step: SamplingSettings) -> Reply:
            if self._stop.is_set():
                raise Stopped
            reply = self.engine.reply(contender.model_path, cast(Any, conversation),
                                      load=contender.load, sampling=step, fresh=True,
                                      keep_prefix=True)
            self._reply = reply
            last[:] = [reply]
            return reply

        try:
            made = run_tool_cell(reply_for, cast(Any, messages), sampling, prompt.tools,
                                 prompt.tool_results)
        except Stopped:
            return None
        except WorkbenchError as failure:  # one bad cell (context overflow) is a result
            reply = last[0] if last else None
            stats = reply.stats if reply is not None else ReplyStats()
            store.save_cell(self.db, self.trial_id, prompt.id, contender.id, repeat,
                            reply.text if reply is not None else "", stats,
                            False if prompt.checks else None, [], "error", str(failure),
                            seed=sampling.seed)
            return {"prompt_id": prompt.id, "prompt_index": index,
                    "contender_id": contender.id, "repeat": repeat, "seed": sampling.seed,
                    "content": "", "passed": False if prompt.checks else None,
                    "error": str(failure), "gen_tps": None, "ttft_ms": None, "cold": False}
        finally:
            self._reply = None
        if self._stop.is_set():
            return None
        stats = made.stats
        if self.side_by_side:
            stats.settings["side_by_side"] = self.side_by_side
        passed, results = run_checks(prompt.checks, made.answer, stats.completion_tokens,
                                     stats.total_ms, prompt=prompt.prompt, cut=made.note,
                                     calls=made.record["calls"])
        store.save_cell(self.db, self.trial_id, prompt.id, contender.id, repeat, made.content,
                        stats, passed, [r.to_dict() for r in results], seed=sampling.seed,
                        tool_calls=made.record)
        return {"prompt_id": prompt.id, "prompt_index": index, "contender_id": contender.id,
                "repeat": repeat, "seed": sampling.seed, "content": made.content,
                "passed": passed, "error": None, "tool_calls": made.record,
                "gen_tps": stats.gen_tps, "ttft_ms": stats.ttft_ms,
                "cold": stats.load_ms is not None}
