"""``quant-compare``: several files of one model, scored against a reference on the same text.

The job is an iterable with ``stop()`` (what the window's task manager runs): iterating
yields :class:`QuantProgress` after every window and ends with :attr:`QuantComparison.result`
set. A stop is checked between windows. The models run one after another in one engine
process (:class:`~workbench.engine.Engine`), so an abort or a fault in llama.cpp ends that
process with a one-line :class:`~workbench.errors.EngineCrashed`, never the caller.

The text is cut into windows of ``ctx`` tokens, the second half of each scored (as
llama-perplexity does). The reference's record of each window is kept on disk in the data
folder, keyed by the reference's sha256, the text's hash, ``ctx`` and the llama.cpp version,
so comparing more quantizations later runs the reference again only when one of those
changed. Only :data:`CACHE_KEEP` records are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.process import STOP_GRACE_S
from workbench.errors import EngineCrashed, InvalidInputError, WorkbenchError
from workbench.quant.inputs import (
    DEFAULT_CTX,
    MAX_CTX,
    MAX_TEXT_BYTES,
    MIN_CTX,
    SAMPLE_NAME,
    QuantFile,
    VocabularyMismatch,
    check_ctx,
    check_vocabularies,
    file_from_model,
    file_from_path,
    read_text,
    sample_text,
    sha256_of,
)
from workbench.quant.logits import FULL_LIMIT, choose_mode, describe_mode, kl_exact, summarize
from workbench.quant.results import LOWER_BOUND_MARK, QuantProgress, QuantResult, QuantRow
from workbench.streams import EventStream
from workbench.trials.stats import wilson

__all__ = ["DEFAULT_CTX", "MAX_CTX", "MAX_TEXT_BYTES", "MIN_CTX", "SAMPLE_NAME",
           "QuantComparison", "QuantFile", "QuantProgress", "QuantResult", "QuantRow",
           "VocabularyMismatch", "file_from_model", "file_from_path", "read_text", "run",
           "sample_text"]

#: At most this many windows are scored (about 16k positions at the default ``ctx``).
MAX_WINDOWS = 64
MAX_MODELS = 16
CACHE_DIR = "quant-cache"
CACHE_KEEP = 8
CACHE_VERSION = 1
#: A partial record this old belongs to a run that was killed (a live one writes often).
PARTIAL_STALE_S = 6 * 3600


class QuantComparison(EventStream[QuantProgress]):
    """Iterate to run; ``stop()`` from any thread; ``result`` once iteration has ended."""

    def __init__(self, data_dir: Path, reference: QuantFile, models: list[QuantFile],
                 text: str, text_name: str, *, ctx: int = DEFAULT_CTX,
                 n_threads: int | None = None, gpu_layers: int | str = "auto",
                 full_limit: int = FULL_LIMIT) -> None:
        if not models:
            raise InvalidInputError("quant-compare: name at least one model to compare")
        if len(models) > MAX_MODELS:
            raise InvalidInputError(f"quant-compare: {len(models)} models; at most "
                                    f"{MAX_MODELS} at a time")
        self.cache_root = data_dir / CACHE_DIR
        self.reference = reference
        self.models = models
        self.text = text
        self.text_name = text_name
        self.ctx = check_ctx(ctx)
        self.n_threads = n_threads
        self.gpu_layers = gpu_layers
        self.full_limit = full_limit
        self.result: QuantResult | None = None
        self._stop = threading.Event()
        self._scoring = threading.Event()
        self._cache = self.cache_root
        self._bos = -1
        self._engine: Any = None

    def stop(self) -> None:
        """Stop between windows; a window still running after :data:`STOP_GRACE_S` (a large
        model on a CPU can take a minute over one) ends its engine process instead."""
        if self._stop.is_set():
            return
        self._stop.set()
        timer = threading.Timer(STOP_GRACE_S, self._end_engine)
        timer.daemon = True
        timer.start()

    def _end_engine(self) -> None:
        worker = getattr(self._engine, "_worker", None) if self._engine is not None else None
        if worker is not None and self._scoring.is_set() and worker.alive:
            worker.end("quant-compare stopped during a window")

    def _score(self, loaded: Any, args: tuple[Any, ...]) -> Any:
        """One window in the engine process; None when a stop ended that process."""
        self._scoring.set()
        try:
            # by its entry point: the engine runs it without importing quant (a layer above)
            return loaded.worker.request(("call", "workbench.quant.window:score_window", args))
        except EngineCrashed:
            if self._stop.is_set():
                return None
            raise
        finally:
            self._scoring.clear()

    @property
    def worker_pid(self) -> int | None:
        """The engine process evaluating now (tests end it to show the caller survives)."""
        return self._engine.worker_pid if self._engine is not None else None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def __iter__(self) -> Iterator[QuantProgress]:
        from workbench.engine import Engine, LoadSettings

        started = time.perf_counter()
        n_vocab = check_vocabularies([self.reference, *self.models])
        load = LoadSettings(n_ctx=self.ctx, n_batch=self.ctx, n_threads=self.n_threads,
                            gpu_layers=self.gpu_layers)
        engine = self._engine = Engine()
        try:
            key = self._cache_key(sha256_of(self.reference))
            cache = self._cache = self.cache_root / key
            meta = _read_meta(cache)
            cached = meta is not None
            if meta is None:
                loaded = engine.load(self.reference.path, load)
                tokens = self._tokenize(loaded)
                windows = self._windows(tokens)
                positions = len(windows) * (self.ctx - 1 - self.ctx // 2)
                mode = choose_mode(n_vocab, positions, self.full_limit)
                total = len(windows) * (1 + len(self.models))
                meta = yield from self._run_reference(loaded, windows, mode, cache, total,
                                                      len(tokens))
                if meta is None:
                    return  # stopped
            else:
                with contextlib.suppress(OSError):
                    os.utime(cache)  # most recently used: kept longest
            windows = [list(map(int, w)) for w in np.load(cache / "windows.npy")]
            total = len(windows) * (1 + len(self.models)) if not cached else \
                len(windows) * len(self.models)
            done = 0 if cached else len(windows)
            ref_row = self._reference_row(meta)
            rows = []
            for item in self.models:
                loaded = engine.load(item.path, load)
                per_window: list[dict[str, Any]] = []
                for index, window in enumerate(windows):
                    if self._stop.is_set():
                        return
                    answer = self._score(loaded, (window, self.ctx // 2, meta["mode"],
                                                  str(cache / f"w{index:04d}.npz"), None))
                    if answer is None:
                        return
                    per_window.append(answer)
                    done += 1
                    yield QuantProgress("model", item.label, done, total)
                rows.append(self._row(item, per_window, ref_row, kl_exact(meta["mode"])))
            self.result = QuantResult(
                ref_row, rows, meta["mode"], self.ctx, len(windows), ref_row.positions,
                self.text_name, int(meta["text_tokens"]), cached,
                time.perf_counter() - started, self._notes(meta["mode"]))
        finally:
            engine.unload()

    # --- the reference ---------------------------------------------------------------------

    def _tokenize(self, loaded: Any) -> list[int]:
        tokens = loaded.tokenize(self.text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) < self.ctx:
            raise InvalidInputError(
                f"text {self.text_name}: {len(tokens):,} tokens, shorter than one window of "
                f"{self.ctx}; give a longer text or a smaller --ctx (at least {MIN_CTX})")
        self._bos = int(loaded.info["token_bos"])
        return tokens

    def _windows(self, tokens: list[int]) -> list[list[int]]:
        count = min(len(tokens) // self.ctx, MAX_WINDOWS)
        windows = []
        for index in range(count):
            window = tokens[index * self.ctx:(index + 1) * self.ctx]
            if self._bos >= 0:  # as llama-perplexity: each window starts at BOS
                window[0] = self._bos
            windows.append(window)
        return windows

    def _run_reference(self, loaded: Any, windows: list[list[int]], mode: str, cache: Path,
                       total: int, text_tokens: int
                       ) -> Generator[QuantProgress, None, dict[str, Any] | None]:
        """Score the reference, write its records to a partial folder, then move it into
        place; returns the cache's metadata, or None when stopped."""
        self.cache_root.mkdir(parents=True, exist_ok=True)
        partial = self.cache_root / f"{cache.name}.partial-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        try:
            nll, seconds = [], 0.0
            for index, window in enumerate(windows):
                if self._stop.is_set():
                    return None
                answer = self._score(loaded, (window, self.ctx // 2, mode, None,
                                              str(partial / f"w{index:04d}.npz")))
                if answer is None:
                    return None
                nll.append(answer["nll"])
                seconds += answer["seconds"]
                yield QuantProgress("reference", self.reference.label, index + 1, total)
            np.save(partial / "windows.npy", np.asarray(windows, dtype=np.int32))
            np.save(partial / "nll.npy", np.concatenate(nll))
            meta = {"version": CACHE_VERSION, "mode": mode, "ctx": self.ctx,
                    "windows": len(windows), "text_tokens": text_tokens,
                    "tokens_per_s": len(windows) * self.ctx / seconds if seconds else None}
            (partial / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            shutil.rmtree(cache, ignore_errors=True)
            partial.rename(cache)
            self._prune()
            return meta
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _cache_key(self, reference_sha256: str) -> str:
        import llama_cpp

        text_sha = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        parts = [str(CACHE_VERSION), reference_sha256, text_sha, str(self.ctx),
                 str(getattr(llama_cpp, "__version__", "")), str(self.full_limit)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    def _prune(self) -> None:
        """Keep the most recently used records; drop partial ones a killed run left."""
        entries = [p for p in self.cache_root.iterdir() if p.is_dir() and "." not in p.name]
        entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        stale = [p for p in self.cache_root.glob("*.partial-*")
                 if time.time() - p.stat().st_mtime > PARTIAL_STALE_S]
        for old in entries[CACHE_KEEP:] + stale:
            shutil.rmtree(old, ignore_errors=True)

    # --- the numbers -----------------------------------------------------------------------

    def _reference_row(self, meta: dict[str, Any]) -> QuantRow:
        nll = np.load(self._cache / "nll.npy")
        n = len(nll)
        item = self.reference
        return QuantRow(item.label, str(item.path), item.file_size, item.quantization, True,
                        0.0, 0.0, 0.0, n, n, float(np.exp(nll.mean())), 1.0,
                        meta.get("tokens_per_s"), 1.0, 1.0)

    def _row(self, item: QuantFile, windows: list[dict[str, Any]], ref: QuantRow,
             exact: bool) -> QuantRow:
        kl = np.concatenate([w["kl"] for w in windows])
        agree = np.concatenate([w["agree"] for w in windows])
        nll = np.concatenate([w["nll"] for w in windows])
        seconds = sum(w["seconds"] for w in windows)
        numbers = summarize(kl, agree, nll)
        low, high = wilson(numbers["agree"], numbers["positions"])
        return QuantRow(item.label, str(item.path), item.file_size, item.quantization, False,
                        numbers["kl_mean"], numbers["kl_p99"], numbers["kl_max"],
                        int(numbers["agree"]), int(numbers["positions"]), numbers["perplexity"],
                        numbers["perplexity"] / ref.perplexity,
                        len(windows) * self.ctx / seconds if seconds else None, low, high,
                        exact)

    def _notes(self, mode: str) -> list[str]:
        notes = [f"reference kept as {describe_mode(mode)}",
                 "the agreement interval treats positions as independent; neighbouring "
                 "tokens are not, so it is narrower than the truth"]
        if not kl_exact(mode):
            notes.append(f"{LOWER_BOUND_MARK} marks a KL figure that is a lower bound of the "
                         "exact one")
        return notes


def _read_meta(cache: Path) -> dict[str, Any] | None:
    try:
        meta: dict[str, Any] = json.loads((cache / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("version") != CACHE_VERSION:
        return None
    return meta


def run(job: QuantComparison) -> QuantResult:
    """Run the job to its end (the CLI); a stop leaves it without a result."""
    for _ in job:
        pass
    if job.result is None:
        raise WorkbenchError("quant-compare: stopped before it finished")
    return job.result
