"""Text from files and the Hub made safe to print on a terminal.

A GGUF file's metadata (licence, architecture, name), a file name or a Hub search field is
written by someone else. Printed raw, an escape sequence in it can clear the screen, set the
window title, or write the clipboard (OSC 52); a bidi override can make a name read as
another. Every such character is shown visibly instead (``\\x1b``, ``\\u202e``), so nothing
is hidden and nothing is executed.

:func:`visible` escapes everything but printable text (for one-line fields);
:func:`for_terminal` keeps the line breaks and tabs of longer text (a reply, a listing).
:class:`TerminalGuard` wraps ``sys.stdout``/``sys.stderr`` when they are terminals, so the
CLI is safe everywhere at once rather than field by field.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

#: C0 controls and DEL, C1 controls, and the Unicode format characters that reorder or hide
#: text: bidi embeddings, overrides and isolates, marks, and the zero-width ones.
_FORMAT = "\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
_UNSAFE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT}]")
#: The same, less tab, line feed and carriage return (progress lines redraw with \r).
_UNSAFE_BLOCK = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_FORMAT}]")
#: What click.style writes for bold text (the CLI's own headings): kept by the guard.
_OWN_STYLE = re.compile(r"\x1b\[(?:0|1|22)m")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: Any) -> str:
    """One line with every control and format character shown as an escape."""
    return _UNSAFE_LINE.sub(_escape, str(text))


def for_terminal(text: str) -> str:
    """Longer text: tabs, line feeds and carriage returns kept, every other control escaped."""
    return _UNSAFE_BLOCK.sub(_escape, text)


def _guarded(text: str) -> str:
    pieces = _OWN_STYLE.split(text)
    if len(pieces) == 1:
        return for_terminal(text)
    styles = _OWN_STYLE.findall(text)
    out = [for_terminal(pieces[0])]
    for style, piece in zip(styles, pieces[1:], strict=True):
        out += [style, for_terminal(piece)]
    return "".join(out)


class TerminalGuard:
    """A text stream that escapes control characters on their way to a terminal.

    It exposes no ``buffer``, so nothing (click included) can write around it; click finds the
    ``encoding`` and ``errors`` it expects and writes through it.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("TerminalGuard writes text only")
        self._stream.write(_guarded(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self._stream, name)


def guard_terminal(stream: TextIO) -> TextIO:
    """``stream`` wrapped in a :class:`TerminalGuard` when it is a terminal (once)."""
    if isinstance(stream, TerminalGuard):
        return stream
    return TerminalGuard(stream) if is_terminal(stream) else stream  # type: ignore[return-value]


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --- secrets ---------------------------------------------------------------------------------

#: Hugging Face tokens, and whatever follows an Authorization header or a Bearer scheme.
_SECRET = re.compile(
    r"hf_[A-Za-z0-9]{8,}|(?i:(?<=bearer )|(?<=authorization: )|(?<=authorization=))[^\s'\",;]+"
)
REDACTED = "[redacted]"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with the given secrets (a token) and anything shaped like one replaced, for
    error lines and logs that may echo a request's headers back."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _SECRET.sub(REDACTED, text)
