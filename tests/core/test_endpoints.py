"""A second ``llm-workbench serve`` on loopback, started with a key, used through
``endpoint:NAME/MODEL`` as a trial's contender, as its judge and in ``compare``: the real test
model on both sides, the key read from an environment variable and never stored; and the key
kept in an OS keyring (an in-memory one installed through keyring's plugin API), used for
requests and never in the database, the data folder, an output or a log."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import keyring
import pytest
from click.testing import CliRunner
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from workbench import endpoints, keychain
from workbench.cli import cli
from workbench.trials import store
from workbench.trials.contenders import contenders_from
from workbench.trials.runner import TrialRun, create_trial
from workbench.trials.suites import SuitePrompt, create_suite

KEY = "wb-remote-Key-5f1e2d3c4b"
ROOT = Path(__file__).resolve().parents[2]
SETS = ["n_ctx=1024", "n_threads=1", "gpu_layers=0", "temperature=0", "seed=7",
        "max_tokens=12"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory):
    """``llm-workbench serve`` in a process of its own, with a key; its base URL."""
    home = tmp_path_factory.mktemp("remote") / "home"
    key_file = home.parent / "key.txt"
    key_file.write_text(KEY + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLM_WORKBENCH_HOME": str(home)}
    run = [sys.executable, "-m", "workbench", "--data-dir", str(home)]
    for key, value in (("threads", "1"), ("context_length", "1024")):
        subprocess.run([*run, "settings", key, value], env=env, check=True,
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    port = _free_port()
    process = subprocess.Popen([*run, "serve", "--port", str(port), "--api-key-file",
                                str(key_file)], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            request = urllib.request.Request(f"{url}/models",
                                             headers={"Authorization": f"Bearer {KEY}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the remote server did not start"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def added(db, remote, monkeypatch: pytest.MonkeyPatch) -> str:
    """The remote server added as endpoint ``box`` (its key in WB_REMOTE_KEY); the reference
    of the model it serves."""
    monkeypatch.setenv("WB_REMOTE_KEY", KEY)
    endpoint, note = endpoints.add_endpoint(db, "box", remote, key_env="WB_REMOTE_KEY")
    assert endpoint.models and note.startswith("it serves ")
    return f"endpoint:box/{endpoint.models[0]}"


def test_a_remote_serve_is_a_contender_and_the_judge_of_a_trial(
        db, engine, library_model, added, remote) -> None:
    host = remote.removeprefix("http://").removesuffix("/v1")
    judge = {"judge": {"rubric": "The reply names Paris.", "model": added, "min_score": 3,
                       "scale": 5}}
    suite = create_suite(db, "remote", [SuitePrompt("What is the capital of France?",
                                                    checks=[judge])])
    mine, theirs = contenders_from(db, [(str(library_model.id), SETS), (added, SETS)])
    assert f"(remote: {host})" in theirs.label and theirs.model_id is None
    assert theirs.model_source == f"remote: {host}" and theirs.file_size == 0
    # the endpoint is part of the contender's identity: asked again, the same one
    assert contenders_from(db, [(added, SETS)])[0].id == theirs.id
    trial_id = create_trial(db, suite.id, [mine, theirs], seed=3)
    events = list(TrialRun(db, engine, trial_id))
    assert store.get_trial_row(db, trial_id)["status"] == "done", [e.message for e in events]

    cells = {c["contender_id"]: c for c in store.trial_cells(db, trial_id)}
    far = cells[theirs.id]
    assert far["status"] == "done" and far["content"].strip()
    assert far["completion_tokens"] > 0 and far["peak_rss"] in (0, None)
    assert far["settings"]["speed"] in ("reported by the server", "measured from the stream")
    assert far["settings"]["host"] == host

    grades = store.trial_judgements(db, trial_id)
    assert len(grades) == 2
    for grade in grades:
        assert grade["error"] is None, grade["error"]
        assert 1 <= grade["score"] <= 5 and grade["reason"]
        assert grade["judge_model"].endswith(f"(remote: {host})")
        assert grade["self_judged"] == int(grade["contender_id"] == theirs.id)

    # the key is in no table of the database
    assert KEY.encode() not in Path(db.conn.execute("PRAGMA database_list").fetchone()[2]
                                    ).read_bytes()


def test_compare_and_endpoint_list_from_the_command_line(db, library_model, added,
                                                         remote) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["endpoint", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["name"], r["url"], r["key"], r["loopback"]) for r in rows] == [
        ("box", remote, "environment variable WB_REMOTE_KEY", True)]
    assert KEY not in listed.output
    result = runner.invoke(cli, ["compare", "-m", str(library_model.id), "-m", added,
                                 "--max-tokens", "6", "--json", "Say hi"])
    assert result.exit_code == 0, result.output
    columns = json.loads(result.output)["columns"]
    assert len(columns) == 2 and all(c["status"] == "done" for c in columns), columns
    assert any("(remote: 127.0.0.1:" in c["label"] for c in columns)


def test_a_wrong_key_is_one_line_that_does_not_show_it(db, library_model, remote,
                                                       monkeypatch) -> None:
    wrong = "wrong-Key-0000111122223333"
    monkeypatch.setenv("WB_WRONG_KEY", wrong)
    endpoint, note = endpoints.add_endpoint(db, "locked", remote, key_env="WB_WRONG_KEY")
    assert "refused the key (401" in note and wrong not in note
    result = CliRunner().invoke(cli, ["compare", "-m", str(library_model.id), "-m",
                                      "endpoint:locked/anything", "--max-tokens", "4",
                                      "--json", "Hi"])
    assert wrong not in result.output
    columns = json.loads(result.output)["columns"]
    failed = [c for c in columns if c["status"] == "error"]
    assert len(failed) == 1 and "refused the key (401" in failed[0]["error"]
    assert wrong not in failed[0]["error"]
    removed = CliRunner().invoke(cli, ["endpoint", "rm", "locked"])
    assert removed.exit_code == 0 and "Removed endpoint locked" in removed.output


# --- a key kept in the OS keyring ------------------------------------------------------------

class MemoryKeyring(KeyringBackend):
    """An OS keyring for the test, installed through keyring's own plugin API: a backend
    with a positive priority that keeps passwords in a dict."""

    priority = 10  # type: ignore[assignment]  # a plain figure is what keyring reads

    def __init__(self) -> None:
        super().__init__()
        self.kept: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.kept.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.kept[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.kept.pop((service, username), None) is None:
            raise PasswordDeleteError(f"no password for {username}")


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


def test_a_key_in_the_os_keyring_is_used_and_never_stored_or_logged(
        workspace, db, remote, memory_keyring: MemoryKeyring, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    runner = CliRunner()
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n")
    added = runner.invoke(cli, ["endpoint", "add", "vault", remote, "--key-file", str(key_file)])
    assert added.exit_code == 0, added.output
    assert "key: OS keyring" in added.output and "it serves " in added.output
    key_file.unlink()  # from now on the key exists only in the keyring
    assert memory_keyring.kept == {(keychain.SERVICE, "vault"): KEY}
    listed = runner.invoke(cli, ["endpoint", "list", "--json"])
    assert [r["key"] for r in json.loads(listed.output)] == ["OS keyring"]
    model = endpoints.get_endpoint(db, "vault").models[0]

    # a request to the server that demands the key: answered, with the keyring's key
    reply = runner.invoke(cli, ["chat", f"endpoint:vault/{model}", "Say hi",
                                "--max-tokens", "4"])
    assert reply.exit_code == 0, reply.output
    assert reply.output.strip()
    # the keyring's key is the one sent: another one there is refused by the server
    memory_keyring.kept[(keychain.SERVICE, "vault")] = "wb-wrong-Key-0000000000"
    refused = runner.invoke(cli, ["chat", f"endpoint:vault/{model}", "Say hi",
                                  "--max-tokens", "4"])
    assert refused.exit_code != 0 and "401" in refused.output, refused.output
    assert "wb-wrong-Key-0000000000" not in refused.output
    memory_keyring.kept[(keychain.SERVICE, "vault")] = KEY

    # in no file of the data folder (the SQLite file and its journal included), no output, no log
    for path in Path(workspace.root).rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    for output in (added.output, listed.output, reply.output, refused.output, caplog.text):
        assert KEY not in output
    removed = runner.invoke(cli, ["endpoint", "rm", "vault"])
    assert removed.exit_code == 0, removed.output
    assert memory_keyring.kept == {}  # forgetting the endpoint forgets its key


def test_without_a_keyring_a_key_is_refused_in_one_line_and_nothing_is_added(
        db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # the package not installed
    assert not keychain.keyring_available()
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["endpoint", "add", "vault", "http://127.0.0.1:9/v1",
                                 "--key-file", str(key_file)])
    assert result.exit_code != 0
    assert "no OS keyring" in result.output and "--key-env VAR" in result.output
    assert KEY not in result.output and "Traceback" not in result.output
    assert endpoints.list_endpoints(db) == []
    # the way that works there: the key in an environment variable
    env = runner.invoke(cli, ["endpoint", "add", "vault", "http://127.0.0.1:9/v1",
                              "--key-env", "WB_REMOTE_KEY"])
    assert env.exit_code == 0, env.output
    listed = runner.invoke(cli, ["endpoint", "list"])
    assert "key: environment variable WB_REMOTE_KEY" in listed.output
    assert "(no OS keyring on this computer: give keys with --key-env VAR)" in listed.output
