"""Compare 2 to 4 contenders on one prompt, stored as it runs, with blind votes.

By default contenders run one after another on the shared :class:`Engine`, ordered so a
model already in memory goes first and contenders sharing a model and load settings run
back to back: no model is loaded twice in a row. Running together (each contender on its
own engine worker and engine process, the cores split between them: :mod:`.together`) is
allowed only when :func:`can_run_together` says they fit, by the one memory model (fit.py).

The column order shown to the user (``display_order``) is separate from the run order; in
blind mode it is shuffled and names stay hidden until a vote is cast.

A contender with ``docs`` answers from those collections as a trial cell does: the passages
are retrieved once per (collections, k) before anything is stored (an unknown collection is
one line), fitted into the prompt by :func:`workbench.documents.grounding.ground` for that
contender's model, and the passages given and the numbers cited are stored with its reply
(``grounding``) and sent with its ``done`` event.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench.documents.grounding import Grounding, ground, retrieve
from workbench.documents.search import Passage
from workbench.engine import Engine, Message, Reply, ReplyStats
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.images import kept_pictures
from workbench.streams import EventStream
from workbench.trials import store
from workbench.trials.contenders import Contender
from workbench.trials.doc_cells import DEFAULT_K, finish_record
from workbench.trials.image_prompts import check_contenders_see, with_pictures
from workbench.trials.together import EngineWorkers, threads_each

LETTERS = "ABCD"


def can_run_together(contenders: list[Contender]) -> tuple[bool, str]:
    """Whether all contenders fit in memory at once, and the figures behind the answer.

    The same memory model (:mod:`workbench.fit`) that judges a download: each contender's
    weights, KV cache and compute buffer from its file's header at its context length,
    judged against this machine now. A remote contender takes no memory here."""
    from workbench import fit, hardware
    from workbench.engine.endpoint_http import is_remote

    parts = [(c.model_path, fit.estimate_for_file(
        c.model_path, c.load.n_ctx, file_size=c.file_size or None)) for c in contenders
        if not is_remote(c.model_path)]
    verdict = fit.judge(fit.estimate_together(parts), hardware.detect())
    return verdict.fits, f"together: {verdict.summary()}"
OUTCOMES = ("tie", "bad")


@dataclass
class CompareEvent:
    """One step of a comparison: ``start``, ``chunk``, ``done`` or ``error`` for a column."""

    kind: str
    slot: int
    text: str = ""
    stats: ReplyStats | None = None
    error: str | None = None
    #: ``done`` of a contender answering from documents: the passages it was given
    #: (``passages``, numbered as in its prompt), the numbers it cited (``cited``), ``note``.
    grounding: dict[str, Any] | None = None


def build_messages(prompt: str, system: str | None) -> list[Message]:
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    return messages


def run_order(contenders: list[Contender], engine: Engine) -> list[Contender]:
    """The loaded model first, then contenders grouped by (file, load settings)."""
    loaded = engine.loaded

    def key(c: Contender) -> tuple[str, str]:
        return c.model_path, repr(c.load)

    groups: dict[tuple[str, str], list[Contender]] = {}
    for contender in contenders:
        groups.setdefault(key(contender), []).append(contender)
    ordered = list(groups.values())
    if loaded is not None:
        ordered.sort(key=lambda g: not (str(loaded.path) == str(g[0].model_path)
                                        and loaded.settings == g[0].load))
    return [c for group in ordered for c in group]


Docs = tuple[tuple[str, ...], int]  # collections, k


def docs_of(contender: Contender) -> Docs | None:
    """The collections and k a contender answers from; None: the prompt alone."""
    docs = contender.settings.get("docs")
    if not docs:
        return None
    return tuple(docs), int(contender.settings.get("k") or DEFAULT_K)


def retrieve_for(db: Database, engine: Engine, contenders: list[Contender], prompt: str
                 ) -> dict[Docs, list[Passage]]:
    """The passages for ``prompt`` from each (collections, k) the contenders name, each
    retrieved once (an embedding model, when one is needed, runs for this call only)."""
    from workbench.documents.embedder import Embedder

    wanted = list(dict.fromkeys(w for w in map(docs_of, contenders) if w is not None))
    if not wanted:
        return {}
    with Embedder(share=engine) as embedder:
        return {where: retrieve(db, list(where[0]), prompt, where[1], embedder)
                for where in wanted}


def grounding_record(where: Docs, grounding: Grounding) -> dict[str, Any]:
    return {"docs": list(where[0]), "k": where[1], "passages": grounding.citations(),
            "note": grounding.note, "cited": []}


def sources_text(grounding: dict[str, Any] | None) -> str | None:
    """A column's passages in one line, as the CLI and the Compare page show them: each by
    its number and place, those its answer cited marked, and what was cut; None for a
    contender without documents."""
    if not grounding:
        return None
    cited = set(grounding.get("cited") or [])
    parts = [f"[{p['number']}] {Path(p['path']).name}{_place(p)}"
             + (" (cited)" if p["number"] in cited else "")
             for p in grounding.get("passages") or []]
    line = f"Sources from {', '.join(grounding['docs'])}: " + ("; ".join(parts) or "none found")
    return f"{line} ({grounding['note']})" if grounding.get("note") else line


def _place(passage: dict[str, Any]) -> str:
    if passage.get("page") is not None:
        return f" p. {passage['page']}"
    return f" ({passage['section']})" if passage.get("section") else ""


class CompareRun(EventStream[CompareEvent]):
    """Iterate for :class:`CompareEvent`; ``stop()`` ends the current reply and the rest."""

    def __init__(self, db: Database, engine: Engine, contenders: list[Contender], prompt: str,
                 *, system: str | None = None, blind: bool = True, together: bool = False,
                 seed_rng: Any = None, images: list[str] | None = None) -> None:
        """``images``: the sha256s of pictures kept in the data folder, sent with the prompt
        (:mod:`.image_prompts`; a contender that cannot see is refused here)."""
        if not 2 <= len(contenders) <= 4:
            raise InvalidInputError("compare: choose 2 to 4 contenders")
        if len({c.id for c in contenders}) < len(contenders):
            raise InvalidInputError("compare: the same model with the same settings twice; "
                                    "change a setting (--set) to make a second contender")
        if not prompt.strip():
            raise InvalidInputError("compare: the prompt is empty")
        check_contenders_see(contenders, "the prompt carries images" if images else "")
        #: The prompt's pictures, decoded once (columns running together share them).
        self.pictures = kept_pictures(db, images or [])
        if together:
            fits, reason = can_run_together(contenders)
            if not fits:
                raise InvalidInputError(f"compare: cannot run together, {reason}")
        self.passages = retrieve_for(db, engine, contenders, prompt)
        self.db = db
        self.engine = engine
        self.prompt = prompt
        self.system = system
        self.together = together
        self.comparison_id = store.create_comparison(
            db, prompt, system, blind, [c.id for c in contenders], seed_rng)
        if images:
            db.table("comparisons").update(self.comparison_id, {"images": json.dumps(images)})
        order = store.get_comparison_row(db, self.comparison_id)["display_order"]
        by_id = {c.id: c for c in contenders}
        #: contenders in column order (what the user sees)
        self.columns: list[Contender] = [by_id[i] for i in order]
        self._stop = threading.Event()
        self._replies: list[Reply] = []
        self._db_lock = threading.Lock()
        #: The engine workers of a run together, while it runs (tests check they are closed).
        self._workers: EngineWorkers[CompareEvent] | None = None

        self._grounding: dict[int, dict[str, Any]] = {}  # by slot, once grounded

    def stop(self) -> None:
        self._stop.set()
        for reply in list(self._replies):
            reply.stop()

    def __iter__(self) -> Iterator[CompareEvent]:
        status = "done"
        events = self._together() if self.together else self._one_by_one()
        try:
            for event in events:
                if event.kind == "error":
                    status = "error"
                yield event
        except (GeneratorExit, KeyboardInterrupt):
            self.stop()
            status = "stopped"
            raise
        finally:
            # Closed now, not when collected: a run together joins its workers and ends
            # their engine processes here, whatever ended the iteration.
            events.close()
            if self._stop.is_set() and status == "done":
                status = "stopped"
            store.set_comparison_status(self.db, self.comparison_id, status)

    def _reply(self, engine: Engine, contender: Contender) -> Reply:
        system = self.system or contender.system_prompt
        load = contender.load
        if self.together and load.n_threads is None:
            # Columns running at once share the cores: each taking all of them would make
            # llama.cpp's thread pools fight (see Engine) and every column crawl.
            load = replace(load, n_threads=threads_each(len(self.columns)))
        messages = with_pictures(build_messages(self.prompt, system), self.pictures)
        where = docs_of(contender)
        if where is not None:
            messages, grounding = ground(engine, contender.model_path, messages,
                                         self.passages[where], load, contender.sampling)
            self._grounding[self.columns.index(contender)] = grounding_record(where, grounding)
        return engine.reply(contender.model_path, messages, load=load,
                            sampling=contender.sampling, fresh=True)

    def _save(self, slot: int, reply: Reply | None, status: str, error: str | None = None,
              ) -> None:
        with self._db_lock:  # columns running together share one connection
            store.save_comparison_reply(
                self.db, self.comparison_id, self.columns[slot].id, slot,
                reply.text if reply else "", reply.stats if reply else ReplyStats(), status,
                error, finish_record(self._grounding.get(slot), reply.text if reply else ""))

    def _column(self, engine: Engine, slot: int) -> Iterator[CompareEvent]:
        """Stream one column and save its reply, whatever the outcome."""
        if self._stop.is_set():
            return
        yield CompareEvent("start", slot)
        reply: Reply | None = None
        try:
            reply = self._reply(engine, self.columns[slot])
            self._replies.append(reply)
            if self._stop.is_set():
                reply.stop()
            for piece in reply:
                yield CompareEvent("chunk", slot, piece)
        except WorkbenchError as error:
            self._save(slot, reply, "error", str(error))
            yield CompareEvent("error", slot, error=str(error))
            return
        self._save(slot, reply, "stopped" if reply.stopped else "done")
        yield CompareEvent("done", slot, reply.text, reply.stats,
                           grounding=self._grounding.get(slot))

    def _one_by_one(self) -> Generator[CompareEvent, None, None]:
        slot_of = {c.id: i for i, c in enumerate(self.columns)}
        for contender in run_order(self.columns, self.engine):
            yield from self._column(self.engine, slot_of[contender.id])
            if self._stop.is_set():
                break

    def _together(self) -> Generator[CompareEvent, None, None]:
        """Each column on its own engine worker (its own engine process), the cores split
        between them; the workers are joined and their processes ended however this ends."""

        def job(slot: int) -> Callable[[Engine], Iterator[CompareEvent]]:
            def column(engine: Engine) -> Iterator[CompareEvent]:
                try:
                    yield from self._column(engine, slot)
                except Exception as error:  # one column failing is that column's error
                    yield CompareEvent("error", slot, error=f"Unexpected error: {error}")
            return column

        workers: EngineWorkers[CompareEvent] = EngineWorkers(
            len(self.columns), on_stop=self.stop, name="compare-together")
        self._workers = workers
        yield from workers.run([job(slot) for slot in range(len(self.columns))])
