"""A database that cannot be written says why in one line: full, read-only, locked, damaged.

The failures are real: a 2 MB tmpfs that fills up (when the tests may mount one; SQLite's
``max_page_count`` otherwise), a read-only mount or file, a second connection holding an
exclusive lock, a page overwritten beyond the first. Each must end in a StoreError subclass
naming the database, the reason and what was kept, with the data saved before still there.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.errors import StoreError
from workbench.settings import get_setting, set_setting
from workbench.store import db as store_db
from workbench.store import open_database
from workbench.store.failures import (
    BACKUP_DIR,
    DamagedDatabaseError,
    DatabaseFullError,
    DatabaseLockedError,
    ReadOnlyDatabaseError,
)


@pytest.fixture(autouse=True)
def _check_every_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test damages files this process already opened: check them again."""
    monkeypatch.setattr(store_db, "_checked", set())


def _one_line(error: BaseException, path: Path) -> str:
    text = str(error)
    assert "\n" not in text and str(path) in text, text
    assert "saved before is kept" in text or "backup" in text, text
    return text


@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "2m") -> Iterator[Path]:
    """A small tmpfs at ``folder``, or a skip where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _fill(db, rows: int = 400) -> None:
    conversation = db["conversations"].insert({"title": "t", "created_at": "now"}).last_pk
    db["messages"].insert_all(
        {"conversation_id": conversation, "role": "user", "content": f"message {i} " * 40,
         "created_at": "now"} for i in range(rows))


def test_full_disk_on_a_real_tmpfs(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small") as folder:
        path = folder / "w.db"
        db = open_database(path)
        set_setting(db, "offline", True)
        with pytest.raises(DatabaseFullError) as caught:
            for _ in range(100):
                _fill(db, 50)
        text = _one_line(caught.value, path)
        assert "disk is full" in text
        assert get_setting(db, "offline") is True  # what was saved before is still there
        db.close()


def test_a_disk_already_full_when_opened(tmp_path: Path) -> None:
    """SQLite reports no room for its WAL side file as an I/O error: still "disk is full"."""
    with tmpfs(tmp_path / "small", "1m") as folder:
        path = folder / "w.db"
        db = open_database(path)
        set_setting(db, "offline", True)
        db.close()
        filler = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while os.write(filler, b"\0" * 4096):
                pass
        os.close(filler)
        with pytest.raises(DatabaseFullError) as caught:
            set_setting(open_database(path), "offline", False)
        assert "disk is full" in _one_line(caught.value, path)


def test_full_database_by_page_limit(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = open_database(path)
    set_setting(db, "offline", True)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(DatabaseFullError) as caught:
        _fill(db)
    assert "disk is full" in _one_line(caught.value, path)
    assert isinstance(caught.value, sqlite3.OperationalError)  # still what sqlite3 raised
    assert db["messages"].count == 0  # the failed insert left nothing half-written
    assert get_setting(db, "offline") is True


def test_read_only_mount(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "8m") as folder:
        path = folder / "w.db"
        db = open_database(path)
        set_setting(db, "offline", True)
        db.close()
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        db = open_database(path)  # reading a read-only database still works
        assert get_setting(db, "offline") is True
        with pytest.raises(ReadOnlyDatabaseError) as caught:
            set_setting(db, "offline", False)
        assert "read-only" in _one_line(caught.value, path)
        db.close()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes read-only files anyway (the mount test covers root)")
def test_read_only_file(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = open_database(path)
    set_setting(db, "offline", True)
    db.close()
    path.chmod(0o444)
    try:
        db = open_database(path)
        with pytest.raises(ReadOnlyDatabaseError) as caught:
            set_setting(db, "offline", False)
        assert "read-only" in _one_line(caught.value, path)
        db.close()
    finally:
        path.chmod(0o644)


def test_locked_by_another_program_past_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    open_database(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        db = open_database(path, busy_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(DatabaseLockedError) as caught:
            set_setting(db, "offline", True)
        assert 0.25 < time.monotonic() - started < 10
        text = _one_line(caught.value, path)
        assert "locked by another program for more than 0.3 s" in text
    finally:
        other.execute("ROLLBACK")
        other.close()
    set_setting(db, "offline", True)  # once the other program lets go, writes work again
    assert get_setting(db, "offline") is True


def _leaf_page_of(path: Path, table: str) -> tuple[int, int]:
    """(page size, number of a leaf page) of ``table``'s b-tree, read from the file itself."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                            [table]).fetchone()[0]
    data = path.read_bytes()
    while True:
        start = (page - 1) * page_size
        header = start + (100 if page == 1 else 0)
        if data[header] == 0x0D:  # a table leaf
            return page_size, page
        assert data[header] == 0x05, "expected an interior table page"
        first_cell = struct.unpack(">H", data[header + 12:header + 14])[0]
        page = struct.unpack(">I", data[start + first_cell:start + first_cell + 4])[0]


def _damage(path: Path) -> int:
    """Overwrite one leaf page of the messages table; returns its number (never page 1)."""
    page_size, page = _leaf_page_of(path, "messages")
    assert page > 1
    with path.open("r+b") as file:
        file.seek((page - 1) * page_size)
        file.write(b"\xff\x13" * (page_size // 2))
    return page


def _database_with_a_backup(tmp_path: Path) -> tuple[Path, Path]:
    path = tmp_path / "w.db"
    db = open_database(path)
    _fill(db, 800)
    db.close()  # the last connection checkpoints the WAL into the file
    backup = tmp_path / BACKUP_DIR / "w_v3_20260101-120000.db"
    backup.parent.mkdir()
    backup.write_bytes(path.read_bytes())
    return path, backup


def test_damage_beyond_the_first_page_is_found_at_open_and_the_backup_offered(
        tmp_path: Path) -> None:
    path, backup = _database_with_a_backup(tmp_path)
    assert _damage(path) > 2
    with pytest.raises(DamagedDatabaseError) as caught:
        open_database(path)
    text = _one_line(caught.value, path)
    assert "damaged" in text and str(backup) in text
    assert caught.value.backup == backup


def test_damage_in_a_large_file_is_found_at_the_first_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, backup = _database_with_a_backup(tmp_path)
    _damage(path)
    monkeypatch.setattr(store_db, "QUICK_CHECK_MAX_BYTES", 0)  # as if too large to check
    db = open_database(path)
    with pytest.raises(DamagedDatabaseError) as caught:
        list(db.query("SELECT id, content FROM messages"))
    assert str(backup) in _one_line(caught.value, path)


def test_damage_without_a_backup_says_so(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = open_database(path)
    _fill(db, 800)
    db.close()
    _damage(path)
    with pytest.raises(DamagedDatabaseError, match="no backup") as caught:
        open_database(path)
    assert caught.value.backup is None


def test_cli_says_why_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(cli, ["--data-dir", str(home), "settings"]).exit_code == 0
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT", 0.2)
    other = sqlite3.connect(home / "workbench.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        result = runner.invoke(cli, ["--data-dir", str(home), "settings", "offline", "true"])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "locked" in lines[0]
    assert "Traceback" not in result.output


def test_a_raw_sqlite_error_is_still_one_line(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The last resort: an sqlite3 error no translation knows is one line, not a traceback."""
    import workbench.cli.settings as settings_cli

    def broken(*_args: object) -> None:
        raise sqlite3.IntegrityError("UNIQUE constraint failed: settings.key")

    monkeypatch.setattr(settings_cli, "set_setting", broken)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "settings", "offline", "1"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: database: UNIQUE constraint failed: settings.key"]


def test_store_errors_are_workbench_errors() -> None:
    for kind in (DatabaseFullError, ReadOnlyDatabaseError, DatabaseLockedError,
                 DamagedDatabaseError):
        assert issubclass(kind, StoreError)


def _bytes_over_text(path: Path, where: str) -> None:
    """Bytes that are not UTF-8 where SQLite keeps text: the schema's own text (SQLite's
    message then quotes them) or a message's content."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        if where == "schema":
            conn.execute("PRAGMA writable_schema=ON")
            conn.execute("UPDATE sqlite_master SET sql = CAST(x'435245415445205441424c452022"
                         "fffec328' AS TEXT) WHERE name = 'messages'")
        else:
            conn.execute("UPDATE messages SET content = CAST(x'fffec328' AS TEXT)")


def test_bytes_that_are_not_text_in_the_schema_are_damage_in_one_line(tmp_path: Path) -> None:
    """Bytes over the schema's text (SQLite's own message then quotes them, and Python
    cannot decode it): ``history list``, ``models list`` and ``chat`` say "damaged" and
    offer ``.recover``, as for any other damaged page."""
    home = tmp_path / "home"
    db = open_database(home / "workbench.db")
    _fill(db, 50)
    db.close()
    _bytes_over_text(home / "workbench.db", "schema")
    runner = CliRunner()
    for command in (["history", "list"], ["models", "list"], ["chat", "1", "hi"]):
        result = runner.invoke(cli, ["--data-dir", str(home), *command])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1, result.output
        assert "the database is damaged (malformed database schema" in lines[0]
        assert ".recover" in lines[0] and "\ufffd" not in lines[0]


def test_bytes_that_are_not_text_in_a_text_column_are_damage(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = open_database(path)
    _fill(db, 50)
    db.close()
    _bytes_over_text(path, "text column")
    db = open_database(path)
    for read in (lambda: list(db.query("SELECT content FROM messages")),
                 lambda: db.execute("SELECT content FROM messages").fetchall(),
                 lambda: db.execute("SELECT content FROM messages").fetchone()):
        with pytest.raises(DamagedDatabaseError) as caught:
            read()
        assert "a text value in column 'content' is not valid UTF-8" in _one_line(
            caught.value, path)


def test_a_damage_report_over_several_lines_is_one(tmp_path: Path) -> None:
    from workbench.store.failures import damaged

    text = str(damaged(tmp_path / "w.db", "*** in database main ***\nOn tree page 39 cell 6:"
                                          " Rowid 109 out of order\n\x1b[2J" + "x" * 999))
    assert "\n" not in text and "\x1b" not in text and "main ***; On tree page 39" in text
    assert len(text) < 600
