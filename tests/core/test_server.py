"""The local server with the real OpenAI client, against the real server on 127.0.0.1 and the
real SmolLM2 model (one thread, a 512-token context, short replies)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.errors import InvalidInputError
from workbench.server.aliases import set_alias
from workbench.server.serve import RunningServer, check_bind, start_server
from workbench.settings import set_setting
from workbench.workspace import Workspace

HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def space(make_space) -> Workspace:
    space = make_space("server")
    set_alias(space.db, "summarize", "smollm2", {"max_tokens": 3, "temperature": 0})
    return space


def _post(server: RunningServer, path: str, data: bytes,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_models_lists_the_library_and_the_aliases(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["summarize", "SmolLM2-135M-Instruct.Q4_1"]
    assert client.models.retrieve("summarize").owned_by == "workbench-alias"


def test_chat_without_streaming_counts_usage(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="smollm2", messages=HI, max_tokens=6,
                                            temperature=0, seed=1)
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = answer.usage
    assert usage is not None and 0 < usage.completion_tokens <= 6
    assert usage.prompt_tokens > 5  # the chat template's tokens are counted
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    again = client.chat.completions.create(model="1", messages=HI, max_tokens=6,
                                           temperature=0, seed=1)
    assert again.choices[0].message.content == choice.message.content  # by id, same seed


def test_chat_streamed_ends_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="smollm2", messages=HI, max_tokens=8,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert text.strip() and finishes[-1] in ("stop", "length")
    assert not chunks[-1].choices and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens <= 8
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1


def test_completions_send_the_prompt_as_it_is(client: openai.OpenAI) -> None:
    answer = client.completions.create(model="smollm2", prompt="The capital of France is",
                                       max_tokens=4, temperature=0)
    assert answer.object == "text_completion" and answer.choices[0].text
    assert answer.usage is not None and answer.usage.prompt_tokens <= 8  # no chat template


#: A city of at most 20 ASCII letters or spaces: the reply is at most 36 bytes, and every token
#: the grammar lets through is at least one byte, so 48 tokens always let it close (greedy
#: replies differ between CPUs: no test may depend on how long one CPU's answer is).
CITY = {"type": "object", "required": ["city"], "additionalProperties": False,
        "properties": {"city": {"type": "string", "pattern": "^[A-Za-z ]{1,20}$"}}}


def test_json_schema_response_format_is_enforced(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Name a city in JSON."}],
        max_tokens=48, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": CITY}})
    assert answer.choices[0].finish_reason == "stop"
    value = json.loads(answer.choices[0].message.content or "")
    assert set(value) == {"city"} and isinstance(value["city"], str)
    plain = client.chat.completions.create(model="smollm2", messages=HI, max_tokens=30,
                                           temperature=0,
                                           response_format={"type": "json_object"})
    content = plain.choices[0].message.content or ""
    assert content.startswith("{")  # an object, which has no bound: complete, or cut
    if plain.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict)
    else:
        assert plain.choices[0].finish_reason == "length"


def test_json_cut_by_the_token_limit_is_length(client: openai.OpenAI,
                                               server: RunningServer) -> None:
    """As OpenAI does: the cut text as it is, finish_reason "length" (no city fits in 2
    tokens); the host records why, for the window and the log."""
    from workbench.engine.settings import JSON_CUT_NOTE

    ask = {"model": "smollm2", "messages": [{"role": "user", "content": "Name a city."}],
           "max_tokens": 2, "temperature": 0,
           "response_format": {"type": "json_schema", "json_schema": {"name": "c",
                                                                      "schema": CITY}}}
    answer = client.chat.completions.create(**ask)
    content = answer.choices[0].message.content or ""
    assert answer.choices[0].finish_reason == "length" and content.startswith("{")
    assert answer.usage is not None and answer.usage.completion_tokens == 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)
    assert server.model_host.finished[-1].note == JSON_CUT_NOTE
    chunks = list(client.chat.completions.create(**ask, stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == content


def test_an_alias_brings_its_settings(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="SUMMARIZE", messages=HI)
    assert answer.model == "SUMMARIZE"
    assert answer.usage is not None and answer.usage.completion_tokens <= 3  # the alias's cap
    assert answer.choices[0].finish_reason == "length"


def test_stop_strings_end_the_text(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="smollm2", messages=HI, max_tokens=20,
                                            temperature=0, stop=[" "])
    assert " " not in (answer.choices[0].message.content or "")
    assert answer.choices[0].finish_reason == "stop"


def test_three_concurrent_requests_are_queued_and_all_answered(
        client: openai.OpenAI, server: RunningServer) -> None:
    before = len(server.model_host.finished)
    results: list[Any] = []

    def ask(index: int) -> None:
        try:
            results.append(client.chat.completions.create(
                model="smollm2", messages=[{"role": "user", "content": f"Say {index}."}],
                max_tokens=5))
        except Exception as error:  # recorded for the assertion
            results.append(error)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == 3 and all(hasattr(r, "choices") for r in results), results
    assert len(server.model_host.finished) - before == 3


def test_an_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=HI)
    assert "no-such-model" in str(caught.value)
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_a_malformed_body_is_400_in_openais_shape(server: RunningServer,
                                                  client: openai.OpenAI) -> None:
    status, body = _post(server, "/chat/completions", b"{not json")
    assert status == 400 and set(body["error"]) == {"message", "type", "param", "code"}
    status, body = _post(server, "/chat/completions",
                         json.dumps({"model": "smollm2", "messages": HI,
                                     "temperature": 9}).encode())
    assert status == 400 and body["error"]["param"] == "temperature"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="smollm2", messages=[{"role": "wizard",
                                                                   "content": "x"}])
    status, body = _post(server, "/embeddings",
                         json.dumps({"model": "smollm2", "input": 7}).encode())
    assert status == 400 and body["error"]["param"] == "input"


def test_a_client_that_leaves_mid_stream_stops_the_generation(
        client: openai.OpenAI, server: RunningServer) -> None:
    host = server.model_host
    before = len(host.finished)
    stream = client.chat.completions.create(
        model="smollm2", max_tokens=400, stream=True, temperature=1,
        messages=[{"role": "user", "content": "Count from 1 to 300, one number a line."}])
    received = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
        if received >= 3:
            break
    stream.close()
    deadline = time.monotonic() + 15
    while (len(host.finished) == before or host.busy) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(host.finished) == before + 1 and not host.busy
    ended = host.finished[-1]
    assert ended.finish_reason == "stopped" and ended.completion_tokens < 400
    # the engine is free: the next request is answered at once
    answer = client.chat.completions.create(model="smollm2", messages=HI, max_tokens=2)
    assert answer.choices[0].message.content is not None


def test_history_is_kept_only_when_turned_on(client: openai.OpenAI, space: Workspace) -> None:
    count = space.db.table("conversations").count
    client.chat.completions.create(model="smollm2", messages=HI, max_tokens=2)
    assert space.db.table("conversations").count == count
    set_setting(space.db, "server_keep_history", True)
    try:
        client.chat.completions.create(model="summarize", messages=HI)
        deadline = time.monotonic() + 10
        while space.db.table("conversations").count == count and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = list(space.db.query("select * from conversations order by id desc limit 1"))
        assert rows and rows[0]["title"] == "API: Say hello."
        roles = [r["role"] for r in space.db.query(
            "select role from messages where conversation_id = ? order by id", [rows[0]["id"]])]
        assert roles == ["user", "assistant"]
    finally:
        set_setting(space.db, "server_keep_history", False)


def test_other_addresses_need_a_key(space: Workspace) -> None:
    with pytest.raises(InvalidInputError, match="needs a key: --api-key-file"):
        start_server(space, host="0.0.0.0", port=0)
    check_bind("::1", None)  # loopback, v6: allowed
    result = CliRunner().invoke(cli, ["--data-dir", str(space.root), "serve", "--host",
                                      "0.0.0.0"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: --host 0.0.0.0: other computers could use your models; serving beyond this "
        "computer (127.0.0.1) needs a key: --api-key-file FILE (or WORKBENCH_API_KEY)"]


def test_a_wrong_or_missing_key_is_401(space: Workspace) -> None:
    running = start_server(space, port=0, api_key="s3cret")
    try:
        wrong = openai.OpenAI(base_url=running.url, api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.models.list()
        assert caught.value.body["code"] == "invalid_api_key"  # type: ignore[index]
        status, body = _post(running, "/chat/completions", b"{}")
        assert status == 401 and "missing" in body["error"]["message"]
        right = openai.OpenAI(base_url=running.url, api_key="s3cret", max_retries=0)
        assert "summarize" in [m.id for m in right.models.list()]
    finally:
        running.stop()


def test_the_model_is_unloaded_when_idle(space: Workspace) -> None:
    running = start_server(space, port=0, idle_unload_s=1)
    try:
        client = openai.OpenAI(base_url=running.url, api_key="x", max_retries=0)
        client.chat.completions.create(model="smollm2", messages=HI, max_tokens=1)
        assert running.model_host.model_name == "SmolLM2-135M-Instruct.Q4_1"
        deadline = time.monotonic() + 10
        while running.model_host.model_name and time.monotonic() < deadline:
            time.sleep(0.1)
        assert running.model_host.model_name is None
        assert running.model_host.engine.worker_pid is None  # the engine process ended
    finally:
        running.stop()


def test_alias_commands(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    run = CliRunner().invoke
    made = run(cli, ["--data-dir", home, "alias", "set", "code", "smollm2", "--set",
                     "temperature=0.1", "--set", "n_ctx=1024"])
    assert made.exit_code == 0, made.output
    assert made.output.strip() == "code -> 1:SmolLM2-135M-Instruct.Q4_1 (n_ctx=1024, " \
                                  "temperature=0.1)"
    listed = run(cli, ["--data-dir", home, "alias", "list", "--json"])
    assert json.loads(listed.output)[0]["settings"] == {"n_ctx": 1024, "temperature": 0.1}
    refused = run(cli, ["--data-dir", home, "alias", "set", "code", "smollm2", "--set",
                        "n_ctx=3"])
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    assert "256 to 1,048,576" in refused.output
    assert run(cli, ["--data-dir", home, "alias", "rm", "code"]).exit_code == 0
    gone = run(cli, ["--data-dir", home, "alias", "rm", "code"])
    assert gone.exit_code == 1 and "no such alias" in gone.output


def test_an_engine_crash_is_one_error_and_the_next_request_is_answered(
        client: openai.OpenAI, server: RunningServer) -> None:
    import os
    import signal

    stream = client.chat.completions.create(
        model="smollm2", max_tokens=400, stream=True, temperature=1,
        messages=[{"role": "user", "content": "Count from 1 to 300, one number a line."}])
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pid = server.model_host.engine.worker_pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
    assert "engine stopped" in str(caught.value) and "SIGKILL" in str(caught.value)
    answer = client.chat.completions.create(model="smollm2", messages=HI, max_tokens=2)
    assert answer.choices[0].message.content is not None  # a fresh engine process


def test_unknown_endpoints_tools_and_huge_bodies_are_refused_in_openais_shape(
        server: RunningServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(server.url + "/nope", timeout=10)
    assert caught.value.code == 404
    assert "no such endpoint" in json.loads(caught.value.read())["error"]["message"]
    status, body = _post(server, "/chat/completions", json.dumps(
        {"model": "smollm2", "messages": HI, "tools": [{"type": "function"}]}).encode())
    assert status == 400 and body["error"]["param"] == "tools"
    import http.client

    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.putrequest("POST", "/v1/chat/completions")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(17 << 20))  # refused before it is sent
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 413
    assert "larger than 16 MiB" in json.loads(answer.read())["error"]["message"]
    connection.close()


def test_stopping_the_server_mid_reply_stops_the_reply(space: Workspace) -> None:
    running = start_server(space, port=0)
    client = openai.OpenAI(base_url=running.url, api_key="x", max_retries=0, timeout=60)
    stream = client.chat.completions.create(
        model="smollm2", max_tokens=400, stream=True, temperature=1,
        messages=[{"role": "user", "content": "Count from 1 to 300, one number a line."}])
    next(chunk for chunk in stream if chunk.choices and chunk.choices[0].delta.content)
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 10
    assert running.model_host.finished[-1].finish_reason == "stopped"
    assert running.model_host.engine.worker_pid is None and not running.thread.is_alive()
    stream.close()
