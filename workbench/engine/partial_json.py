"""JSON read while it is still being written: what a streamed tool call's arguments are so far.

After llama.cpp's ``common/json-partial.cpp`` (its "healing": a cut JSON text is closed, read,
written out again and cut where the input ended). Here the reading is direct: :func:`read`
returns a :class:`Node` tree in which the last value may be unfinished, and
:meth:`Node.dump` writes it as ``json.dumps(value, ensure_ascii=False)`` would, up to where
the input ended. Each dump of a growing text is therefore a prefix of the dump of the whole
value, which is what lets ``function.arguments`` be sent as deltas that add up to the
arguments of the finished call.

A number or ``true``/``false``/``null`` at the very end is left out until something follows
it (``1`` may become ``12``); so is a cut escape sequence (``\\u00``) and a lone high
surrogate (its low half may follow).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import regex

_NUMBER = regex.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
#: What may still follow a number at the end of the text (``1.``, ``1e-``), or nothing.
_MAY_GO_ON = regex.compile(r"\d*(?:\.\d*)?(?:[eE][+-]?\d*)?")
_BLANK = " \t\r\n"


class NotJson(ValueError):
    """The text cannot be the start of a JSON value."""


@dataclass
class Node:
    """One value read: ``kind`` is ``object``, ``array``, ``string`` or ``scalar``."""

    kind: str
    complete: bool = False
    #: object: (key, value or None while the value has not begun); array: values.
    pairs: list[tuple[str, Node | None]] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)
    #: string: the text so far (decoded); scalar: the value (only when complete).
    text: str = ""
    value: Any = None
    #: object: a key being written, or a key written whose ``:`` has not come.
    pending_key: str | None = None
    key_done: bool = False
    #: a ``,`` was read after the last member.
    comma: bool = False

    def get(self, key: str) -> Node | None:
        """The member ``key`` of an object (the last one written under that key)."""
        found = None
        for name, value in self.pairs:
            if name == key:
                found = value
        return found

    def has(self, key: str) -> bool:
        return any(name == key for name, _ in self.pairs)

    def python(self) -> Any:
        """The value (complete nodes only)."""
        if self.kind == "object":
            return {k: v.python() for k, v in self.pairs if v is not None}
        if self.kind == "array":
            return [item.python() for item in self.items]
        if self.kind == "string":
            return self.text
        return self.value

    def dump(self) -> str:
        """``json.dumps(value, ensure_ascii=False)`` so far."""
        if self.complete:
            return json.dumps(self.python(), ensure_ascii=False)
        if self.kind == "string":
            return json.dumps(self.text, ensure_ascii=False)[:-1]
        if self.kind == "scalar":
            return ""
        if self.kind == "array":
            parts = [item.dump() for item in self.items]
            return "[" + ", ".join(parts) + (", " if self.comma else "")
        parts = []
        for key, value in self.pairs:
            head = json.dumps(key, ensure_ascii=False) + ": "
            parts.append(head + (value.dump() if value is not None else ""))
        text = "{" + ", ".join(parts) + (", " if self.comma else "")
        if self.pending_key is not None:
            key = json.dumps(self.pending_key, ensure_ascii=False)
            text += key if self.key_done else key[:-1]
        return text


def read(text: str, start: int = 0) -> tuple[Node | None, int]:
    """The JSON value starting at ``start`` (after blanks), read as far as the text goes, and
    where it ended; None when only blanks are there. Raises :class:`NotJson` when the text
    cannot be the start of a JSON value."""
    at = _skip(text, start)
    if at >= len(text):
        return None, at
    return _value(text, at)


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _BLANK:
        at += 1
    return at


def _value(text: str, at: int) -> tuple[Node, int]:
    char = text[at]
    if char == "{":
        return _object(text, at + 1)
    if char == "[":
        return _array(text, at + 1)
    if char == '"':
        return _string(text, at + 1)
    return _scalar(text, at)


def _object(text: str, at: int) -> tuple[Node, int]:
    node = Node("object")
    while True:
        at = _skip(text, at)
        if at >= len(text):
            return node, at
        if text[at] == "}" and not node.comma:
            node.complete = True
            return node, at + 1
        if node.pairs and not node.comma:
            if text[at] != ",":
                raise NotJson(f"expected , or }} at {at}")
            node.comma = True
            at += 1
            continue
        if text[at] != '"':
            raise NotJson(f"expected a key at {at}")
        key, at = _string(text, at + 1)
        node.pending_key = key.text
        if not key.complete:
            return node, at
        node.key_done = True
        at = _skip(text, at)
        if at >= len(text):
            return node, at
        if text[at] != ":":
            raise NotJson(f"expected : at {at}")
        node.pending_key, node.key_done, node.comma = None, False, False
        at = _skip(text, at + 1)
        if at >= len(text):
            node.pairs.append((key.text, None))
            return node, at
        value, at = _value(text, at)
        node.pairs.append((key.text, value))
        if not value.complete:
            return node, at


def _array(text: str, at: int) -> tuple[Node, int]:
    node = Node("array")
    while True:
        at = _skip(text, at)
        if at >= len(text):
            return node, at
        if text[at] == "]" and not node.comma:
            node.complete = True
            return node, at + 1
        if node.items and not node.comma:
            if text[at] != ",":
                raise NotJson(f"expected , or ] at {at}")
            node.comma = True
            at += 1
            continue
        value, at = _value(text, at)
        node.items.append(value)
        node.comma = False
        if not value.complete:
            return node, at


_ESCAPE = re.compile(r'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})')


def _string(text: str, at: int) -> tuple[Node, int]:
    """A string whose opening quote is before ``at``."""
    begin = at
    while at < len(text):
        char = text[at]
        if char == '"':
            return Node("string", True, text=json.loads(text[begin - 1:at + 1])), at + 1
        if char == "\\":
            escape = _ESCAPE.match(text, at)
            if escape is None:
                if len(text) - at < 6:  # cut inside an escape: wait for the rest
                    break
                raise NotJson(f"bad escape at {at}")
            at = escape.end()
            continue
        if char < " ":
            raise NotJson(f"a control character in a string at {at}")
        at += 1
    so_far = json.loads(text[begin - 1:at] + '"')
    if so_far and "\ud800" <= so_far[-1] <= "\udbff":  # its low half may follow
        so_far = so_far[:-1]
    return Node("string", text=so_far), len(text)


def _scalar(text: str, at: int) -> tuple[Node, int]:
    for word, value in (("true", True), ("false", False), ("null", None)):
        if text.startswith(word, at):
            return Node("scalar", True, value=value), at + len(word)
        if word.startswith(text[at:]):
            return Node("scalar"), len(text)
    number = _NUMBER.match(text, at, partial=True)
    if number is None:
        raise NotJson(f"unexpected {text[at]!r} at {at}")
    if number.partial or _MAY_GO_ON.fullmatch(text, number.end()):  # cut, or 1 -> 12
        return Node("scalar"), len(text)
    return Node("scalar", True, value=json.loads(number.group())), number.end()
