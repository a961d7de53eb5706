import hashlib
from pathlib import Path

import pytest
from sqlite_utils import Database

from workbench.errors import NewerDatabaseError, StoreError
from workbench.store import open_database
from workbench.store.db import BACKUP_DIR
from workbench.store.migrations import migrations

FIXTURES = Path(__file__).parent.parent / "fixtures"
ALL = [m.name for m in migrations._migrations]


def test_empty_database_gets_every_migration(tmp_path: Path) -> None:
    db = open_database(tmp_path / "w.db")
    assert [m.name for m in migrations.applied(db)] == ALL
    assert {"models", "conversations", "messages", "settings"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert not (tmp_path / BACKUP_DIR).exists()  # nothing to copy aside for a new file


@pytest.mark.parametrize("stop_before", ALL[1:] or ["none"])
def test_every_earlier_schema_upgrades_and_is_copied_aside(tmp_path: Path,
                                                          stop_before: str) -> None:
    path = tmp_path / "w.db"
    old = Database(path)
    migrations.apply(old, stop_before=stop_before)
    done = len(migrations.applied(old))
    old.close()
    db = open_database(path)
    assert [m.name for m in migrations.applied(db)] == ALL
    if stop_before != "none":
        backups = list((tmp_path / BACKUP_DIR).glob(f"w_v{done}_*.db"))
        assert len(backups) == 1
        assert len(migrations.applied(Database(backups[0]))) == done


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("schema-*.db")), ids=lambda p: p.stem)
def test_released_schema_fixtures_upgrade(tmp_path: Path, fixture: Path) -> None:
    copy = tmp_path / fixture.name
    copy.write_bytes(fixture.read_bytes())
    db = open_database(copy)
    assert [m.name for m in migrations.applied(db)] == ALL
    assert db["messages"].count > 0  # the fixture's chats survived


def test_released_fixtures_exist() -> None:
    assert list(FIXTURES.glob("schema-*.db")), "keep a fixture database per released schema"


def test_newer_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = open_database(path)
    db["_sqlite_migrations"].insert(
        {"migration_set": "workbench", "name": "m999_from_the_future", "applied_at": "x"}
    )
    db.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(NewerDatabaseError, match="newer version of Workbench"):
        open_database(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as error:  # shown as one line, never a traceback
        open_database(path)
    assert "w.db" in str(error.value) and "\n" not in str(error.value)
