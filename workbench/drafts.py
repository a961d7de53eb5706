"""Draft models for speculative decoding: naming one, checking it against its target, and
suggesting one from the library.

A ``draft=MODEL`` setting names a library model (id or name) or a ``.gguf`` file; it is
resolved to the file here, before anything loads, and its vocabulary is compared with the
target's from the two headers (cheap: the token list is read, not the weights), by llama.cpp's
own rule (``common_speculative_are_compatible``: the same tokenizer, sizes within 128, the same
token texts from id 5 on). The engine checks again on the loaded models
(:func:`workbench.engine.speculative.vocab_mismatch`).
"""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from workbench.engine.endpoint_http import is_remote
from workbench.errors import InvalidInputError, ModelFileError, ModelNotFound
from workbench.gguf_header import read_header
from workbench.library import Model, get_model, list_models

TOKENS = "tokenizer.ggml.tokens"
#: llama.cpp's SPEC_VOCAB_MAX_SIZE_DIFFERENCE and SPEC_VOCAB_CHECK_START_TOKEN_ID.
SIZE_DIFFERENCE = 128
CHECK_START = 5
#: The most library files whose headers a suggestion reads (the nearest below in size).
SUGGEST_AT_MOST = 12


class Vocab:
    """A file's tokenizer, from its header: kind, special tokens and the token texts."""

    def __init__(self, path: str | Path) -> None:
        header = read_header(path, keep_arrays=[TOKENS])
        self.model = str(header.get("tokenizer.ggml.model", ""))
        self.bos = header.get("tokenizer.ggml.bos_token_id")
        self.eos = header.get("tokenizer.ggml.eos_token_id")
        tokens = header.get(TOKENS)
        self.tokens: list[str] = list(tokens) if isinstance(tokens, list) else []

    def difference(self, other: Vocab) -> str:
        """Why ``other`` cannot draft for this vocabulary ("" when it can)."""
        if not self.tokens or not other.tokens:
            return "no token list in its header"
        if self.model != other.model:
            return f"a {other.model or 'different'} tokenizer against {self.model or 'none'}"
        if (self.bos, self.eos) != (other.bos, other.eos):
            return "other start/end-of-text tokens"
        if abs(len(self.tokens) - len(other.tokens)) > SIZE_DIFFERENCE:
            return f"{len(other.tokens):,} tokens against {len(self.tokens):,}"
        for index in range(CHECK_START, min(len(self.tokens), len(other.tokens))):
            if self.tokens[index] != other.tokens[index]:
                return f"token {index} differs"
        return ""


def draft_path(db: Database, value: str) -> tuple[str, str]:
    """The file and the name a ``draft`` setting names: a ``.gguf`` file, else a library
    model (id or name, as everywhere); one line when it names neither."""
    file = Path(value).expanduser()
    if value.lower().endswith(".gguf") or file.is_absolute():
        if not file.is_file():
            raise InvalidInputError(f"setting draft={value}: no such file")
        return str(file.resolve()), file.name
    try:
        model = get_model(db, value)
    except ModelNotFound as error:
        raise ModelNotFound(f"setting draft: {error}") from None
    if is_remote(model.path):
        raise InvalidInputError(f"setting draft={value}: {model.name} is served by an "
                                "endpoint; a draft runs here, beside its target")
    if not Path(model.path).is_file():
        raise ModelFileError(f"setting draft={value}: the file of {model.name} is missing "
                             f"({model.path})")
    return model.path, model.name


def check_draft(db: Database, model: Model, value: str) -> str:
    """``value`` resolved to a draft file for ``model``, refused in one line naming both
    when the vocabularies differ. A draft bigger than its target is allowed: the engine
    says so with every reply (``draft_note``), since it can only slow replies down."""
    if is_remote(model.path):
        raise InvalidInputError(f"setting draft: {model.name} is served by an endpoint; "
                                "speculative decoding needs a model run here")
    path, name = draft_path(db, value)
    reason = Vocab(model.path).difference(Vocab(path))
    if reason:
        raise InvalidInputError(f"draft {name}: its vocabulary is not the one of {model.name} "
                                f"({reason}); a draft must share its target's tokens")
    return path


def suggest_draft(db: Database, model: Model) -> Model | None:
    """A smaller library model with ``model``'s vocabulary (the largest such, which drafts
    best), or None. Reads at most :data:`SUGGEST_AT_MOST` headers, nearest in size first."""
    if is_remote(model.path) or not Path(model.path).is_file():
        return None
    smaller = sorted((m for m in list_models(db)
                      if m.id != model.id and m.file_size < model.file_size
                      and m.sha256 != model.sha256 and not is_remote(m.path)
                      and Path(m.path).is_file()),
                     key=lambda m: -m.file_size)[:SUGGEST_AT_MOST]
    if not smaller:
        return None
    try:
        target = Vocab(model.path)
    except ModelFileError:
        return None
    for candidate in smaller:
        try:
            if not target.difference(Vocab(candidate.path)):
                return candidate
        except ModelFileError:
            continue
    return None
