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
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import InvalidInputError, WorkbenchError
from workbench.gguf_header import read_header
from workbench.quant.logits import FULL_LIMIT, choose_mode, describe_mode, summarize
from workbench.trials.stats import wilson

TOKENS_KEY = "tokenizer.ggml.tokens"
#: The largest text accepted; far more than the windows below can score.
MAX_TEXT_BYTES = 2 << 20
#: At most this many windows are scored (about 16k positions at the default ``ctx``).
MAX_WINDOWS = 64
MAX_MODELS = 16
DEFAULT_CTX, MIN_CTX, MAX_CTX = 512, 32, 8192
CACHE_DIR = "quant-cache"
CACHE_KEEP = 8
CACHE_VERSION = 1
SAMPLE_NAME = "the shipped sample text"


class VocabularyMismatch(InvalidInputError):
    """Two files do not share a vocabulary, so their token distributions cannot be compared."""


@dataclass(frozen=True)
class QuantFile:
    """One file to evaluate: from the library (its stored sha256) or a path."""

    label: str
    path: Path
    file_size: int
    quantization: str
    sha256: str = ""
    model_id: int | None = None


@dataclass
class QuantProgress:
    stage: str  # "reference" or "model"
    label: str
    done: int  # windows scored so far, all files together
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def text(self) -> str:
        what = "reference" if self.stage == "reference" else "comparing"
        return f"{what} {self.label}: window {self.done} of {self.total}"


@dataclass
class QuantRow:
    """One file's numbers against the reference."""

    label: str
    path: str
    file_size: int
    quantization: str
    reference: bool
    kl_mean: float
    kl_p99: float
    kl_max: float
    agree: int
    positions: int
    perplexity: float
    perplexity_ratio: float
    tokens_per_s: float | None
    agree_low: float = 0.0
    agree_high: float = 1.0

    @property
    def agreement(self) -> float:
        return self.agree / self.positions if self.positions else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "agreement": self.agreement}


@dataclass
class QuantResult:
    reference: QuantRow
    rows: list[QuantRow]
    mode: str
    ctx: int
    windows: int
    positions: int
    text_name: str
    text_tokens: int
    reference_cached: bool
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def mode_text(self) -> str:
        return describe_mode(self.mode)

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference.to_dict(), "models": [r.to_dict() for r in self.rows],
                "kept": self.mode, "kept_text": self.mode_text, "ctx": self.ctx,
                "windows": self.windows, "positions": self.positions, "text": self.text_name,
                "text_tokens": self.text_tokens, "reference_cached": self.reference_cached,
                "seconds": round(self.seconds, 2), "notes": self.notes}

    def bar_rows(self) -> list[dict[str, Any]]:
        """Rows for :func:`workbench.trials.recommend.recommend` (the agreement part)."""
        return [{"label": r.label, "file_size": r.file_size, "agree": r.agree,
                 "positions": r.positions} for r in self.rows]


# --- inputs ----------------------------------------------------------------------------------


def file_from_path(path: str | Path) -> QuantFile:
    found = Path(path).expanduser().resolve()
    header = read_header(found)
    return QuantFile(found.name, found, found.stat().st_size, header.quantization)


def file_from_model(model: Any) -> QuantFile:
    """A library :class:`~workbench.library.Model`."""
    return QuantFile(model.name, Path(model.path), int(model.file_size or 0),
                     model.quantization, model.sha256, model.id)


def check_ctx(ctx: int) -> int:
    if isinstance(ctx, bool) or not isinstance(ctx, int) or not MIN_CTX <= ctx <= MAX_CTX:
        raise InvalidInputError(f"--ctx {ctx!r}: must be a whole number of tokens from "
                                f"{MIN_CTX} to {MAX_CTX}")
    return ctx


def sample_text() -> str:
    """Prose, code, a list, dialogue and numbers: what a user's texts mix."""
    return resources.files("workbench").joinpath("data", "quant_sample.txt").read_text(
        encoding="utf-8")


def read_text(path: str | Path | None) -> tuple[str, str]:
    """The text and its name; one line for a missing, huge, binary or empty file."""
    if path is None:
        return sample_text(), SAMPLE_NAME
    name = str(path)
    try:
        with Path(path).expanduser().open("rb") as stream:
            data = stream.read(MAX_TEXT_BYTES + 1)
    except OSError as error:
        raise InvalidInputError(f"text {name}: cannot read ({error.strerror or error})") \
            from None
    if len(data) > MAX_TEXT_BYTES:
        raise InvalidInputError(f"text {name}: larger than {MAX_TEXT_BYTES >> 20} MiB; "
                                "give a shorter text (a few hundred KB is plenty)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"text {name}: not valid UTF-8 text (byte "
                                f"0x{data[error.start]:02x} at offset {error.start:,})") \
            from None
    if not text.strip():
        raise InvalidInputError(f"text {name}: empty")
    return text, Path(name).name


def check_vocabularies(files: list[QuantFile]) -> int:
    """The vocabulary size all files share; else one line naming the two files that differ."""
    first = files[0]
    base = _vocabulary(first)
    for other in files[1:]:
        if other.path == first.path:
            continue
        tokens = _vocabulary(other)
        if tokens != base:
            raise VocabularyMismatch(
                f"{first.path.name} and {other.path.name} have different vocabularies "
                f"({_difference(base, tokens)}): their token distributions cannot be compared")
    return len(base)


def _vocabulary(item: QuantFile) -> list[str]:
    header = read_header(item.path, keep_arrays=[TOKENS_KEY])
    tokens = header.get(TOKENS_KEY)
    if not tokens:
        raise InvalidInputError(f"{item.path.name}: its header has no vocabulary "
                                f"({TOKENS_KEY})")
    return [str(t) for t in tokens]


def _difference(a: list[str], b: list[str]) -> str:
    if len(a) != len(b):
        return f"{len(a):,} tokens against {len(b):,}"
    index = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    return f"token {index:,} is {a[index]!r} in one, {b[index]!r} in the other"


def sha256_of(item: QuantFile) -> str:
    if item.sha256:
        return item.sha256
    from workbench.library import sha256_file

    return sha256_file(item.path)


# --- the job ---------------------------------------------------------------------------------


class QuantComparison:
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
        self._cache = self.cache_root
        self._bos = -1

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def __iter__(self) -> Iterator[QuantProgress]:
        from workbench.engine import Engine, LoadSettings

        started = time.perf_counter()
        n_vocab = check_vocabularies([self.reference, *self.models])
        load = LoadSettings(n_ctx=self.ctx, n_batch=self.ctx, n_threads=self.n_threads,
                            gpu_layers=self.gpu_layers)
        engine = Engine()
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
                    per_window.append(loaded.worker.request(("call", "score_window", (
                        window, self.ctx // 2, meta["mode"],
                        str(cache / f"w{index:04d}.npz"), None))))
                    done += 1
                    yield QuantProgress("model", item.label, done, total)
                rows.append(self._row(item, per_window, ref_row))
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
                answer = loaded.worker.request(("call", "score_window", (
                    window, self.ctx // 2, mode, None, str(partial / f"w{index:04d}.npz"))))
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
        entries = [p for p in self.cache_root.iterdir() if p.is_dir() and "." not in p.name]
        entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[CACHE_KEEP:]:
            shutil.rmtree(old, ignore_errors=True)

    # --- the numbers -----------------------------------------------------------------------

    def _reference_row(self, meta: dict[str, Any]) -> QuantRow:
        nll = np.load(self._cache / "nll.npy")
        n = len(nll)
        item = self.reference
        return QuantRow(item.label, str(item.path), item.file_size, item.quantization, True,
                        0.0, 0.0, 0.0, n, n, float(np.exp(nll.mean())), 1.0,
                        meta.get("tokens_per_s"), 1.0, 1.0)

    def _row(self, item: QuantFile, windows: list[dict[str, Any]], ref: QuantRow) -> QuantRow:
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
                        len(windows) * self.ctx / seconds if seconds else None, low, high)

    def _notes(self, mode: str) -> list[str]:
        notes = [f"reference kept as {describe_mode(mode)}",
                 "the agreement interval treats positions as independent; neighbouring "
                 "tokens are not, so it is narrower than the truth"]
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
