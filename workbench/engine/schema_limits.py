"""Bounds on a JSON schema, checked before llama.cpp's converter turns it into a grammar.

The converter writes ``maxLength: N`` as N nested optional groups and copies a pattern's
``{N}`` N times, so a 39-byte schema can become a grammar whose parser recursion kills the
engine process (``maxLength`` 100,000), or stalls the caller for seconds and gigabytes
(10^8). Each bound here is far above what a real schema needs, and a schema past one is
refused in one line naming the bound, the same from the server, ``chat --json-schema``, the
window's Structured output and a suite's import (all go through ``check_json_schema``).

``MAX_REPEAT`` follows llama.cpp's own grammar parser, which refuses ``{m,n}`` repetitions
past 2,000 (``MAX_REPETITION_THRESHOLD``); the nested groups the converter writes for a
length are deeper than a repetition, so the bound here is half of it.
"""

from __future__ import annotations

import re
from typing import Any

from workbench.errors import InvalidInputError

#: The most characters of a schema (as canonical JSON).
MAX_SCHEMA_CHARS = 256_000
#: The deepest nesting of objects and lists in a schema.
MAX_SCHEMA_DEPTH = 48
#: The largest count a length, item or property bound (or a pattern's ``{m,n}``) may name.
MAX_REPEAT = 1_000
#: The most values of one ``enum``.
MAX_ENUM = 1_000
#: The most characters of one ``pattern``.
MAX_PATTERN_CHARS = 1_000
#: The most characters of the grammar made of a schema (a catch-all for combinations).
MAX_GRAMMAR_CHARS = 1_000_000

COUNT_KEYS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties",
              "maxProperties", "minContains", "maxContains")
_BRACES = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")


def check_schema_limits(schema: dict[str, Any], where: str) -> None:
    """Raise a one-line :class:`InvalidInputError` naming ``where`` and the bound when the
    schema is past one; the walk is iterative, so a deeply nested schema is refused rather
    than recursed into (its size is checked once it is text, by :func:`check_schema_size`)."""
    stack: list[tuple[Any, int, str]] = [(schema, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise InvalidInputError(f"{where}: nested more than {MAX_SCHEMA_DEPTH} deep "
                                    f"(at {_short(path) or 'the top'})")
        if isinstance(node, list):
            stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(value, dict | list):
                if key == "enum" and isinstance(value, list) and len(value) > MAX_ENUM:
                    raise InvalidInputError(f"{where}: {here} has {len(value):,} values; at "
                                            f"most {MAX_ENUM:,}")
                stack.append((value, depth + 1, here))
            elif key in COUNT_KEYS:
                _check_count(value, here, where)
            elif key == "pattern" and isinstance(value, str):
                _check_pattern(value, here, where)
            elif key == "$ref" and isinstance(value, str):
                _check_ref(schema, value, here, where)


def _short(path: str) -> str:
    return path if len(path) <= 60 else "…" + path[-59:]


def _check_count(value: Any, here: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REPEAT:
        shown = repr(value) if len(repr(value)) < 40 else repr(value)[:40] + "…"
        raise InvalidInputError(f"{where}: {here} {shown} must be a whole number from 0 to "
                                f"{MAX_REPEAT:,}")


def _check_pattern(pattern: str, here: str, where: str) -> None:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidInputError(f"{where}: {here} is {len(pattern):,} characters; at most "
                                f"{MAX_PATTERN_CHARS:,}")
    for match in _BRACES.finditer(pattern):
        for number in match.groups():
            if number and (len(number) > 6 or int(number) > MAX_REPEAT):
                raise InvalidInputError(f"{where}: {here} repeats {number[:12]} times; at "
                                        f"most {MAX_REPEAT:,}")


def _check_ref(schema: dict[str, Any], ref: str, here: str, where: str) -> None:
    """Only a reference to a place in this schema can be followed (the converter reads no
    files or addresses); one to nowhere is named, not a KeyError."""
    if ref == "#":
        raise InvalidInputError(f"{where}: {here} '#' refers to the whole schema (recursion "
                                "through the root is not supported)")
    if not ref.startswith("#/"):
        raise InvalidInputError(f"{where}: {here} '{ref[:80]}': only references inside the "
                                "schema (#/$defs/NAME) are supported")
    node: Any = schema
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isascii() and part.isdigit() and \
                int(part) < len(node):
            node = node[int(part)]
        else:
            raise InvalidInputError(f"{where}: {here} '{ref[:80]}' is not in the schema")


def check_schema_size(text: str, where: str) -> None:
    if len(text) > MAX_SCHEMA_CHARS:
        raise InvalidInputError(f"{where}: the schema is {len(text):,} characters; at most "
                                f"{MAX_SCHEMA_CHARS:,}")


def check_grammar_size(grammar: str, where: str) -> None:
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise InvalidInputError(f"{where}: its grammar would be {len(grammar):,} characters; "
                                f"at most {MAX_GRAMMAR_CHARS:,} (fewer or smaller bounds)")
