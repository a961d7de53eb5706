"""Suites and checks a user (or a model's reply) can make hostile: bounded, refused early.

A regex that backtracks catastrophically on a long reply must end within the time limit as a
failed check; a suite that could not work is refused at import, naming the file and line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from workbench.errors import InvalidInputError
from workbench.trials.checks import REGEX_TIME_LIMIT, normalize_check, run_check
from workbench.trials.suites import import_suite, list_suites

#: A long prose reply that ``^(\w+\s?)*$`` cannot match (it ends in "!"): Python's re spins
#: on it for ever; the regex package answers "no match" at once.
PROSE = ("The quick brown fox jumps over the lazy dog while the farmer watches from the "
         "porch and wonders whether the weather will hold until harvest " * 4) + "!"
#: Patterns no engine can answer quickly on the text below: they must hit the time limit.
EXPONENTIAL = [r"^(a|aa)+$", r"(x+x+)+y"]
TEXT = "a" * 41 + "b"  # for (a|aa)+; "x" * 5000 for (x+x+)+y


def _cpu_and_wall(call):
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def test_the_issue_pattern_on_prose_ends_at_once() -> None:
    result, cpu, _ = _cpu_and_wall(lambda: run_check(normalize_check(
        {"regex": r"^(\w+\s?)*$"}), PROSE))
    assert not result.passed and result.detail == "no match"
    assert cpu < REGEX_TIME_LIMIT


@pytest.mark.parametrize("check", [
    {"regex": EXPONENTIAL[0]},
    {"regex": EXPONENTIAL[1], "ignore_case": True},
    {"json_schema": {"type": "string", "pattern": EXPONENTIAL[0]}},
    {"json_schema": {"type": "object", "patternProperties": {EXPONENTIAL[1]: {}}}},
    {"json_schema": {"type": "object", "additionalProperties": False,
                     "patternProperties": {EXPONENTIAL[1]: {}}}},
    {"json_schema": {"type": "array", "items": {"type": "string", "pattern": EXPONENTIAL[0]}}},
], ids=["regex", "regex-nested-quantifier", "schema-pattern", "schema-pattern-properties",
        "schema-additional-properties", "schema-pattern-on-many-items"])
def test_catastrophic_regex_fails_within_the_time_limit(check) -> None:
    """The limit is on CPU time (the regex package's timeout), shared by every pattern of one
    check: ten strings that each take a second still end the check after one."""
    normalized = normalize_check(check)
    schema = check.get("json_schema")
    if schema is None:
        reply = TEXT if "a|aa" in check["regex"] else "x" * 5000
    elif schema["type"] == "string":
        reply = json.dumps(TEXT)
    elif schema["type"] == "array":
        reply = json.dumps([TEXT] * 10)
    else:
        reply = json.dumps({"x" * 5000: 1})
    result, cpu, wall = _cpu_and_wall(lambda: run_check(normalized, reply))
    assert not result.passed
    assert result.detail.startswith("regex timed out"), result.detail
    assert cpu < REGEX_TIME_LIMIT + 0.5, f"{cpu:.2f} s of CPU"
    assert wall < 30, f"{wall:.2f} s"  # a loaded machine stretches CPU seconds, not this much


def test_ordinary_patterns_still_work() -> None:
    assert run_check(normalize_check({"regex": r"\bfox\b"}), PROSE).passed
    schema = {"json_schema": {"type": "object", "properties": {"id": {
        "type": "string", "pattern": "^[A-Z]{3}-\\d+$"}}, "additionalProperties": False}}
    assert run_check(normalize_check(schema), '{"id": "ABC-12"}').passed
    failed = run_check(normalize_check(schema), '{"id": "abc", "x": 1}')
    assert not failed.passed and "timed out" not in failed.detail


def _import(db, tmp_path: Path, line: str, suffix: str = "jsonl"):
    path = tmp_path / f"suite.{suffix}"
    path.write_text('{"prompt": "fine"}\n' + line + "\n" if suffix == "jsonl" else line)
    return path, lambda: import_suite(db, path)


HOSTILE_SUITES = {
    "nan-latency": ('{"prompt": "x", "checks": [{"max_latency_ms": NaN}]}',
                    "NaN is not a number"),
    "infinite-tokens": ('{"prompt": "x", "checks": [{"max_tokens": Infinity}]}',
                        "Infinity is not a number"),
    "negative-infinity": ('{"prompt": "x", "checks": [{"max_tokens": -Infinity}]}',
                          "-Infinity is not a number"),
    "nan-string": ('{"prompt": "x", "checks": [{"max_latency_ms": "nan"}]}',
                   "finite number"),
    "huge-tokens": ('{"prompt": "x", "checks": [{"max_tokens": 1e300}]}', "whole number"),
    "boolean-tokens": ('{"prompt": "x", "checks": [{"max_tokens": true}]}', "not bool"),
    "text-tokens": ('{"prompt": "x", "checks": [{"max_tokens": "many"}]}', "not a number"),
    "contains-number": ('{"prompt": "x", "checks": [{"contains": 42}]}',
                        "value must be a string"),
    "contains-list": ('{"prompt": "x", "checks": [{"contains": ["a"]}]}',
                      "value must be a string"),
    "regex-object": ('{"prompt": "x", "checks": [{"regex": {"a": 1}}]}',
                     "value must be a string"),
    "ignore-case-text": ('{"prompt": "x", "checks": [{"contains": "a", "ignore_case": "yes"}]}',
                         "ignore_case must be true or false"),
    "system-number": ('{"prompt": "x", "system": 5}', "'system' must be text"),
    "reference-object": ('{"prompt": "x", "reference": {"a": 1}}', "'reference' must be text"),
    "checks-number": ('{"prompt": "x", "checks": 7}', "expected a list of checks"),
    "prompt-list": ('{"prompt": ["x"]}', "needs a non-empty 'prompt'"),
    "dangling-ref": ('{"prompt": "x", "checks": [{"json_schema": {"$ref": "#/$defs/nope"}}]}',
                     "$ref '#/$defs/nope' does not resolve"),
    "remote-ref": ('{"prompt": "x", "checks": [{"json_schema": {"properties": {"a": '
                   '{"$ref": "https://example.com/s.json"}}}}]}', "does not resolve"),
    "bad-schema-pattern": ('{"prompt": "x", "checks": [{"json_schema": {"pattern": "(("}}]}',
                           "'((' is not a 'regex'"),
    "bad-pattern-properties": ('{"prompt": "x", "checks": [{"json_schema": '
                               '{"patternProperties": {"[": {}}}}]}', "'[' is not a 'regex'"),
    "deep-json": ('{"prompt": "x", "checks": ' + "[" * 100_000 + "]" * 100_000 + "}",
                  "nested too deeply"),
    "deep-schema": ('{"prompt": "x", "checks": [{"json_schema": ' + '{"not": ' * 200 + "{}"
                    + "}" * 200 + "}]}", "nested"),
}


@pytest.mark.parametrize("case", list(HOSTILE_SUITES))
def test_hostile_suite_is_refused_at_import(db, tmp_path: Path, case: str) -> None:
    line, reason = HOSTILE_SUITES[case]
    path, run = _import(db, tmp_path, line)
    started = time.perf_counter()
    with pytest.raises(InvalidInputError) as error:
        run()
    message = str(error.value)
    assert reason in message, message
    assert f"{path} line 2" in message and "\n" not in message
    assert time.perf_counter() - started < 5.0
    assert list_suites(db) == []  # nothing half-imported


def test_resolving_refs_are_accepted(db, tmp_path: Path) -> None:
    schema = {"$defs": {"name": {"type": "string"}}, "type": "object",
              "properties": {"name": {"$ref": "#/$defs/name"}}}
    path, run = _import(db, tmp_path, json.dumps({"prompt": "x", "checks": [
        {"json_schema": schema}]}))
    check = run().prompts[1].checks[0]
    assert run_check(check, '{"name": "Ada"}').passed
    assert not run_check(check, '{"name": 3}').passed


def test_csv_with_a_huge_field_is_one_line(db, tmp_path: Path) -> None:
    path, run = _import(db, tmp_path, 'prompt\n"' + "x" * 300_000 + '"\n', suffix="csv")
    with pytest.raises(InvalidInputError, match="not a readable CSV file"):
        run()


def test_deeply_nested_reply_fails_the_check_not_the_trial() -> None:
    check = normalize_check({"json_schema": {"type": "array"}})
    result = run_check(check, "[" * 100_000 + "]" * 100_000)
    assert not result.passed and "nested too deeply" in result.detail


def test_an_endless_or_huge_suite_file_is_one_line(db, tmp_path: Path) -> None:
    """``/dev/zero`` (endless) and a sparse 65 MiB file stop at the bound ``--prompt-file``
    has, in one line, without reading on."""
    from workbench.text_files import MAX_TEXT_BYTES

    huge = tmp_path / "huge.txt"
    with huge.open("wb") as stream:
        stream.truncate(MAX_TEXT_BYTES + 1)
    sources = [huge] + [Path("/dev/zero")] * Path("/dev/zero").exists()
    for source in sources:
        started = time.perf_counter()
        with pytest.raises(InvalidInputError, match=r"larger than 64 MiB"):
            import_suite(db, source, fmt="txt")
        assert time.perf_counter() - started < 10
    assert list_suites(db) == []


def test_a_lone_surrogate_is_refused_naming_the_line(db, tmp_path: Path) -> None:
    from workbench.trials.suites import SuitePrompt, add_prompt, create_suite

    source = tmp_path / "s.jsonl"
    source.write_text('{"prompt": "fine"}\n{"prompt": "x\\ud800"}\n')
    with pytest.raises(InvalidInputError, match=r"s.jsonl line 2: 'prompt' has a lone "):
        import_suite(db, source)
    suite = create_suite(db, "t")
    with pytest.raises(InvalidInputError, match=r"'system' has a lone surrogate"):
        add_prompt(db, suite.id, SuitePrompt("ok", system="s\udcff"))


def test_any_unstorable_text_is_one_line_from_the_store(db) -> None:
    """The last resort below every feature: SQLite cannot take a lone surrogate."""
    with pytest.raises(InvalidInputError, match=r"lone surrogate .* cannot be stored"):
        db.execute("SELECT ?", ["x\ud800"])
