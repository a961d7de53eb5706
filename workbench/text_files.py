"""Text a user hands over as a file or on standard input (a prompt, a suite), read with one
bound and decoded with one rule, so ``/dev/zero`` or a multi-gigabyte file ends in one line
instead of filling memory, and a byte that is not UTF-8 is named where it is."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from workbench.errors import InvalidInputError

#: The most read from a file or stdin: far more than any model's context or any suite holds.
MAX_TEXT_BYTES = 64 << 20


def read_limited(stream: BinaryIO, what: str) -> bytes:
    """At most :data:`MAX_TEXT_BYTES` of ``stream``; more is one line naming ``what``."""
    data = stream.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise InvalidInputError(f"{what}: larger than {MAX_TEXT_BYTES >> 20} MiB")
    return data


def decode(data: bytes, what: str) -> str:
    """UTF-8 text (a byte-order mark dropped); else one line naming the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInputError(
            f"{what}: not valid UTF-8 text (byte 0x{data[error.start]:02x} at offset "
            f"{error.start:,})") from None


def read_text_file(path: str | Path, what: str) -> str:
    """A text file, bounded and decoded; a missing or unreadable one is one line too."""
    try:
        with Path(path).expanduser().open("rb") as stream:
            return decode(read_limited(stream, what), what)
    except OSError as error:
        raise InvalidInputError(f"{what}: cannot read ({error.strerror or error})") from None
