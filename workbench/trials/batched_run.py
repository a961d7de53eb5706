"""A trial's cells decoded in batches: a contender's prompts and repeats as the sequences of one
llama.cpp context (:mod:`workbench.engine.batched`), a batch at a time.

A batch is a run of one contender's cells in the trial's (shuffled) order, as wide as the
width asked for (``trial run --batch N``; None: :func:`~workbench.engine.batched.auto_width`),
cut to whole prompts so each batch ends with every repeat of its prompts done. Early stopping
reads its rule as each cell finishes, on the longest finished prefix of the trial's prompt
order (:meth:`~workbench.trials.runner.TrialRun._settled` says why only prefixes count and
what happens to the cells past one); once the contender is settled its batch is stopped at
once (the cells still running are not finished, those that come after are not kept) and its
later batches are skipped. A cancel in the middle of a batch keeps every cell that had finished
(the engine sends each one as it ends).

Each cell's reply is recorded with the layout it ran in (``batch_width``, ``batch_position``
in its settings), because a batched reply can differ from the sequential one in the last bits
of its logits (see :mod:`workbench.engine.batched`); the same trial run again with the same
width gives the same replies. Contenders with tools run one cell at a time, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from workbench.engine.batched import MAX_WIDTH, BatchCell, CellResult, auto_width
from workbench.engine.settings import json_cut_note
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.trials import store
from workbench.trials.checks import run_checks
from workbench.trials.compare import build_messages
from workbench.trials.contenders import Contender

#: The :class:`~workbench.trials.runner.TrialRun` these steps serve (not imported: the runner
#: imports this module).
TrialRun = Any


@dataclass
class Step:
    """What the runner hears from its cells: a finished cell (its summary), a line to show,
    and whether the stop rule is read after it (``position``: the plan index of the last
    cell it covers). A contender the runner adds to the ``skip`` set it shares with the steps
    is settled: its batch stops and its other cells are not run."""

    contender: Contender
    position: int
    cell: dict[str, Any] | None = None
    boundary: bool = False
    message: str = ""


def check_batch(batch: int | None) -> int | None:
    """``batch`` if it is a usable width (None: automatic), else one line."""
    if batch is None:
        return None
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_WIDTH:
        raise InvalidInputError(f"batch {batch!r}: must be a whole number from 1 to "
                                f"{MAX_WIDTH} (1 runs one cell at a time)")
    return batch


def save_cell(run: TrialRun, contender: Contender, index: int, repeat: int, seed: int,
              result: CellResult) -> dict[str, Any]:
    """Check and store one finished cell, and the summary the progress event carries."""
    prompt = run.suite.prompts[index]
    assert prompt.id is not None
    stats, text = result.stats, result.text
    note = json_cut_note(stats.finish_reason, contender.sampling.json_schema, text)
    passed, results = run_checks(prompt.checks, text, stats.completion_tokens, stats.total_ms,
                                 prompt=prompt.prompt, cut=note)
    if result.error:
        passed = False if prompt.checks else None
    store.save_cell(run.db, run.trial_id, prompt.id, contender.id, repeat, text, stats,
                    passed, [r.to_dict() for r in results],
                    "error" if result.error else "done", result.error, seed=seed)
    return {"prompt_id": prompt.id, "prompt_index": index, "contender_id": contender.id,
            "repeat": repeat, "seed": seed, "content": text, "passed": passed,
            "error": result.error, "gen_tps": stats.gen_tps, "ttft_ms": stats.ttft_ms,
            "cold": stats.load_ms is not None,
            "batch_width": stats.settings.get("batch_width")}


def _waves(plan: list[tuple[Contender, int, int]], width: int, repeats: int,
           batchable: Callable[[Contender, int, int], bool] = lambda *_cell: True,
           ) -> Iterator[list[int]]:
    """Plan indexes in runs of one contender, at most ``width`` long (whole prompts when
    the width holds at least one prompt's repeats), ending before a cell that is not
    ``batchable``."""
    size = max(repeats, width - width % repeats) if width >= repeats else width
    wave: list[int] = []
    for position, (contender, index, repeat) in enumerate(plan):
        if wave and (len(wave) >= size or plan[wave[0]][0].id != contender.id
                     or not batchable(contender, index, repeat)):
            yield wave
            wave = []
        wave.append(position)
    if wave:
        yield wave


def batched_steps(run: TrialRun, plan: list[tuple[Contender, int, int]], skip: set[int]
                  ) -> Iterator[Step]:
    """The trial's cells a batch at a time; sets ``run._complete`` when every batch ran."""
    run._complete = False
    repeats = int(run.trial["repeats"])
    widths: dict[int, int] = {}  # per contender: the width in use (cut once, kept cut)
    told: set[int] = set()
    position = 0
    while position < len(plan):
        if run._stop.is_set():
            return
        contender = plan[position][0]
        if contender.id in skip:
            position += 1
            continue
        if not run.batchable(*plan[position]):  # tools, documents, images, a remote model
            cell = run._run_cell(*plan[position])
            if cell is None:
                return
            yield Step(contender, position, cell, boundary=True)
            position += 1
            continue
        if contender.id not in widths:
            loaded = run.engine.load(contender.model_path, contender.load)
            widths[contender.id] = run.batch or auto_width(loaded.gpu_layers)
        width = widths[contender.id]
        wave = next(_waves(plan[position:], width, repeats, run.batchable))
        members = [plan[position + k] for k in wave]
        seeds = [run.cell_seed(c, r) for c, _i, r in members]
        cells = [BatchCell(build_messages(run.suite.prompts[i].prompt,
                                          run.suite.prompts[i].system or c.system_prompt),
                           replace(c.sampling, seed=seed))
                 for (c, i, _r), seed in zip(members, seeds, strict=True)]
        batch = run.engine.reply_batch(contender.model_path, cells, width=width,
                                       load=contender.load)
        run._reply = batch
        try:
            for result in batch:
                if contender.id in skip:  # settled: what was still on its way is not kept
                    continue
                if batch.message and contender.id not in told:
                    told.add(contender.id)
                    widths[contender.id] = batch.width
                    yield Step(contender, position, message=batch.message)
                _c, index, repeat = members[result.index]
                cell = save_cell(run, contender, index, repeat, seeds[result.index], result)
                yield Step(contender, position + result.index, cell, boundary=True)
                if contender.id in skip:  # the runner found it settled: stop the rest now
                    batch.stop()
        except WorkbenchError as failure:
            if run._stop.is_set():
                return
            raise WorkbenchError(f"{contender.label}: {failure}") from failure
        finally:
            run._reply = None
        if run._stop.is_set() or (batch.stopped and contender.id not in skip):
            return
        position += len(wave)
    run._complete = True
