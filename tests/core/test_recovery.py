"""After a kill, the CLI (like the window) marks what the dead process left streaming or
running as interrupted, and leaves alone what another live process is writing right now."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from workbench import conversations as convs
from workbench.cli import cli
from workbench.recovery import repair_after_kill
from workbench.store import open_database
from workbench.trials import store as trial_store

# Another Workbench process: starts a reply, a trial and a comparison, then waits to be killed.
WRITER = textwrap.dedent("""
    import sys, time
    from workbench import conversations as convs
    from workbench.store import open_database
    from workbench.trials import store
    db = open_database(sys.argv[1])
    chat = convs.create_conversation(db, model_id=None)
    convs.add_message(db, chat, "assistant", "half a reply", parent_id=None,
                      status="streaming")
    suite = db["suites"].insert({"name": "s", "created_at": "now"}).last_pk
    trial = store.insert_trial(db, suite, [], seed=1, repeats=1)
    store.set_trial_status(db, trial, "running")
    store.create_comparison(db, "prompt", None, False, [])
    print("ready", flush=True)
    time.sleep(600)
""")


def _statuses(path: Path) -> tuple[str, str, str]:
    db = open_database(path)
    try:
        return (next(iter(db["messages"].rows))["status"], next(iter(db["trials"].rows))["status"],
                next(iter(db["comparisons"].rows))["status"])
    finally:
        db.close()


def test_cli_start_marks_a_killed_process_s_work_but_not_a_live_one_s(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = home / "workbench.db"
    open_database(path).close()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        runner = CliRunner()
        assert runner.invoke(cli, ["--data-dir", str(home), "history", "list"]).exit_code == 0
        assert _statuses(path) == ("streaming", "running", "running")  # alive: left alone
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert runner.invoke(cli, ["--data-dir", str(home), "history", "list"]).exit_code == 0
    assert _statuses(path) == ("interrupted", "interrupted", "interrupted")
    db = open_database(path)
    assert next(iter(db["messages"].rows))["content"] == "half a reply"  # the text is kept
    assert not list((home / "running").glob("*.lock"))  # the dead process's lock is cleared


def test_rows_from_older_versions_without_an_owner_are_marked(db) -> None:
    chat = convs.create_conversation(db, model_id=None)
    reply = convs.add_message(db, chat, "assistant", "x", parent_id=None, status="streaming")
    db["messages"].update(reply, {"owner": None})  # as an older Workbench wrote it
    assert repair_after_kill(db).replies == 1
    assert convs.get_message(db, reply).status == "interrupted"


def test_this_process_s_own_work_is_not_marked(db) -> None:
    chat = convs.create_conversation(db, model_id=None)
    reply = convs.add_message(db, chat, "assistant", "x", parent_id=None, status="streaming")
    suite = db["suites"].insert({"name": "s", "created_at": "now"}).last_pk
    trial = trial_store.insert_trial(db, suite, [], seed=1, repeats=1)
    trial_store.set_trial_status(db, trial, "running")
    assert not repair_after_kill(db)
    assert convs.get_message(db, reply).status == "streaming"


def test_a_read_only_database_still_answers(tmp_path: Path, monkeypatch) -> None:
    """Repair is housekeeping: a database it cannot write does not stop a reading command."""
    from workbench.store.failures import ReadOnlyDatabaseError

    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(cli, ["--data-dir", str(home), "history", "list"]).exit_code == 0

    def refuse(*_args: object) -> int:
        raise ReadOnlyDatabaseError("w.db: the database is read-only")

    monkeypatch.setattr("workbench.recovery.mark_interrupted", refuse)
    result = runner.invoke(cli, ["--data-dir", str(home), "history", "list"])
    assert result.exit_code == 0, result.output


def test_lock_files_live_beside_the_database(workspace) -> None:
    chat = convs.create_conversation(workspace.db, model_id=None)
    convs.add_message(workspace.db, chat, "assistant", "x", parent_id=None, status="streaming")
    locks = list((workspace.root / "running").glob("*.lock"))
    assert len(locks) == 1 and locks[0].stem.startswith(f"{os.getpid()}-")
