"""A remote endpoint's every bad answer is one line naming it as *remote: HOST*, the text
streamed so far is kept, and its key never shows: against a loopback stand-in
(``endpoint_stub``) that answers HTML, 401, 429, 500, malformed JSON, a stream cut midway, or
nothing at all, and a port nobody listens on."""

from __future__ import annotations

import socket

import pytest
from endpoint_stub import stub_server

from workbench import endpoints
from workbench.engine import Engine, SamplingSettings
from workbench.engine import endpoint_http as remote_module
from workbench.engine.endpoint_http import EndpointError, Target, check_url
from workbench.errors import InvalidInputError, OfflineError, WorkbenchError
from workbench.keychain import redact
from workbench.model_settings import runnable
from workbench.settings import set_setting
from workbench.trials.contenders import contenders_from

KEY = "sk-test-Secret-0123456789"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def _reply(base: str, case: str) -> tuple[str, str, str]:
    """(error line, text kept, finish reason) of one reply from the stub's ``case``."""
    target = Target("stub", f"{base}/{case}/v1", "stub-model", key_env="WB_STUB_KEY")
    reply = Engine().reply(target.path, MESSAGES, sampling=SamplingSettings(max_tokens=8))
    try:
        for _ in reply:
            pass
    except WorkbenchError as error:
        return str(error), reply.text, reply.stats.finish_reason
    return "", reply.text, reply.stats.finish_reason


@pytest.fixture
def base(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WB_STUB_KEY", KEY)
    monkeypatch.setattr(remote_module, "READ_S", 0.5)
    with stub_server() as url:
        yield url


def test_a_whole_reply_keeps_the_speed_the_server_reports_and_claims_no_memory(base) -> None:
    error, text, finish = _reply(base, "ok")
    assert error == "" and text == "Hello world" and finish == "stop"
    target = Target("stub", f"{base}/ok/v1", "stub-model", key_env="WB_STUB_KEY")
    reply = Engine().reply(target.path, MESSAGES)
    assert "".join(reply) == "Hello world"
    stats = reply.stats
    assert stats.gen_tps == 42.5 and stats.prompt_tps == 300.0
    assert stats.settings["speed"] == "reported by the server"
    assert stats.prompt_tokens == 9 and stats.completion_tokens == 2
    assert stats.peak_rss == 0 and stats.load_ms is None  # memory is not claimed
    assert "peak" not in stats.summary()


@pytest.mark.parametrize(("case", "said", "kept"), [
    ("html", "text/html, not an event stream (an HTML page, not the API)", ""),
    ("unauthorized", "refused the key (401", ""),
    ("busy", "too many requests (429: rate limited); it asks to wait 7 s", ""),
    ("broken", "server error (500", ""),
    ("malformed", "sent a malformed event ('{not json'); the text so far is kept", "Hel"),
    ("cut", "its stream stopped midway (after 9 characters); the text so far is kept",
     "Hello wor"),
    ("slow", "sent nothing for", "Hel"),
])
def test_each_bad_answer_is_one_line_keeps_the_text_and_hides_the_key(
        base, case, said, kept) -> None:
    error, text, finish = _reply(base, case)
    host = base.removeprefix("http://")
    assert error.startswith(f"endpoint stub (remote: {host}): ")
    assert said in error
    assert "\n" not in error and KEY not in error
    assert text == kept
    assert finish in ("error", "interrupted")


def test_the_key_the_server_echoes_is_redacted(base) -> None:
    error, _, _ = _reply(base, "unauthorized")
    assert "Invalid API key: [key hidden]" in error
    error, _, _ = _reply(base, "broken")
    assert "Bearer [key hidden]" in error and KEY not in error
    assert redact(f"Authorization: Bearer {KEY}") == "Authorization: Bearer [key hidden]"
    assert redact(f"x?api_key={KEY}") == "x?api_key=[key hidden]"


def test_a_refused_connection_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WB_STUB_KEY", KEY)
    with socket.socket() as sock:  # a port nobody listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error, text, _ = _reply(f"http://127.0.0.1:{port}", "ok")
    assert error == (f"endpoint stub (remote: 127.0.0.1:{port}): refused the connection (is "
                     "the server running, and is the address right?)")


def test_a_stop_from_another_thread_ends_a_silent_wait_at_once(base, monkeypatch) -> None:
    import threading
    import time

    monkeypatch.setattr(remote_module, "READ_S", 30.0)
    target = Target("stub", f"{base}/slow/v1", "stub-model", key_env="WB_STUB_KEY")
    reply = Engine().reply(target.path, MESSAGES)
    pieces = iter(reply)
    assert next(pieces) == "Hel"
    started = time.perf_counter()
    threading.Timer(0.2, reply.stop).start()
    assert list(pieces) == []
    assert time.perf_counter() - started < 2
    assert reply.stopped and reply.stats.finish_reason == "stopped" and reply.text == "Hel"


def test_an_unset_key_variable_and_bad_urls_are_one_line(base, monkeypatch) -> None:
    monkeypatch.delenv("WB_STUB_KEY")
    error, _, _ = _reply(base, "ok")
    assert error == ("endpoint stub: its key is read from the environment variable "
                     "WB_STUB_KEY, which is not set here")
    for bad in ("ftp://x/v1", "127.0.0.1:8080", f"http://u:{KEY}@127.0.0.1/v1",
                f"http://127.0.0.1/v1?api_key={KEY}"):
        with pytest.raises(InvalidInputError) as caught:
            check_url(bad)
        assert KEY not in str(caught.value)


def test_offline_refuses_a_non_loopback_endpoint_before_any_connection(db) -> None:
    # 192.0.2.1 is TEST-NET-1: never reached; offline, it is not even tried
    set_setting(db, "offline", True)
    added, note = endpoints.add_endpoint(db, "far", "http://192.0.2.1:8080/v1")
    assert "offline" in note
    line = ("endpoint far (remote: 192.0.2.1:8080): Workbench is offline, so it contacts no "
            "other computer; turn offline mode off to use it")
    with pytest.raises(OfflineError) as caught:
        runnable(db, "endpoint:far/some-model")
    assert str(caught.value) == line
    with pytest.raises(OfflineError):
        contenders_from(db, [("endpoint:far/some-model", [])])
    # the privacy page lists it all the same
    assert "http://192.0.2.1:8080/v1" in [c["address"] for c in endpoints.contacts(db)]
    assert isinstance(EndpointError("x"), WorkbenchError)


def test_chat_from_the_command_line_with_an_endpoint(db, base) -> None:
    from click.testing import CliRunner

    from workbench.cli import cli

    runner = CliRunner()
    added = runner.invoke(cli, ["endpoint", "add", "stub", f"{base}/ok/v1", "--key-env",
                                "WB_STUB_KEY"])
    assert "it serves stub-model" in added.output and KEY not in added.output
    result = runner.invoke(cli, ["chat", "endpoint:stub/stub-model", "Hello"])
    assert result.exit_code == 0 and result.output.startswith("Hello world")
    assert "42.5 tok/s" in result.output and "peak" not in result.output
    refused = runner.invoke(cli, ["endpoint", "add", "stub", f"{base}/ok/v1"])
    assert refused.exit_code == 1 and "already added" in refused.output
