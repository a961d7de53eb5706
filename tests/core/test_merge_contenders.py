"""m014: an old database's duplicate contender rows (one identity, several rows that differed
only in threads) merge into the lowest id on upgrade, every reference repointed, so a vote
that showed two of them counts once; a group two of whose rows ran in one trial stays."""

from __future__ import annotations

import json
from pathlib import Path

from sqlite_utils import Database

from workbench.store import open_database
from workbench.store.migrations import _contender_identity, migrations
from workbench.trials.contenders import Contender, contender_identity

MERGE = "m014_merge_duplicate_contenders"
T = "2025-01-01T00:00:00"


def _contender(db: Database, cid: int, sha: str, **settings: object) -> None:
    full = {"n_ctx": 2048, "n_threads": 4, "temperature": 0.7, "seed": 1,
            "system_prompt": None, **settings}
    db["contenders"].insert({"id": cid, "fingerprint": f"old-{cid}", "label": f"m{cid}",
                             "model_name": "m", "model_path": f"/m/{sha}.gguf",
                             "model_sha256": sha, "model_source": "local", "file_size": 1,
                             "settings": json.dumps(full), "created_at": T})


def _old_database(path: Path) -> None:
    """Every migration before m014, then rows as the code before contender identity wrote
    them: 1 and 2 are one contender (threads 4 and 8), 3 another model, 6 the first model at
    another temperature; 4 and 5 are one contender that ran side by side in one trial."""
    db = Database(path)
    migrations.apply(db, stop_before=MERGE)
    _contender(db, 1, "a")
    _contender(db, 2, "a", n_threads=8, gpu_layers="auto")
    _contender(db, 3, "b")
    _contender(db, 4, "c")
    _contender(db, 5, "c", n_threads=1)
    _contender(db, 6, "a", temperature=0.2)
    db["suites"].insert({"id": 1, "name": "s", "created_at": T})
    db["suite_prompts"].insert({"id": 1, "suite_id": 1, "position": 0, "prompt": "p"})
    db["comparisons"].insert({"id": 1, "prompt": "p", "display_order": "[1, 3, 2]",
                              "created_at": T})
    for slot, cid in enumerate((1, 3, 2)):
        db["comparison_replies"].insert({"comparison_id": 1, "contender_id": cid,
                                         "slot": slot, "content": "r", "created_at": T})
    db["votes"].insert({"comparison_id": 1, "outcome": "win", "winner_id": 2,
                        "ranking": "[2, 3, 1]", "created_at": T})
    db["trials"].insert({"id": 1, "suite_id": 1, "contender_ids": "[2, 3]", "created_at": T})
    db["trials"].insert({"id": 2, "suite_id": 1, "contender_ids": "[4, 5]", "created_at": T})
    for trial, cid in ((1, 2), (1, 3), (2, 4), (2, 5)):
        db["trial_cells"].insert({"trial_id": trial, "prompt_id": 1, "contender_id": cid,
                                  "repeat": 0, "content": "c", "created_at": T})
    db["trial_judgements"].insert({"trial_id": 1, "prompt_id": 1, "contender_id": 2,
                                   "repeat": 0, "check_index": 0, "created_at": T})
    db["trial_stops"].insert({"trial_id": 1, "contender_id": 2, "after_prompts": 1,
                              "total_prompts": 2, "outcome": "fails", "created_at": T})
    db.close()


def test_duplicate_contenders_merge_into_the_lowest_id(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    _old_database(path)
    db = open_database(path)
    assert MERGE in [m.name for m in migrations.applied(db)]
    assert [r["id"] for r in db["contenders"].rows_where(order_by="id")] == [1, 3, 4, 5, 6]
    one = db.execute
    assert one("SELECT display_order FROM comparisons").fetchone()[0] == "[1, 3, 1]"
    assert [r[0] for r in one("SELECT contender_id FROM comparison_replies ORDER BY slot")] \
        == [1, 3, 1]
    assert one("SELECT winner_id, ranking FROM votes").fetchone() == (1, "[1, 3, 1]")
    assert one("SELECT contender_ids FROM trials WHERE id = 1").fetchone()[0] == "[1, 3]"
    assert sorted(r[0] for r in one("SELECT contender_id FROM trial_cells WHERE trial_id = 1")) \
        == [1, 3]
    assert one("SELECT contender_id FROM trial_judgements").fetchone()[0] == 1
    assert one("SELECT contender_id FROM trial_stops").fetchone()[0] == 1
    # 4 and 5 ran in one trial: merging would make their cells collide, so they stay
    assert one("SELECT contender_ids FROM trials WHERE id = 2").fetchone()[0] == "[4, 5]"
    assert one("SELECT COUNT(*) FROM trial_cells WHERE trial_id = 2").fetchone()[0] == 2
    assert one("PRAGMA foreign_key_check").fetchall() == []


def test_the_migration_s_identity_is_the_code_s() -> None:
    db = Database(memory=True)
    migrations.apply(db, stop_before=MERGE)
    _contender(db, 1, "a", n_threads=2, top_k=40)
    _contender(db, 2, "", system_prompt="be brief", json_schema={"type": "object"})
    for row in db["contenders"].rows:
        assert _contender_identity(row) == contender_identity(Contender.from_row(row))
