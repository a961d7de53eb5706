"""Tool calling in the engine, with the real model: a GGUF made here with a Qwen 2.5 style
tool template. A forced call (``required`` or a named tool) is held to the model's own call
syntax by a grammar, so it always parses and its arguments validate; a template that knows
no tools gets llama.cpp's generic JSON; the loop runs calls to an answer within its bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tool_model import TIME, WEATHER, tool_model

from workbench.engine import LoadSettings, SamplingSettings
from workbench.engine.tool_loop import steps_line, tool_loop
from workbench.engine.tool_parse import parse_reply
from workbench.engine.tools import (
    MAX_RESULT_CHARS,
    bounded_result,
    check_tool_choice,
    check_tools,
    detect_format,
)
from workbench.errors import InvalidInputError

LOAD = LoadSettings(n_ctx=2048, n_threads=1)
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = check_tools([WEATHER, TIME])


@pytest.fixture(scope="module")
def tools_model(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tool_model(model_path, tmp_path_factory.getbasetemp() / "tool-variants")


def _reply(engine, path, choice, *, seed=1, temperature=0.0, messages=ASK, tools=TOOLS,
           max_tokens=96):
    reply = engine.reply(path, messages, load=LOAD, sampling=SamplingSettings(
        seed=seed, temperature=temperature, max_tokens=max_tokens, tools=tools,
        tool_choice=check_tool_choice(choice, tools)))
    text = "".join(reply)
    return reply, parse_reply(text, reply.stats.settings.get("tool_format", "?"), tools)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_required_always_makes_a_call_whose_arguments_validate(engine, tools_model,
                                                               seed) -> None:
    reply, turn = _reply(engine, tools_model, "required", seed=seed, temperature=0.9)
    assert reply.stats.settings["tool_format"] == "hermes"
    assert reply.text.startswith("<tool_call>\n")
    assert reply.finish_reason == "stop"
    assert turn.calls and not turn.problems, (reply.text, turn.problems)
    assert turn.calls[0].name in ("get_weather", "get_time")


def test_a_named_tool_is_the_one_called(engine, tools_model) -> None:
    _reply_, turn = _reply(engine, tools_model, "get_time")
    assert [c.name for c in turn.calls][:1] == ["get_time"]
    assert turn.calls[0].arguments["city"] in ("Paris", "Rome", "Oslo")


def test_none_offers_no_tools(engine, tools_model) -> None:
    reply, turn = _reply(engine, tools_model, "none", max_tokens=8)
    assert "tool_format" in reply.stats.settings
    assert "<tool_call>" not in reply.text or turn.problems or turn.calls


def test_a_template_without_tools_gets_the_generic_json(engine, model_path) -> None:
    """SmolLM2's own template knows no tools: llama.cpp's generic format, whose grammar
    makes the answer a JSON object with a call or a response."""
    reply, turn = _reply(engine, model_path, "auto", max_tokens=160)
    assert reply.stats.settings["tool_format"] == "generic"
    if reply.finish_reason == "stop":
        value = json.loads(reply.text)
        assert "tool_call" in value or "tool_calls" in value or "response" in value
        assert not turn.problems
    reply, turn = _reply(engine, model_path, "required", max_tokens=160)
    if reply.finish_reason == "stop":
        assert turn.calls and not turn.problems


def test_the_loop_answers_after_a_call(engine, tools_model) -> None:
    ran = []

    def reply_for(messages, step):
        return engine.reply(tools_model, messages, load=LOAD, sampling=SamplingSettings(
            seed=1, temperature=0, max_tokens=96 if step == 0 else 24, tools=TOOLS,
            tool_choice="required" if step == 0 else "none"))

    def run(call):
        ran.append(call.name)
        return json.dumps({"city": call.arguments.get("city"), "sky": "sunny", "deg": 21})

    result = tool_loop(reply_for, ASK, run, tools=TOOLS)
    assert result.stopped is None and result.steps == 2 and ran
    roles = [m["role"] for m in result.messages]
    assert roles[:3] == ["user", "assistant", "tool"] and roles[-1] == "assistant"
    assert result.messages[1]["tool_calls"][0]["function"]["name"] == ran[0]


def test_a_model_that_calls_forever_stops_at_the_bound(engine, tools_model) -> None:
    def reply_for(messages, step):
        return engine.reply(tools_model, messages, load=LOAD, sampling=SamplingSettings(
            seed=1, temperature=0, max_tokens=48, tools=TOOLS, tool_choice="required"))

    result = tool_loop(reply_for, ASK, lambda call: "ok", tools=TOOLS, max_steps=3)
    assert result.steps == 3 and result.stopped == steps_line(3) and len(result.calls) >= 3


def test_a_huge_tool_result_is_cut_before_the_model_reads_it() -> None:
    text = bounded_result("x" * (50 << 20))
    assert len(text) < MAX_RESULT_CHARS + 100 and "more characters" in text


def test_formats_are_read_from_the_template() -> None:
    from tool_model import QWEN_TOOLS

    assert detect_format(QWEN_TOOLS) == "hermes"
    assert detect_format("{% for m in messages %}{{ m.content }}{% endfor %}") == "generic"
    assert detect_format("{{ tools }}[TOOL_CALLS]") == "mistral"


@pytest.mark.parametrize(("tools", "words"), [
    ([{"type": "function"}], "must be"),
    ([WEATHER, WEATHER], "'get_weather' is offered twice"),
    ([{"type": "function", "function": {"name": "bad name!"}}], "letters, digits"),
    ([{"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}],
     "not a valid JSON schema"),
    ([{"type": "function", "function": {"name": "f", "parameters": {
        "$ref": "#"}}}], "recursion"),
    ([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"type": "string", "maxLength": 100000}}}}}],
     "maxLength"),
    ([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "description": "x" * 300_000}}}], "characters"),
    ([WEATHER] * 200, "at most 128"),
    ("not json", "not JSON"),
])
def test_bad_tools_are_one_line(tools, words) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_tools(tools)
    message = str(caught.value)
    assert words in message and "\n" not in message and len(message) < 400


def test_tool_choice_must_name_an_offered_tool() -> None:
    with pytest.raises(InvalidInputError, match="not one of the tools"):
        check_tool_choice("launch_rocket", TOOLS)
    with pytest.raises(InvalidInputError, match="required needs tools"):
        check_tool_choice("required", None)
    assert check_tool_choice({"type": "function", "function": {"name": "get_time"}},
                             TOOLS) == "get_time"


def test_the_lazy_grammar_binds_only_once_a_call_begins(model_path: Path) -> None:
    """``auto``: llama.cpp's lazy grammar (through llama-cpp-python's low-level binding)
    leaves text free, and once ``<tool_call>`` is written only the call's JSON may follow."""
    import ctypes

    import llama_cpp

    from workbench.engine.tools import ToolPlan, tool_list

    grammar, triggers = ToolPlan("hermes", tool_list(TOOLS), "auto").lazy_grammar()
    assert grammar and triggers
    llama = llama_cpp.Llama(str(model_path), n_ctx=128, n_threads=1, verbose=False)
    vocab = llama._model.vocab
    patterns = (ctypes.c_char_p * 1)(triggers[0].encode())
    rule = llama_cpp.llama_sampler_init_grammar_lazy_patterns(
        vocab, grammar.encode(), b"root", patterns, 1, None, 0)
    assert rule
    n_vocab = llama.n_vocab()

    def allowed() -> set[int]:
        data = (llama_cpp.llama_token_data * n_vocab)(
            *[llama_cpp.llama_token_data(i, 0.0, 0.0) for i in range(n_vocab)])
        array = llama_cpp.llama_token_data_array(data, n_vocab, -1, False)
        llama_cpp.llama_sampler_apply(rule, ctypes.byref(array))
        return {data[i].id for i in range(n_vocab) if data[i].logit > -1e30}

    def accept(text: str) -> None:
        for token in llama.tokenize(text.encode(), add_bos=False, special=False):
            llama_cpp.llama_sampler_accept(rule, token)

    hello = llama.tokenize(b"Hello", add_bos=False, special=False)[0]
    try:
        assert len(allowed()) == n_vocab  # free text before any call
        accept("Let me look. ")
        assert hello in allowed()
        accept("<tool_call>\n")
        after = allowed()
        assert hello not in after and 0 < len(after) < n_vocab / 10
        brace = llama.tokenize(b"{", add_bos=False, special=False)[0]
        assert brace in after
    finally:
        llama_cpp.llama_sampler_free(rule)
        llama.close()


def test_tool_settings_are_text_and_a_named_choice_must_be_offered() -> None:
    from workbench.engine.tools import plan_for

    with pytest.raises(InvalidInputError, match="must be JSON text"):
        SamplingSettings(tools=[WEATHER])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not one of the tools"):
        plan_for("{{ tools }}<tool_call>", TOOLS, "launch_rocket")
    assert "tools" not in SamplingSettings().to_dict()  # records without tools read as before
    assert SamplingSettings(tools=TOOLS).to_dict()["tools"] == TOOLS
