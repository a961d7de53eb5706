"""Hostile Hub answers: odd field types, a CDN that keeps cutting, long names, echoed tokens.

All against the loopback stand-in (tests/hub_standin.py), except the token echo, which needs a
server that copies the request's Authorization header into its error (a few lines below).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from click.testing import CliRunner  # noqa: E402
from hub_standin import MODEL_FILE, REPO, TOKEN, StandinFile, StandinRepo  # noqa: E402

pytest_plugins = ["hub_fixtures"]

from workbench.cli import cli  # noqa: E402
from workbench.errors import DownloadError, HubError  # noqa: E402
from workbench.hub.client import HubClient  # noqa: E402
from workbench.hub.download import partial_paths, target_path  # noqa: E402
from workbench.hub.files import list_files  # noqa: E402
from workbench.hub.remote_header import read_remote_header  # noqa: E402
from workbench.hub.search import search_models  # noqa: E402


def _cli(workspace, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--data-dir", str(workspace.root), *args])
    return result.exit_code, result.output


def _one_line(code: int, output: str) -> str:
    assert code == 1, output
    assert output.count("\n") == 1 and output.startswith("Error: "), output
    return output


def test_search_with_a_count_that_is_not_a_number(hub, hub_workspace, test_model_file) -> None:
    hub.add(StandinRepo("odd-org/Many-GGUF", [StandinFile(MODEL_FILE, test_model_file)],
                        downloads="many", likes=[1], architecture="llama",  # type: ignore[arg-type]
                        context_length="long", parameters=-5))  # type: ignore[arg-type]
    code, output = _cli(hub_workspace, "search", "Many")
    assert code == 0, output
    assert "odd-org/Many-GGUF" in output and "Traceback" not in output
    found = search_models(HubClient(endpoint=hub.endpoint), "Many")[0]
    assert (found.downloads, found.likes, found.context_length, found.parameters) == (
        None, None, None, None)


def test_search_with_a_date_that_is_not_a_date(hub, hub_workspace, test_model_file) -> None:
    hub.add(StandinRepo("odd-org/Yesterday-GGUF", [StandinFile(MODEL_FILE, test_model_file)],
                        last_modified="yesterday"))
    line = _one_line(*_cli(hub_workspace, "search", "Yesterday"))
    assert "sent an answer Workbench cannot read" in line and "yesterday" in line
    line = _one_line(*_cli(hub_workspace, "files", "odd-org/Yesterday-GGUF"))
    assert "cannot read" in line


def test_odd_fields_are_left_out_not_trusted() -> None:
    """Each field of a Hub answer is taken only with the type Workbench uses."""
    from types import SimpleNamespace

    from workbench.hub.files import count_or_none, gguf_facts, license_of, text_or_none

    assert [count_or_none(v) for v in (5, "5", "big", True, -1, 2**70, 3.0, None)] == [
        5, None, None, None, None, None, None, None]
    assert [text_or_none(v) for v in ("mit", 7, "", ["x"], None)] == ["mit", None, None, None,
                                                                      None]
    odd = SimpleNamespace(gguf={"architecture": ["llama"], "context_length": "8k",
                                "total": 1.5e9}, tags="license:mit", card_data={"license": 3})
    assert gguf_facts(odd) == (None, None, None)
    assert license_of(odd) is None
    assert gguf_facts(SimpleNamespace(gguf="yes")) == (None, None, None)


def test_header_read_survives_a_few_cuts(hub, hub_client) -> None:
    hub.faults.cut_after = 50_000
    hub.faults.cut_times = 2
    remote = read_remote_header(hub_client, REPO, MODEL_FILE)
    assert remote.header.architecture == "llama"
    assert remote.requests >= 3


def test_cdn_that_keeps_cutting_during_the_header_read(hub, hub_workspace) -> None:
    hub.faults.cut_after = 0
    hub.faults.cut_times = 1000
    started = time.perf_counter()
    with pytest.raises(HubError, match=r"the connection to localhost:\d+ broke 5 times while "
                                      "reading the header"):
        read_remote_header(HubClient(endpoint=hub.endpoint, timeout=2.0), REPO, MODEL_FILE)
    assert time.perf_counter() - started < 20
    code, output = _cli(hub_workspace, "files", REPO)
    assert code == 0 and "header not readable" in output, output


def test_partial_names_stay_under_the_file_system_limit(tmp_path: Path) -> None:
    deep = "/".join(["folder-with-a-long-name-" + "x" * 40] * 5) + "/model.Q4_K_M.gguf"
    partial, record = partial_paths(tmp_path, REPO, deep)
    assert len(partial.name.encode()) <= 210 and len(record.name.encode()) <= 210
    assert partial.name.endswith(".part") and partial.stem.startswith("test-org--SmolLM2")
    other, _ = partial_paths(tmp_path, REPO, deep.replace("model", "other"))
    assert other != partial  # the hash keeps two long names apart
    partial.parent.mkdir(parents=True)
    (partial.parent / (partial.name + ".lock")).write_bytes(b"")  # the lock fits too
    with pytest.raises(DownloadError, match="longer than the 255 bytes"):
        target_path(tmp_path, REPO, "a" * 300 + ".gguf")


def test_pull_of_a_file_with_a_long_path(hub, hub_workspace, test_model_file) -> None:
    name = "/".join(["q" * 60] * 4) + "/" + MODEL_FILE
    hub.add(StandinRepo("long-org/Deep-GGUF", [StandinFile(name, test_model_file)]))
    code, output = _cli(hub_workspace, "pull", "long-org/Deep-GGUF", name)
    assert code == 0 and "Added as model" in output, output


class _EchoHeaders(BaseHTTPRequestHandler):
    """A server error that echoes the request's headers, as some proxies do."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        echoed = f"bad request; headers were: Authorization: {self.headers['Authorization']}"
        body = json.dumps({"error": echoed}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Message", echoed)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo_server(fast_backoff):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("token", [TOKEN, "custom-secret-without-prefix"])
def test_a_server_error_echoing_the_token_does_not_print_it(echo_server, token) -> None:
    client = HubClient(endpoint=echo_server, token=token, timeout=2.0)
    for call in (lambda: search_models(client, "x"), lambda: list_files(client, "a/b")):
        with pytest.raises(HubError) as error:
            call()
        message = str(error.value)
        assert token not in message and "[redacted]" in message, message
        assert "HTTP 500" in message


def test_the_cli_does_not_print_the_token(echo_server, workspace, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", echo_server)
    code, output = _cli(workspace, "search", "x")
    assert code == 1 and TOKEN not in output and "[redacted]" in output, output


# --- the last of the hostile answers ----------------------------------------------------------

class _Nested(BaseHTTPRequestHandler):
    """Every answer a JSON value nested 2,000 deep: past Python's recursion limit."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = ('{"id": "a/b", "siblings": ' + "[" * 2000 + "]" * 2000 + "}").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_an_answer_nested_2000_deep_is_one_line(fast_backoff) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Nested)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = HubClient(endpoint=f"http://127.0.0.1:{server.server_address[1]}",
                           timeout=2.0, retries=0, backoff=0.01)
        with pytest.raises(HubError, match="sent an answer Workbench cannot read"):
            list_files(client, "a/b")
        with pytest.raises(HubError, match="sent an answer Workbench cannot read"):
            search_models(client, "b")
    finally:
        server.shutdown()
        server.server_close()


def test_a_path_too_long_to_save_is_refused_before_downloading(hub, hub_workspace,
                                                                test_model_file) -> None:
    name = "/".join(["d" * 200] * 25) + "/" + MODEL_FILE  # each name fits, the path does not
    hub.add(StandinRepo("long-org/Deeper-GGUF", [StandinFile(name, test_model_file)]))
    line = _one_line(*_cli(hub_workspace, "pull", "long-org/Deeper-GGUF", name))
    assert "longer than the" in line and "this system allows" in line
    assert hub.range_headers == []  # not one byte of the file was asked for


def test_a_newline_in_a_file_name_stays_on_the_refusal_s_line(hub, hub_workspace) -> None:
    line = _one_line(*_cli(hub_workspace, "pull", REPO, "evil\n../x.gguf"))
    assert "refused" in line and "evil\\x0a../x.gguf" in line


def test_a_redirect_that_fails_names_the_host_that_failed(hub, hub_client) -> None:
    hub.cdn_base = "http://localhost:9"  # the discard port: nothing listens there
    with pytest.raises(HubError) as caught:
        read_remote_header(hub_client, REPO, MODEL_FILE)
    assert "the connection to localhost:9 broke" in str(caught.value), caught.value
    assert hub.endpoint.split("//")[1] not in str(caught.value)


def test_a_size_the_hub_did_not_give_is_unknown_not_zero() -> None:
    from workbench.cli.hub import _bar, _of
    from workbench.hub.download import PullEvent

    assert _of(1_000_000, 0) == "1.0 MB (size unknown)"
    assert _of(1_000_000, -5) == "1.0 MB (size unknown)"
    bar = _bar(PullEvent("download", done=1_000_000, total=0))
    assert "of 0 B" not in bar and "size unknown" in bar
    assert _of(1_000_000, 2_000_000) == "1.0 MB of 2.0 MB"
