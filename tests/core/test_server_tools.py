"""Tool calling through the local server, with the real ``openai`` client: a GGUF made from
the test model with a Qwen 2.5 style tool template. ``tool_choice`` required or named always
gives a call whose arguments validate (grammar), streamed and not; a two-step loop (call,
result, answer); and every bad input is a 400 in OpenAI's shape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import openai
import pytest
from tool_model import TIME, WEATHER, tool_model

from workbench.library import add_model
from workbench.server.aliases import set_alias
from workbench.server.serve import RunningServer
from workbench.workspace import Workspace

ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [WEATHER, TIME]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


@pytest.fixture(scope="module")
def space(make_space, model_path: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Workspace:
    space = make_space("server-tools")
    path = tool_model(model_path, tmp_path_factory.getbasetemp() / "tool-variants")
    model = add_model(space.db, path)
    set_alias(space.db, "qwen-tools", model.name, {"temperature": 0, "max_tokens": 96})
    return space


def _valid(call) -> dict:
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, SCHEMAS[call.function.name])
    return arguments


def test_required_gives_a_call_that_validates(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="qwen-tools", messages=ASK, tools=TOOLS,
                                            tool_choice="required")
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls and choice.message.tool_calls[0].id
    for call in choice.message.tool_calls:
        _valid(call)


def test_a_named_tool_streamed_arrives_as_tool_call_deltas(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="qwen-tools", messages=ASK, tools=TOOLS, stream=True,
        tool_choice={"type": "function", "function": {"name": "get_time"}})
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        for part in delta.tool_calls or []:
            entry = calls.setdefault(part.index, {"name": "", "arguments": ""})
            entry["name"] += part.function.name or ""
            entry["arguments"] += part.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and calls
    assert calls[0]["name"] == "get_time"
    jsonschema.validate(json.loads(calls[0]["arguments"]), SCHEMAS["get_time"])


@pytest.mark.parametrize("stream", [False, True])
def test_a_two_step_loop_ends_in_an_answer(client: openai.OpenAI, stream: bool) -> None:
    first = client.chat.completions.create(model="qwen-tools", messages=ASK, tools=TOOLS,
                                           tool_choice="required")
    message = first.choices[0].message
    messages: list = [*ASK, message.model_dump(exclude_none=True)]
    for call in message.tool_calls or []:
        messages.append({"role": "tool", "tool_call_id": call.id,
                         "content": json.dumps({"sky": "sunny", "deg": 21})})
    second = client.chat.completions.create(model="qwen-tools", messages=messages,
                                            tools=TOOLS, tool_choice="none", max_tokens=16,
                                            stream=stream)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in second if c.choices)
    else:
        assert second.choices[0].message.tool_calls is None
        text = second.choices[0].message.content or ""
    assert text.strip()


def test_auto_answers_or_calls(client: openai.OpenAI) -> None:
    """Free text with auto (no grammar): whatever the model wrote, a call returned is one
    that validates; anything else is content."""
    answer = client.chat.completions.create(model="qwen-tools", messages=ASK, tools=TOOLS,
                                            max_tokens=48)
    message = answer.choices[0].message
    for call in message.tool_calls or []:
        _valid(call)
    assert message.tool_calls or message.content is not None


def _post(server: RunningServer, body: dict | bytes) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(server.url + "/chat/completions", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _tool(name: str, parameters: dict) -> dict:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


CALLED = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function",
     "function": {"name": "get_time", "arguments": "{\"city\": \"Rome\"}"}}]}


@pytest.mark.parametrize(("extra", "param", "words"), [
    ({"tools": [_tool("f", {"type": "wrong"})]}, "tools", "not a valid JSON schema"),
    ({"tools": [_tool("f", {"$ref": "#"})]}, "tools", "recursion"),
    ({"tools": [_tool("f", {"type": "object", "properties": {
        "a": {"type": "string", "maxLength": 10 ** 6}}})]}, "tools", "maxLength"),
    ({"tools": [WEATHER, WEATHER]}, "tools", "offered twice"),
    ({"tools": TOOLS, "tool_choice": "launch"}, "tool_choice", "not one of the tools"),
    ({"tool_choice": "required"}, "tool_choice", "needs tools"),
    ({"tools": TOOLS, "parallel_tool_calls": "yes"}, "parallel_tool_calls", "true or false"),
    ({"messages": [*ASK, {"role": "tool", "tool_call_id": "nope", "content": "x"}]},
     "messages", "matches none"),
    ({"messages": [*ASK, CALLED, {"role": "tool", "tool_call_id": "call_1", "content": "a"},
                   {"role": "tool", "tool_call_id": "call_1", "content": "b"}]},
     "messages", "matches none"),
    ({"messages": [*ASK, {"role": "assistant", "tool_calls": [{"id": 1}]}]}, "messages",
     "tool_calls[0]"),
    ({"functions": [{"name": "f"}]}, "functions", "use tools"),
])
def test_bad_tool_requests_are_400_in_openais_shape(server: RunningServer, extra: dict,
                                                     param: str, words: str) -> None:
    status, body = _post(server, {"model": "qwen-tools", "messages": ASK, **extra})
    assert status == 400, body
    error = body["error"]
    assert error["param"] == param and words in error["message"], error
    assert "\n" not in error["message"]


def test_a_tool_result_answered_without_tools_is_text(client: openai.OpenAI) -> None:
    """A conversation with calls and results but no tools offered still runs (the results
    are read as text)."""
    answer = client.chat.completions.create(model="qwen-tools", max_tokens=4, messages=[
        *ASK, CALLED, {"role": "tool", "tool_call_id": "call_1", "content": "12:00"}])
    assert answer.choices[0].finish_reason in ("stop", "length")


def test_a_50_mb_tool_result_is_refused_whole(server: RunningServer) -> None:
    """The body bound (16 MiB) refuses it before it is read, in OpenAI's shape; the engine's
    own bound cuts a long result it is given (test_tools_engine)."""
    import http.client

    body = json.dumps({"model": "qwen-tools", "tools": TOOLS, "messages": [
        *ASK, CALLED, {"role": "tool", "tool_call_id": "call_1",
                       "content": "x" * (50 << 20)}]}).encode()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    connection.putrequest("POST", "/v1/chat/completions")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 413
    assert "larger than 16 MiB" in json.loads(answer.read())["error"]["message"]
    connection.close()


def test_an_alias_cannot_carry_tools(space: Workspace) -> None:
    from workbench.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="given with each request"):
        set_alias(space.db, "toolish", "1", {"tool_choice": "required"})


def _assembled(stream) -> tuple[str, list[dict], str | None, int]:
    """A streamed answer put together as the ``openai`` client's users do: the content, the
    calls, the finish reason, and how many ``arguments`` deltas came."""
    content, calls, finish, argument_deltas = "", {}, None, 0
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for part in delta.tool_calls or []:
            if part.id:  # a call's first delta: id, type, name, empty arguments
                assert part.type == "function" and part.function.name
                assert part.function.arguments == "" and part.index not in calls
                calls[part.index] = {"name": part.function.name, "arguments": ""}
            else:
                assert part.function.name is None and part.function.arguments
                calls[part.index]["arguments"] += part.function.arguments
                argument_deltas += 1
        finish = chunk.choices[0].finish_reason or finish
    return content, [calls[i] for i in sorted(calls)], finish, argument_deltas


@pytest.mark.parametrize(("choice", "tools"), [
    ("auto", TOOLS), ("required", TOOLS),
    ({"type": "function", "function": {"name": "get_weather"}}, TOOLS),
    ("none", TOOLS), (None, None)])
def test_the_stream_adds_up_to_the_answer(client: openai.OpenAI, choice, tools) -> None:
    """Streamed as it is written (llama.cpp's partial parse and diffs), the deltas put
    together are the non-streamed answer at the same seed: content, calls, finish."""
    extra = {"tools": tools, "tool_choice": choice} if tools else {}
    for seed in (1, 2):
        whole = client.chat.completions.create(model="qwen-tools", messages=ASK, seed=seed,
                                               temperature=0.9, max_tokens=80, **extra)
        content, calls, finish, pieces = _assembled(client.chat.completions.create(
            model="qwen-tools", messages=ASK, seed=seed, temperature=0.9, max_tokens=80,
            stream=True, **extra))
        message = whole.choices[0].message
        assert (content or None) == (message.content or None)
        assert calls == [{"name": c.function.name, "arguments": c.function.arguments}
                         for c in message.tool_calls or []]
        assert finish == whole.choices[0].finish_reason
        if choice not in ("auto", "none", None):  # a forced call: its arguments grow
            assert finish == "tool_calls" and pieces > 1
