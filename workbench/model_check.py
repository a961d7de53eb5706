"""Checks made when a model is added, for faults llama.cpp would find later, some by crashing.

llama.cpp trusts a GGUF file more than it should: a vocabulary with one token under two ids
passes its load and then aborts the whole process (``GGML_ASSERT(id_to_token.size() ==
token_to_id.size())``, SIGABRT), and a scores array shorter than the vocabulary is read past
its end. A tensor table whose offsets do not follow each other, or that promises more bytes
than the file has, is refused by llama.cpp only at load. Each of these is found here from the
header alone, without loading the weights, and refused with one line at ``models add``.

The vocabulary is streamed (``parse_header``'s ``visit``), so the check keeps one set of the
tokens it has seen and nothing else; the header reader has already bounded every length by
the file's size.
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import ModelFileError
from workbench.gguf_header import (
    DEFAULT_ALIGNMENT,
    GGUFHeader,
    SkippedArray,
    parse_header,
    read_header,
)
from workbench.safe_text import visible

TOKENS_KEY = "tokenizer.ggml.tokens"
#: Arrays with one entry per token: llama.cpp indexes them by token id without a length check.
PER_TOKEN_KEYS = ("tokenizer.ggml.scores", "tokenizer.ggml.token_type")


def check_model(parts: list[Path], headers: list[GGUFHeader] | None = None) -> None:
    """Check every part's tensor table and the first part's vocabulary; raise ModelFileError.

    ``headers``: the parts' headers when the caller has read them already (the library has),
    so no header is parsed twice; the vocabulary is streamed apart in any case."""
    for index, part in enumerate(parts):
        check_tensors(part, headers[index] if headers else read_header(part))
    check_vocabulary(parts[0])


def check_tensors(path: Path, header: GGUFHeader) -> None:
    """The tensor table as llama.cpp's ``gguf_init`` reads it: unique names, and each tensor's
    data starting where the previous one's (padded to the alignment) ends."""
    alignment = int(header.get("general.alignment", DEFAULT_ALIGNMENT))
    seen: set[str] = set()
    expected = 0
    for tensor in header.tensors:
        if tensor.name in seen:
            raise ModelFileError(f"{path}: the tensor table names '{visible(tensor.name[:80])}' "
                                 "twice")
        seen.add(tensor.name)
        if tensor.offset != expected:
            raise ModelFileError(
                f"{path}: tensor '{visible(tensor.name[:80])}' starts at data offset "
                f"{tensor.offset:,}, "
                f"where llama.cpp expects {expected:,} (a damaged tensor table)")
        expected += -(-tensor.n_bytes // alignment) * alignment
    # With the offsets in sequence, read_header's check that the file is as long as its last
    # tensor's end covers every tensor's bytes.


def check_vocabulary(path: Path) -> None:
    """Refuse a vocabulary llama.cpp would crash on: a token under two ids, tokens that are
    not strings, or per-token arrays (scores, types) shorter or longer than the vocabulary."""
    seen: dict[bytes, int] = {}

    def visit(index: int, token: object) -> None:
        if not isinstance(token, bytes):
            raise ModelFileError(f"{path}: {TOKENS_KEY} is not an array of strings")
        # llama.cpp reads each token as a C string (cut at its first NUL: "a\0x" is "a")
        # and renames an empty one "[EMPTY_<id>]" before it checks for duplicates.
        word = token.split(b"\0", 1)[0] or f"[EMPTY_{index}]".encode()
        first = seen.setdefault(word, index)
        if first != index:
            shown = word.decode("utf-8", errors="replace")[:40]
            raise ModelFileError(
                f"{path}: the vocabulary has the token {shown!r} under two ids ({first} and "
                f"{index}); llama.cpp would abort at the first chat, so it is not added")

    size = path.stat().st_size
    try:
        with path.open("rb", buffering=1 << 20) as stream:
            header = parse_header(stream, name=str(path), size=size, visit={TOKENS_KEY: visit})
    except OSError as error:
        raise ModelFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    tokens = header.get(TOKENS_KEY)
    if tokens is None:
        return
    if not isinstance(tokens, SkippedArray):  # visited arrays come back as SkippedArray
        raise ModelFileError(f"{path}: {TOKENS_KEY} is not an array of strings")
    count = tokens.length
    for key in PER_TOKEN_KEYS:
        value = header.get(key)
        if value is None:
            continue
        length = value.length if isinstance(value, SkippedArray) else (
            len(value) if isinstance(value, list) else -1)
        if length != count:
            raise ModelFileError(
                f"{path}: {key} has {length:,} entries for {count:,} tokens (a damaged "
                "vocabulary; llama.cpp would read past its end)")
