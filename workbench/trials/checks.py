"""Checks on a reply: contains, not contains, regex, valid JSON, JSON schema, exact match,
max tokens, max latency, no echo of the prompt, a judge model's grade, the tool calls it made
(:mod:`.tool_checks`); over documents, ``cites`` (the reply cites an expected source) and
``grounded`` (a judge model grades whether every claim is supported by the passages
retrieved).

A check is a small JSON object, ``{"type": "contains", "value": "Paris"}``; the shorthand
``{"contains": "Paris"}`` is accepted too, so hand-written JSONL stays short. Checks are
validated when a suite is imported or edited, not when a trial is half done.

Regular expressions (regex checks and JSON-schema ``pattern``s) run on model output, which a
user does not control, so a pattern that backtracks catastrophically (``^(\\w+\\s?)*$`` on a
long prose reply) would spin forever: they run under the ``regex`` package's timeout, at most
:data:`REGEX_TIME_LIMIT` seconds for all the patterns of one check, and a check that runs out
of time fails with the reason "regex timed out".
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import regex
from jsonschema import Draft202012Validator, SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012, specification_with

from workbench.errors import InvalidInputError, refuse_unknown_keys
from workbench.trials.sources import document_check_value, document_verdict
from workbench.trials.tool_checks import TOOL_CHECKS, normalize_tool_check, run_tool_check
from workbench.units import human_ms

#: Seconds all the regular expressions of one check may take together.
REGEX_TIME_LIMIT = 1.0
#: Limits on what a check may hold (a schema is walked recursively when imported).
MAX_SCHEMA_DEPTH = 64
MAX_TOKENS_LIMIT = 1_000_000_000
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "workbench_regex_deadline", default=None)


class RegexTimeout(Exception):
    """A regular expression ran past the check's time limit."""


def timed_search(pattern: str, text: str, flags: int = 0) -> Any:
    """``regex.search`` under the current check's deadline (or :data:`REGEX_TIME_LIMIT`)."""
    deadline = _deadline.get()
    left = REGEX_TIME_LIMIT if deadline is None else deadline - time.monotonic()
    if left <= 0:
        raise RegexTimeout
    try:
        return regex.search(pattern, text, flags, timeout=left)
    except TimeoutError:
        raise RegexTimeout from None


def _compile(pattern: Any, what: str) -> None:
    if not isinstance(pattern, str):
        raise InvalidInputError(f"{what}: the pattern must be a string")
    try:
        regex.compile(pattern)
    except (regex.error, RecursionError, OverflowError, ValueError) as error:
        raise InvalidInputError(f"{what} {pattern[:60]!r}: {error}") from None

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
    "judge": "value",
    # tool use (workbench.trials.tool_checks): graded on the calls a cell recorded
    "tool_call": "value",
    "no_tool_call": None,
    "valid_arguments": None,
    "cites": None,  # its value is optional: the sources, else the prompt's
    "grounded": "value",
}
ALIASES = {"not contains": "not_contains", "notcontains": "not_contains", "valid_json": "json",
           "schema": "json_schema", "exact_match": "exact", "equals": "exact",
           "max_latency": "max_latency_ms", "latency_ms": "max_latency_ms",
           "no echo": "no_echo", "noecho": "no_echo", "llm_rubric": "judge",
           "tool_calls": "tool_call", "no_tool_calls": "no_tool_call",
           "valid_tool_arguments": "valid_arguments"}

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
    """One check's verdict; ``passed`` is None while a judge check waits for its judge (or
    when the judge failed): such a check does not count either way."""

    check: dict[str, Any]
    passed: bool | None
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
    if kind in TOOL_CHECKS:
        return normalize_tool_check(check, check_schema_value)
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
    if "ignore_case" in check and not isinstance(check["ignore_case"], bool):
        raise InvalidInputError(f"check {kind}: ignore_case must be true or false")
    if kind in ("contains", "not_contains", "regex", "exact") and not isinstance(
            check["value"], str):
        raise InvalidInputError(f"check {kind}: value must be a string, not "
                                f"{type(check['value']).__name__}")
    if kind == "regex":
        _compile(check["value"], "check regex")
    if kind in ("max_tokens", "max_latency_ms"):
        check["value"] = _number(kind, check["value"])
    if kind == "judge":
        check["value"] = normalize_judge(check["value"])
    if kind in ("cites", "grounded"):  # see workbench.trials.sources
        check["value"] = document_check_value(kind, check.get("value"), normalize_judge)
        if check["value"] is None:
            check.pop("value")
    if kind == "json_schema":
        check_schema_value(check["value"], "check json_schema")
    return check


def check_schema_value(schema: Any, where: str) -> None:
    """A schema a check holds: an object, valid, and usable (:func:`check_schema_usable`)."""
    if not isinstance(schema, dict):
        raise InvalidInputError(f"{where}: value must be a JSON schema object")
    try:
        schema_validator(schema).check_schema(schema)
    except SchemaError as error:
        raise InvalidInputError(f"{where}: not a valid schema ({error.message[:160]})") from None
    except RecursionError:
        raise InvalidInputError(f"{where}: nested too deeply") from None
    try:
        check_schema_usable(schema)
    except InvalidInputError as error:
        raise InvalidInputError(str(error).replace("check json_schema", where, 1)) from None


#: Judge scales a check may use (a score is 1..scale) and the longest rubric it may carry.
JUDGE_SCALES = range(2, 11)
MAX_RUBRIC_CHARS = 4000
JUDGE_KEYS = {"rubric", "model", "min_score", "scale"}


def normalize_judge(value: Any) -> dict[str, Any]:
    """A judge spec ``{"rubric", "model", "min_score", "scale"}`` with its defaults (scale
    5, min_score 4) filled in. Whether the model is in the library is checked where the
    library is at hand (:func:`workbench.trials.judge.check_judge_models`)."""
    if not isinstance(value, dict):
        raise InvalidInputError('check judge: expected {"rubric": "...", "model": "ID or '
                                'name", "min_score": 4, "scale": 5}')
    refuse_unknown_keys(value, JUDGE_KEYS, "check judge")
    rubric = value.get("rubric")
    if not isinstance(rubric, str) or not rubric.strip():
        raise InvalidInputError("check judge: needs a rubric (what a good reply does)")
    if len(rubric) > MAX_RUBRIC_CHARS:
        raise InvalidInputError(f"check judge: the rubric is {len(rubric):,} characters; "
                                f"at most {MAX_RUBRIC_CHARS:,}")
    model = value.get("model")
    if isinstance(model, bool) or not isinstance(model, str | int) or not str(model).strip():
        raise InvalidInputError("check judge: needs a model (a library id or name)")
    spec: dict[str, Any] = {"rubric": rubric.strip(), "model": str(model).strip()}
    for key, default in (("scale", 5), ("min_score", 4)):
        number = value.get(key, default)
        if isinstance(number, bool) or not isinstance(number, int | float) or \
                number != int(number):
            raise InvalidInputError(f"check judge: {key} must be a whole number, not "
                                    f"{number!r}"[:120])
        spec[key] = int(number)
    if spec["scale"] not in JUDGE_SCALES:
        raise InvalidInputError(f"check judge: scale {spec['scale']} is not between "
                                f"{JUDGE_SCALES.start} and {JUDGE_SCALES.stop - 1}")
    if not 1 <= spec["min_score"] <= spec["scale"]:
        raise InvalidInputError(f"check judge: min_score {spec['min_score']} must be between "
                                f"1 and the scale ({spec['scale']})")
    return spec


def _number(kind: str, value: Any) -> int | float:
    """A finite, non-negative limit (a number, or text that is one: "500"); NaN, infinity
    and booleans are refused, since a comparison with them is silently always false."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidInputError(f"check {kind}: value {value[:20]!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"check {kind}: value must be a number, not "
                                f"{type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"check {kind}: value must be a finite number of at least 0")
    if kind == "max_latency_ms":
        return float(value)
    if value != int(value) or value > MAX_TOKENS_LIMIT:
        raise InvalidInputError(f"check {kind}: value must be a whole number up to "
                                f"{MAX_TOKENS_LIMIT:,}")
    return int(value)


_NOT_SCHEMAS = {"enum", "const", "examples", "default"}


def _walk(node: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Every (keyword, value) pair in a schema, not looking inside data (enum, const...)."""
    if depth > MAX_SCHEMA_DEPTH:
        raise InvalidInputError(f"check json_schema: nested more than {MAX_SCHEMA_DEPTH} deep")
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            if key not in _NOT_SCHEMAS:
                yield from _walk(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, depth + 1)


def check_schema_usable(schema: dict[str, Any]) -> None:
    """Refuse, at import, a schema that would fail at trial time: a ``$ref`` that does not
    resolve inside the schema (nothing is fetched from the network) or a ``pattern`` that is
    not a regular expression."""
    spec = specification_with(str(schema.get("$schema", "")), default=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("", spec.create_resource(schema))
    root = registry.resolver()
    for key, value in _walk(schema):
        if key in ("$ref", "$dynamicRef") and isinstance(value, str):
            try:
                root.lookup(value)
            except (Unresolvable, LookupError, ValueError) as error:
                raise InvalidInputError(
                    f"check json_schema: $ref {value[:80]!r} does not resolve inside the schema "
                    f"({type(error).__name__})") from None
        elif key == "pattern" and isinstance(value, str):
            _compile(value, "check json_schema pattern")
        elif key == "patternProperties" and isinstance(value, dict):
            for pattern in value:
                _compile(pattern, "check json_schema patternProperties")


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not timed_search(pattern, instance):
        yield ValidationError(f"{instance[:60]!r} does not match {pattern[:60]!r}")


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any,
                        schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if timed_search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extras: Any, instance: Any,
                           schema: Any) -> Iterator[Any]:
    """jsonschema's own, with its pattern matching under the time limit."""
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extra = [key for key in instance if key not in properties
             and not any(timed_search(p, key) for p in patterns)]
    if validator.is_type(extras, "object"):
        for key in extra:
            yield from validator.descend(instance[key], extras, path=key)
    elif not extras and extra:
        named = ", ".join(repr(key[:40]) for key in sorted(extra)[:5])
        yield ValidationError(f"additional properties are not allowed ({named} unexpected)")


_TIMED = {"pattern": _pattern, "patternProperties": _pattern_properties,
          "additionalProperties": _additional_properties}
_timed_classes: dict[type[Any], type[Any]] = {}


def schema_validator(schema: dict[str, Any]) -> Validator:
    """The validator the schema asks for (its ``$schema``), else draft 2020-12, with its
    regular expressions run under the time limit."""
    cls: type[Validator] = validator_for(schema, default=Draft202012Validator)
    timed = _timed_classes.get(cls)
    if timed is None:
        keywords = {k: v for k, v in _TIMED.items() if k in cls.VALIDATORS}
        timed = _timed_classes[cls] = extend(cls, keywords)
    return timed(schema)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a check can use")


def loads_strict(text: str) -> Any:
    """JSON as suites are read: NaN and Infinity (which Python's json accepts) are refused,
    and nesting deep enough to exhaust the stack is an error, not a crash."""
    return json.loads(text, parse_constant=_refuse_constant)


def normalize_checks(raw: Any, reference: str | None = None) -> list[dict[str, Any]]:
    if raw is None or (isinstance(raw, str | list) and not raw):
        return []
    if isinstance(raw, str):
        try:
            raw = loads_strict(raw)
        except json.JSONDecodeError:
            raise InvalidInputError(f"checks {raw[:60]!r}: not JSON") from None
        except ValueError as error:
            raise InvalidInputError(f"checks: {error}") from None
        except RecursionError:
            raise InvalidInputError("checks: nested too deeply") from None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise InvalidInputError(f"checks: expected a list of checks, not {type(raw).__name__}")
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
    *, prompt: str = "", cut: str | None = None, calls: list[dict[str, Any]] | None = None,
    grounding: dict[str, Any] | None = None, sources: list[str] | None = None,
) -> CheckResult:
    """Evaluate one normalized check against a reply, its metrics and its prompt. ``cut``
    says why the reply's JSON is incomplete (the token limit cut what its schema asked
    for): JSON checks then fail with that reason rather than a parser's message. ``calls``:
    the tool calls the cell recorded (None: its prompt offers no tools)."""
    kind = check["type"]
    if kind in TOOL_CHECKS:
        try:
            return CheckResult(check, *run_tool_check(check, calls, schema_validator))
        except RegexTimeout:
            return CheckResult(check, False, "regex timed out checking the arguments")
    if cut and kind in ("json", "json_schema"):
        return CheckResult(check, False, cut)
    value = check.get("value")
    fold = bool(check.get("ignore_case"))
    hay = text.lower() if fold else text
    if kind in ("contains", "not_contains"):
        needle = str(value).lower() if fold else str(value)
        found = needle in hay
        passed = found if kind == "contains" else not found
        return CheckResult(check, passed, f"{'found' if found else 'not found'}: {value!r}")
    if kind in ("regex", "json", "json_schema"):
        reset = _deadline.set(time.monotonic() + REGEX_TIME_LIMIT)
        try:
            return _run_timed(check, kind, value, text, fold)
        except RegexTimeout:
            return CheckResult(check, False, "regex timed out "
                               f"(over {REGEX_TIME_LIMIT:g} s on this reply)")
        except RecursionError:
            return CheckResult(check, False, "the reply's JSON is nested too deeply to check")
        finally:
            _deadline.reset(reset)
    if kind == "judge":  # graded after the contender's cells (workbench.trials.judge)
        return CheckResult(check, None, "waiting for the judge")
    if kind in ("cites", "grounded"):
        return CheckResult(check, *document_verdict(check, text, grounding, sources or []))
    if kind == "no_echo":
        echo = is_echo(prompt, text)
        return CheckResult(check, not echo,
                           "echo: the reply starts by repeating the prompt" if echo
                           else "not an echo of the prompt")
    return _run_plain(check, kind, value, text, fold, completion_tokens, total_ms)


def _run_timed(check: dict[str, Any], kind: str, value: Any, text: str,
               fold: bool) -> CheckResult:
    if kind == "regex":
        match = timed_search(str(value), text, regex.I if fold else 0)
        return CheckResult(check, match is not None,
                           f"matched {match.group(0)[:40]!r}" if match else "no match")
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


def _run_plain(check: dict[str, Any], kind: str, value: Any, text: str, fold: bool,
               completion_tokens: int, total_ms: float) -> CheckResult:
    if kind == "exact":
        a, b = text.strip(), str(value).strip()
        if fold:
            a, b = a.lower(), b.lower()
        return CheckResult(check, a == b, "exact match" if a == b else "differs")
    if kind == "max_tokens":
        passed = completion_tokens <= int(value)
        return CheckResult(check, passed, f"{completion_tokens} tokens (max {value})")
    if kind == "max_latency_ms":
        passed = total_ms <= float(value)
        return CheckResult(check, passed, f"{human_ms(total_ms)} (max {human_ms(value)})")
    raise InvalidInputError(f"check type '{kind}': unknown")


def run_checks(
    checks: list[dict[str, Any]], text: str, completion_tokens: int = 0, total_ms: float = 0.0,
    *, prompt: str = "", cut: str | None = None, calls: list[dict[str, Any]] | None = None,
    grounding: dict[str, Any] | None = None, sources: list[str] | None = None,
) -> tuple[bool | None, list[CheckResult]]:
    """All checks; passed is None when there are none (the cell is not scored)."""
    results = [run_check(c, text, completion_tokens, total_ms, prompt=prompt, cut=cut,
                         calls=calls, grounding=grounding, sources=sources)
               for c in checks]
    return overall([r.passed for r in results]), results


def overall(verdicts: list[bool | None]) -> bool | None:
    """A cell's verdict from its checks': passed when every decided check passed; None when
    no check decided (none at all, or only judge checks not graded yet or that failed)."""
    decided = [v for v in verdicts if v is not None]
    return all(decided) if decided else None
