"""Trials of tool use with the real model: the test model with a Qwen 2.5 tool template
(``tool_model.py``), a suite whose prompts offer tools and canned results, and contenders
that differ only in ``tool_choice``. With ``required`` the grammar makes every call parse
and validate, so the name check and ``valid_arguments`` pass on every cell; with ``none``
the model is offered no tools and ``no_tool_call`` passes; an argument the model cannot know
fails; a prompt with canned results runs the loop to a final answer graded by an ordinary
check. Every bad suite field is one line naming the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tool_model import WEATHER, tool_model

from workbench.errors import InvalidInputError
from workbench.trials.checks import normalize_check, run_checks
from workbench.trials.contenders import make_contender, parse_set_options
from workbench.trials.recommend import Bar, recommend
from workbench.trials.runner import create_trial
from workbench.trials.suites import SuitePrompt, add_prompt, create_suite, parse_suite_text
from workbench.trials.tool_prompts import combined_stats

ORDER = {"type": "function", "function": {
    "name": "get_order", "description": "Where a customer's parcel is.",
    "parameters": {"type": "object", "properties": {
        "order_id": {"type": "string", "maxLength": 12}},
        "required": ["order_id"], "additionalProperties": False}}}
#: An order number the prompt never gives: no model can know it, so this check fails.
SECRET = "WB-5521-ZQ"
SUITE = [
    {"prompt": "What is the weather in Paris?", "tools": [WEATHER],
     "checks": [{"tool_call": {"name": "get_weather"}}, {"valid_arguments": True}]},
    {"prompt": "Where is my parcel?", "tools": [ORDER],
     "checks": [{"tool_call": {"name": "get_order", "arguments": {"order_id": SECRET}}},
                {"valid_arguments": True}]},
    {"prompt": "What is the weather in Paris? Answer in one sentence.", "tools": [WEATHER],
     "tool_results": {"get_weather": {"city": "Paris", "sky": "clear", "temp_c": 21}},
     "checks": [{"contains": "Paris"}]},
    {"prompt": "Say hello to Oslo.", "tools": [WEATHER], "checks": [{"no_tool_call": True}]},
]


@pytest.fixture(scope="module")
def tools_model(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tool_model(model_path, tmp_path_factory.getbasetemp() / "tool-variants")


def _results(cell: dict) -> dict[str, dict]:
    return {r["check"]["type"]: r for r in cell["check_results"]}


def test_a_tool_trial_grades_calls_by_tool_choice(workspace, tools_model, tmp_path) -> None:
    from workbench.cli import cli
    from workbench.library import add_model

    add_model(workspace.db, tools_model)
    suite_file = tmp_path / "tools.jsonl"
    suite_file.write_text("".join(json.dumps(line) + "\n" for line in SUITE))
    common = ["--set", "n_ctx=2048", "--set", "n_threads=1", "--set", "gpu_layers=0",
              "--set", "temperature=0.8", "--set", "max_tokens=64"]
    runner = CliRunner()
    result = runner.invoke(cli, ["trial", "run", str(suite_file), *common, "--seed", "3",
                                 "--repeats", "2", "--no-stop-early",
                                 "-m", "1", "--set", "tool_choice=required",
                                 "-m", "1", "--set", "tool_choice=none"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(cli, ["trial", "show", "1", "--json"])
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    required, none = summary["contenders"]
    assert required["settings"]["tool_choice"] == "required"
    assert none["settings"]["tool_choice"] == "none"  # part of the identity: two contenders
    cells = {(c["prompt_id"], c["contender_id"], c["repeat"]): c
             for c in _cells(workspace.db, summary["trial"]["id"])}
    assert len(cells) == 16
    weather, parcel, loop, hello = (row["prompt_id"] for row in summary["matrix"])
    for repeat in (0, 1):
        forced = {p: cells[(p, required["contender_id"], repeat)] for p in
                  (weather, parcel, loop, hello)}
        free = {p: cells[(p, none["contender_id"], repeat)] for p in
                (weather, parcel, loop, hello)}
        # required: the grammar makes a call that parses and validates, every time
        checks = _results(forced[weather])
        assert checks["tool_call"]["passed"] and checks["valid_arguments"]["passed"], checks
        assert forced[weather]["tool_calls"]["calls"][0]["name"] == "get_weather"
        # the argument the model cannot know: a check that fails, its call still valid
        checks = _results(forced[parcel])
        assert checks["tool_call"]["passed"] is False
        assert "order_id" in checks["tool_call"]["detail"] and checks["valid_arguments"][
            "passed"]
        assert forced[parcel]["passed"] == 0
        # canned results: call, result, then a final answer an ordinary check grades
        record = forced[loop]["tool_calls"]
        assert record["canned"] and record["steps"] >= 2
        assert record["calls"][0]["result"] == json.dumps(SUITE[2]["tool_results"][
            "get_weather"])
        if record["stopped"] is None:
            answer_has_paris = _results(forced[loop])["contains"]["passed"]
            assert answer_has_paris == ("Paris" in forced[loop]["content"])
        assert _results(forced[hello])["no_tool_call"]["passed"] is False
        # none: no tools offered, no call made
        assert _results(free[hello])["no_tool_call"]["passed"] is True
        assert free[weather]["tool_calls"]["calls"] == []
        assert _results(free[weather])["tool_call"]["passed"] is False
        assert free[loop]["tool_calls"]["steps"] == 1
    # the recommendation's pass rate covers the tool checks, with its interval
    verdict = recommend(summary["contenders"], Bar(min_pass_rate=0.5))
    assert {c["contender_id"]: c["prompts_checked"] for c in summary["contenders"]} == {
        required["contender_id"]: 4, none["contender_id"]: 4}
    assert required["tool_calls"] >= 6 and required["valid_calls"] == required["tool_calls"]
    assert none["tool_calls"] == 0
    assert verdict.to_dict()
    text = runner.invoke(cli, ["trial", "show", "1"]).output
    assert "call 1: get_weather(" in text and "valid" in text
    assert "tool calls valid" in text


def _cells(db, trial_id):
    from workbench.trials import store

    return store.trial_cells(db, trial_id)


def test_a_named_tool_choice_must_be_offered_by_every_tool_prompt(db, tools_model) -> None:
    from workbench.library import add_model

    model = add_model(db, tools_model)
    suite = create_suite(db, "named", [SuitePrompt("Weather?", tools=json.dumps([WEATHER]))])
    contender = make_contender(db, model, {"tool_choice": "get_order", "n_ctx": 2048})
    with pytest.raises(InvalidInputError, match=r"prompt 1: tool_choice=get_order is not one "
                                                r"of its tools \(get_weather\)"):
        create_trial(db, suite.id, [contender])
    assert parse_set_options(["tool_choice=none"]) == {"tool_choice": "none"}
    with pytest.raises(InvalidInputError, match="tool_choice=bad name: auto, none"):
        parse_set_options(["tool_choice=bad name"])


TOOL = json.dumps([WEATHER])


@pytest.mark.parametrize(("line", "words"), [
    ({"tools": "nope"}, "line 1: tools: not JSON"),
    ({"tools": [{"type": "function"}]}, "line 1: tools[0]: must be"),
    ({"tools": [WEATHER, WEATHER]}, "line 1: tools[1].function.name: 'get_weather' is "
                                    "offered twice"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "nonsense"}}}]}, "line 1: tools[0].function.parameters (f): not a valid"),
    ({"tool_results": {"get_weather": 1}}, "line 1: tool_results needs the prompt's 'tools'"),
    ({"tools": [WEATHER], "tool_results": [1]}, "line 1: tool_results must be an object"),
    ({"tools": [WEATHER], "tool_results": {"get_time": 1}},
     "line 1: tool_results.get_time: not one of the tools offered (get_weather)"),
    ({"tools": [WEATHER], "tool_results": {"get_weather": []}},
     "line 1: tool_results.get_weather: a list of 1 to 128"),
    ({"tools": [WEATHER], "tool_results": {"get_weather": "x" * 1_000_001}},
     "line 1: tool_results is 1,000,0"),
    ({"checks": [{"tool_call": {"name": "get_weather"}}]},
     "line 1: checks: tool_call needs the prompt's 'tools'"),
    ({"checks": [{"no_tool_call": True}]}, "line 1: checks: no_tool_call needs"),
    ({"tools": [WEATHER], "checks": [{"tool_call": {"name": "get_time"}}]},
     "line 1: checks: tool_call expects 'get_time', which 'tools' does not offer"),
    ({"tools": [WEATHER], "checks": [{"tool_call": {"arguments": {}}}]},
     "line 1: check tool_call: needs the tool's name"),
    ({"tools": [WEATHER], "checks": [{"tool_call": {"name": "get_weather", "args": {}}}]},
     "line 1: check tool_call: unknown key 'args'"),
    ({"tools": [WEATHER], "checks": [{"tool_call": {"name": "get_weather",
                                                     "arguments": [1]}}]},
     "line 1: check tool_call: arguments must be an object"),
    ({"tools": [WEATHER], "checks": [{"tool_call": {"name": "get_weather",
                                                     "arguments_schema": {"type": 5}}}]},
     "line 1: check tool_call: arguments_schema: not a valid schema"),
    ({"tools": [WEATHER], "checks": [{"tool_call": {"name": "get_weather",
                                                     "arguments_schema": {"$ref": "#/x"}}}]},
     "line 1: check tool_call: arguments_schema: $ref '#/x' does not resolve"),
    ({"tools": [WEATHER], "checks": [{"tool_call": []}]},
     "line 1: check tool_call: expect 1 to 16 calls"),
    ({"tools": [WEATHER], "checks": [{"valid_arguments": "yes"}]},
     "line 1: check valid_arguments: takes no value"),
])
def test_every_bad_tool_field_is_one_line(line, words) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_suite_text(json.dumps({"prompt": "Weather?", **line}), "jsonl", "s.jsonl")
    message = str(caught.value)
    assert words in message and "\n" not in message and message.startswith("s.jsonl line 1: ")


def test_a_tool_prompt_round_trips_through_the_store(db) -> None:
    prompts = parse_suite_text(json.dumps({
        "prompt": "Weather?", "tools": [WEATHER], "tool_results": {"get_weather": [
            {"temp": 21}, {"temp": 15}]}, "checks": [{"tool_call": "get_weather"}]}),
        "jsonl")
    suite = create_suite(db, "tools", prompts)
    (stored,) = suite.prompts
    assert json.loads(stored.tools or "")[0]["function"]["name"] == "get_weather"
    assert stored.tool_results == {"get_weather": [{"temp": 21}, {"temp": 15}]}
    assert stored.to_dict()["checks"] == [{"type": "tool_call",
                                           "value": {"name": "get_weather"}}]
    with pytest.raises(InvalidInputError, match="tool_call needs the prompt's 'tools'"):
        add_prompt(db, suite.id, SuitePrompt("No tools", checks=[{"tool_call": "x"}]))


def _call(name, arguments, valid=True, why=None):
    return {"step": 1, "name": name, "arguments": arguments, "valid": valid, "why": why}


def test_tool_checks_on_recorded_calls() -> None:
    paris = _call("get_weather", {"city": "Paris", "unit": "C"})
    rome = _call("get_weather", {"city": "Rome", "unit": "F"})
    bad = _call("get_weather", {"city": "Tokyo"}, False, "city: 'Tokyo' is not one of")
    both = normalize_check({"tool_call": [
        {"name": "get_weather", "arguments": {"city": "Rome"}},
        {"name": "get_weather", "arguments_schema": {"properties": {
            "city": {"const": "Paris"}}}}]})
    # parallel calls in either order match, each expected call to a call of its own
    assert run_checks([both], "", calls=[paris, rome])[0] is True
    assert run_checks([both], "", calls=[rome, paris])[0] is True
    passed, (result,) = run_checks([both], "", calls=[rome, rome])
    assert passed is False and "city" in result.detail
    valid = normalize_check({"valid_arguments": True})
    passed, (result,) = run_checks([valid], "", calls=[paris, bad])
    assert passed is False and result.detail.startswith("get_weather: city:")
    assert run_checks([valid], "", calls=[])[1][0].detail == "no calls made"
    none = normalize_check({"no_tool_call": True})
    assert run_checks([none], "", calls=[bad])[1][0].detail == "called get_weather"
    assert run_checks([none], "", calls=None)[1][0].detail == "the prompt offers no tools"
    named = normalize_check({"tool_call": "get_weather"})
    passed, (result,) = run_checks([named], "", calls=[bad])
    assert passed is False and "Tokyo" in result.detail


def test_a_loops_metrics_add_up_over_its_steps() -> None:
    from workbench.engine import ReplyStats

    one = ReplyStats(prompt_tokens=50, completion_tokens=20, ttft_ms=100, gen_tps=10,
                     total_ms=2100, load_ms=500, settings={"seed": 1})
    two = ReplyStats(prompt_tokens=90, completion_tokens=30, ttft_ms=80, gen_tps=30,
                     total_ms=1100, finish_reason="stop")
    stats = combined_stats([one, two])
    assert (stats.completion_tokens, stats.total_ms, stats.ttft_ms) == (50, 3200, 100)
    assert stats.gen_tps == pytest.approx(50 / 3) and stats.load_ms == 500
    assert stats.settings == {"seed": 1, "tool_steps": 2} and stats.finish_reason == "stop"
