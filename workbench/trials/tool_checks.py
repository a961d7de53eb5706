"""Checks on the tool calls a reply made: ``tool_call``, ``no_tool_call`` and
``valid_arguments``.

They grade the calls a cell recorded (:mod:`workbench.trials.tool_prompts`: each call's
name, arguments, and whether it was valid or why not), not the reply's text, so they apply
only to a prompt that offers tools (a suite refuses them elsewhere, in one line).

- ``{"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}`` passes when a
  valid call names that tool and every argument given has that value (arguments not given
  are free); ``"arguments_schema": {...}`` asks instead that the arguments match a JSON
  Schema. A list of expected calls is matched order-free, each to a call of its own (parallel
  calls come in any order). Calls of every step of a multi-step prompt count.
- ``{"no_tool_call": true}`` passes when the model wrote no call at all (not even one that
  failed to parse).
- ``{"valid_arguments": true}`` passes when every call the model wrote parsed, named an
  offered tool and had arguments that validate against its schema (and, vacuously, when it
  made none: ask for a call with ``tool_call``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from workbench.errors import InvalidInputError, refuse_unknown_keys

#: The checks on a cell's tool calls rather than its text.
TOOL_CHECKS = ("tool_call", "no_tool_call", "valid_arguments")
#: The most calls one ``tool_call`` check may expect (the engine reads at most 16 a reply).
MAX_EXPECTED = 16
_CALL_KEYS = {"name", "arguments", "arguments_schema"}


def normalize_tool_check(check: dict[str, Any], check_schema: Callable[[Any, str], None]
                         ) -> dict[str, Any]:
    """A tool check in its stored form, or one line saying what is wrong with it;
    ``check_schema(schema, where)`` refuses a bad ``arguments_schema`` (the checks' own
    rule for schemas: :func:`workbench.trials.checks.check_schema_value`)."""
    kind = check["type"]
    if kind != "tool_call":
        if check.get("value") not in (True, None):
            raise InvalidInputError(f"check {kind}: takes no value (write "
                                    f'{{"{kind}": true}}; to turn it off, leave it out)')
        check.pop("value", None)
        return check
    value = check.get("value")
    if isinstance(value, list):
        if not 1 <= len(value) <= MAX_EXPECTED:
            raise InvalidInputError(f"check tool_call: expect 1 to {MAX_EXPECTED} calls, not "
                                    f"{len(value)}")
        check["value"] = [_expected(item, f"check tool_call[{n}]", check_schema)
                          for n, item in enumerate(value)]
    else:
        check["value"] = _expected(value, "check tool_call", check_schema)
    return check


def _expected(value: Any, where: str, check_schema: Callable[[Any, str], None]
              ) -> dict[str, Any]:
    if isinstance(value, str):  # {"tool_call": "get_weather"}: the name alone
        value = {"name": value}
    if not isinstance(value, dict):
        raise InvalidInputError(f'{where}: expected {{"name": "...", "arguments": {{...}}}}')
    refuse_unknown_keys(value, _CALL_KEYS, where)
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{where}: needs the tool's name")
    if "arguments" in value and not isinstance(value["arguments"], dict):
        raise InvalidInputError(f"{where}: arguments must be an object of expected values")
    if value.get("arguments_schema") is not None:
        check_schema(value["arguments_schema"], f"{where}: arguments_schema")
    return {k: value[k] for k in ("name", "arguments", "arguments_schema") if k in value}


def expected_names(check: dict[str, Any]) -> list[str]:
    """The tools a ``tool_call`` check expects (a suite checks that its prompt offers them)."""
    value = check.get("value")
    return [str(e["name"]) for e in (value if isinstance(value, list) else [value])
            if isinstance(e, dict)]


def run_tool_check(check: dict[str, Any], calls: list[dict[str, Any]] | None,
                   validator: Callable[[dict[str, Any]], Any]) -> tuple[bool, str]:
    """One tool check on a cell's recorded calls (None: the prompt offered no tools), as
    (passed, detail); ``validator(schema)`` checks an ``arguments_schema`` (the checks' own,
    whose regular expressions run under their time limit)."""
    kind = check["type"]
    if calls is None:
        return False, "the prompt offers no tools"
    if kind == "no_tool_call":
        return (True, "no tool call") if not calls else (False, f"called {_names(calls)}")
    if kind == "valid_arguments":
        bad = [c for c in calls if not c.get("valid")]
        if bad:
            return False, _why(bad[0])[:200]
        return True, (f"{len(calls)} call{'s' if len(calls) != 1 else ''}, all valid"
                      if calls else "no calls made")
    expected = check["value"] if isinstance(check["value"], list) else [check["value"]]
    valid = [c for c in calls if c.get("valid")]
    assignment = _match(expected, valid, 0, set(), validator)
    if assignment is not None:
        return True, ("called " + "; ".join(_written(valid[i]) for i in assignment))[:200]
    return False, _miss(expected, valid, calls, validator)[:200]


def _match(expected: list[dict[str, Any]], calls: list[dict[str, Any]], at: int,
           used: set[int], validator: Callable[[dict[str, Any]], Any]) -> list[int] | None:
    """Each expected call its own made call (order-free; at most 16 x 16, so a plain
    search), as indexes into ``calls``; None when no such assignment exists."""
    if at == len(expected):
        return []
    for index, call in enumerate(calls):
        if index not in used and _fits(expected[at], call, validator) is None:
            rest = _match(expected, calls, at + 1, used | {index}, validator)
            if rest is not None:
                return [index, *rest]
    return None


def _fits(expected: dict[str, Any], call: dict[str, Any],
          validator: Callable[[dict[str, Any]], Any]) -> str | None:
    """Why ``call`` is not the expected one; None when it is."""
    if call.get("name") != expected["name"]:
        return f"called {call.get('name')}, not {expected['name']}"
    arguments = call.get("arguments") or {}
    for key, value in (expected.get("arguments") or {}).items():
        if key not in arguments:
            return f"{expected['name']}: no argument {key!r}"
        if arguments[key] != value:
            return (f"{expected['name']}: {key} is {json.dumps(arguments[key])[:60]}, "
                    f"expected {json.dumps(value)[:60]}")
    schema = expected.get("arguments_schema")
    if schema is not None:
        errors = sorted(validator(schema).iter_errors(arguments),
                        key=lambda error: list(error.absolute_path))
        if errors:
            return f"{expected['name']}: {errors[0].json_path}: {errors[0].message}"
    return None


def _miss(expected: list[dict[str, Any]], valid: list[dict[str, Any]],
          calls: list[dict[str, Any]], validator: Callable[[dict[str, Any]], Any]) -> str:
    """Why the expected calls were not all made, in one line."""
    if not calls:
        return "no tool call"
    for wanted in expected:
        same = [c for c in valid if c.get("name") == wanted["name"]]
        if not same:
            written = [c for c in calls if c.get("name") == wanted["name"]]
            if written:
                return _why(written[0])
            return f"{wanted['name']} was not called (called {_names(calls)})"
        reasons = [_fits(wanted, c, validator) for c in same]
        if all(reasons):
            return str(reasons[0])
    return f"expected {len(expected)} calls, the model made {len(valid)} valid ones"


def _names(calls: list[dict[str, Any]]) -> str:
    return ", ".join(str(c.get("name") or "an unreadable call") for c in calls)


def _written(call: dict[str, Any]) -> str:
    return f"{call.get('name')}({json.dumps(call.get('arguments'), ensure_ascii=False)})"


def _why(call: dict[str, Any]) -> str:
    name = call.get("name")
    return f"{name}: {call.get('why')}" if name else str(call.get("why"))


def describe_call(call: dict[str, Any]) -> str:
    """A recorded call in one line, as ``trial show``, reports and the window print it."""
    if call.get("name") is None:
        return f"unreadable call: {call.get('why')}"
    text = _written(call)
    if not call.get("valid"):
        text += f" (invalid: {call.get('why')})"
    if call.get("result") is not None:
        result = " ".join(str(call["result"]).split())
        text += f" -> {result[:80]}{'…' if len(result) > 80 else ''}"
    return text
