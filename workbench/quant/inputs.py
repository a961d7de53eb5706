"""What a quantization comparison starts from: the files (same vocabulary, checked from
their headers), the text (the user's, bounded, or the shipped sample) and the window size."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench.errors import InvalidInputError
from workbench.gguf_header import read_header
from workbench.model_settings import runnable

TOKENS_KEY = "tokenizer.ggml.tokens"
#: The largest text accepted; far more than the windows scored can use.
MAX_TEXT_BYTES = 2 << 20
DEFAULT_CTX, MIN_CTX, MAX_CTX = 512, 32, 8192
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


def file_from_path(path: str | Path) -> QuantFile:
    found = Path(path).expanduser().resolve()
    header = read_header(found)
    return QuantFile(found.name, found, found.stat().st_size, header.quantization)


def file_from_model(model: Any) -> QuantFile:
    """A library :class:`~workbench.library.Model`."""
    return QuantFile(model.name, Path(model.path), int(model.file_size or 0),
                     model.quantization, model.sha256, model.id)


def file_from_library(db: Database, ref: str | int) -> QuantFile:
    """A library model by id or name, found and its file checked as every run does
    (:func:`~workbench.model_settings.runnable`)."""
    return file_from_model(runnable(db, ref).model)


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
