"""Checks on a reply: contains, not contains, regex, valid JSON, JSON schema, exact match,
max tokens, max latency, no echo of the prompt.

A check is a small JSON object, ``{"type": "contains", "value": "Paris"}``; the shorthand
``{"contains": "Paris"}`` is accepted too, so hand-written JSONL stays short. Checks are
validated when a suite is imported or edited, not when a trial is half done.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from itertools import islice
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from workbench.errors import InvalidInputError

#: type -> the key holding its argument (None: takes none)
CHECK_TYPES: dict[str, str | None] = {
    "contains": "value",
    "not_contains": "value",
    "regex": "value",
    "json": None,
    "json_schema": "value",
    "exact": "value",
    "max_tokens": "value",
    "max_latency_ms": "value",
    "no_echo": None,
}
ALIASES = {"not contains": "not_contains", "notcontains": "not_contains", "valid_json": "json",
           "schema": "json_schema", "exact_match": "exact", "equals": "exact",
           "max_latency": "max_latency_ms", "latency_ms": "max_latency_ms",
           "no echo": "no_echo", "noecho": "no_echo"}

#: A reply is an echo when its first words are the prompt's first words: 80% of the prompt's
#: words (rounded up), at least 3 and at most 20. Words are compared case-folded, without
#: punctuation or spacing. Prompts under 3 words are never judged ("Hi" answered "Hi!").
ECHO_SHARE = 0.8
ECHO_MIN_WORDS = 3
ECHO_MAX_WORDS = 20
_WORD = re.compile(r"\w+")


def _first_words(text: str, count: int) -> list[str]:
    return [m.group(0).casefold() for m in islice(_WORD.finditer(text), count)]


def is_echo(prompt: str, reply: str) -> bool:
    """Whether the reply starts by repeating the prompt, as base models do (gemma-3-270m
    answers "Reply with the word yes" with "Reply with the word yes...", which a
    ``contains: yes`` check would pass). Thresholds: :data:`ECHO_SHARE` and its bounds."""
    words = _first_words(prompt, ECHO_MAX_WORDS + 1)
    total = len(_WORD.findall(prompt)) if len(words) > ECHO_MAX_WORDS else len(words)
    if total < ECHO_MIN_WORDS:
        return False
    needed = min(max(ECHO_MIN_WORDS, math.ceil(ECHO_SHARE * total)), ECHO_MAX_WORDS, total)
    return _first_words(reply, needed) == words[:needed]


@dataclass
class CheckResult:
    check: dict[str, Any]
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "detail": self.detail}


def normalize_check(raw: Any, reference: str | None = None) -> dict[str, Any]:
    """One check in its stored form, ``{"type": ..., "value": ..., ...}``; raises on nonsense."""
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise InvalidInputError(f"check {raw!r}: expected an object like "
                                '{"type": "contains", "value": "..."}')
    check = dict(raw)
    if "type" not in check:
        keys = [k for k in check if ALIASES.get(k, k) in CHECK_TYPES]
        if len(keys) != 1:
            raise InvalidInputError(f"check {json.dumps(raw)}: name one type "
                                    f"({', '.join(CHECK_TYPES)})")
        check = {"type": keys[0], "value": check.pop(keys[0]), **check}
    kind = ALIASES.get(str(check["type"]).lower(), str(check["type"]).lower())
    check["type"] = kind
    if kind not in CHECK_TYPES:
        raise InvalidInputError(f"check type '{kind}': unknown ({', '.join(CHECK_TYPES)})")
    if kind in ("json", "no_echo"):
        if check.get("value") not in (True, None):
            raise InvalidInputError(f"check {kind}: takes no value (write "
                                    f'{{"{kind}": true}}; to turn it off, leave it out)')
        check.pop("value", None)
    if kind == "exact" and check.get("value") in (None, True):
        if reference is None:
            raise InvalidInputError("check exact: give a value or a reference answer")
        check["value"] = reference
    if CHECK_TYPES[kind] and check.get("value") is None:
        raise InvalidInputError(f"check {kind}: needs a value")
    if kind == "regex":
        try:
            re.compile(str(check["value"]))
        except re.error as error:
            raise InvalidInputError(f"check regex {check['value']!r}: {error}") from None
    if kind in ("max_tokens", "max_latency_ms"):
        try:
            check["value"] = float(check["value"]) if kind == "max_latency_ms" else int(
                check["value"])
        except (TypeError, ValueError):
            raise InvalidInputError(f"check {kind}: value must be a number") from None
    if kind == "json_schema":
        if not isinstance(check["value"], dict):
            raise InvalidInputError("check json_schema: value must be a JSON schema object")
        try:
            schema_validator(check["value"]).check_schema(check["value"])
        except SchemaError as error:
            raise InvalidInputError(
                f"check json_schema: not a valid schema ({error.message})") from None
    return check


def schema_validator(schema: dict[str, Any]) -> Validator:
    """The validator the schema asks for (its ``$schema``), else draft 2020-12."""
    cls: type[Validator] = validator_for(schema, default=Draft202012Validator)
    return cls(schema)


def normalize_checks(raw: Any, reference: str | None = None) -> list[dict[str, Any]]:
    if raw in (None, "", []):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise InvalidInputError(f"checks {raw!r}: not JSON") from None
    if isinstance(raw, dict):
        raw = [raw]
    return [normalize_check(item, reference) for item in raw]


def extract_json(text: str) -> Any:
    """Parse a reply as JSON, allowing a ```json fence around it (models love those)."""
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fenced:
        body = fenced.group(1).strip()
    return json.loads(body)


def run_check(
    check: dict[str, Any], text: str, completion_tokens: int = 0, total_ms: float = 0.0,
    *, prompt: str = "",
) -> CheckResult:
    """Evaluate one normalized check against a reply, its metrics and its prompt."""
    kind = check["type"]
    value = check.get("value")
    fold = bool(check.get("ignore_case"))
    hay = text.lower() if fold else text
    if kind in ("contains", "not_contains"):
        needle = str(value).lower() if fold else str(value)
        found = needle in hay
        passed = found if kind == "contains" else not found
        return CheckResult(check, passed, f"{'found' if found else 'not found'}: {value!r}")
    if kind == "regex":
        match = re.search(str(value), text, re.I if fold else 0)
        return CheckResult(check, match is not None,
                           f"matched {match.group(0)[:40]!r}" if match else "no match")
    if kind in ("json", "json_schema"):
        try:
            parsed = extract_json(text)
        except json.JSONDecodeError as error:
            return CheckResult(check, False, f"not valid JSON ({error.msg})")
        if kind == "json":
            return CheckResult(check, True, "valid JSON")
        errors = sorted(schema_validator(dict(value or {})).iter_errors(parsed),
                        key=lambda error: list(error.absolute_path))
        detail = f"{errors[0].json_path}: {errors[0].message}" if errors else "matches the schema"
        return CheckResult(check, not errors, detail[:200])
    if kind == "exact":
        a, b = text.strip(), str(value).strip()
        if fold:
            a, b = a.lower(), b.lower()
        return CheckResult(check, a == b, "exact match" if a == b else "differs")
    if kind == "max_tokens":
        passed = completion_tokens <= int(value)  # type: ignore[arg-type]
        return CheckResult(check, passed, f"{completion_tokens} tokens (max {value})")
    if kind == "max_latency_ms":
        passed = total_ms <= float(value)  # type: ignore[arg-type]
        return CheckResult(check, passed, f"{total_ms:.0f} ms (max {value:.0f})")
    if kind == "no_echo":
        echo = is_echo(prompt, text)
        return CheckResult(check, not echo,
                           "echo: the reply starts by repeating the prompt" if echo
                           else "not an echo of the prompt")
    raise InvalidInputError(f"check type '{kind}': unknown")


def run_checks(
    checks: list[dict[str, Any]], text: str, completion_tokens: int = 0, total_ms: float = 0.0,
    *, prompt: str = "",
) -> tuple[bool | None, list[CheckResult]]:
    """All checks; passed is None when there are none (the cell is not scored)."""
    results = [run_check(c, text, completion_tokens, total_ms, prompt=prompt) for c in checks]
    if not results:
        return None, []
    return all(r.passed for r in results), results
