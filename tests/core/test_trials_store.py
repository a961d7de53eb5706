"""The trial-evidence migration: cells made before it get their seed from the settings record
the engine stored, and comparisons learn which trial they came from (none for old ones)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlite_utils import Database

from workbench.store import open_database
from workbench.store.migrations import migrations
from workbench.trials import store

NAME = "m010_stats_cell_seed_trial_votes"


def test_old_cells_get_their_recorded_seed(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    old = Database(path)
    migrations.apply(old, stop_before=NAME)
    assert "seed" not in old["trial_cells"].columns_dict
    base = {"trial_id": 1, "prompt_id": 1, "contender_id": 1, "created_at": "x"}
    old["trial_cells"].insert_all([
        {**base, "repeat": 0, "settings": json.dumps({"seed": 1234})},
        {**base, "repeat": 1, "settings": "not json"},
        {**base, "repeat": 2, "settings": None},
    ])
    old["comparisons"].insert({"prompt": "p", "blind": 0, "display_order": "[1, 2]",
                               "created_at": "x"})
    old.close()
    db = open_database(path)
    assert [r["seed"] for r in db.query("SELECT seed FROM trial_cells ORDER BY repeat")] == [
        1234, None, None]
    assert store.get_comparison_row(db, 1)["trial_id"] is None
    assert store.list_votes(db, trial_id=1) == []
