"""Typed settings: one definition each, refused when set with the values allowed, never
crashing on a value an older version stored."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from workbench.engine import PRESETS
from workbench.settings import (
    DEFAULTS,
    DEFINITIONS,
    GROUPS,
    PRESET_CHOICES,
    SETTINGS,
    InvalidSettingError,
    all_settings,
    get_setting,
    max_threads,
    set_setting,
)

OLD_KEYS = {"models_dir", "threads", "gpu_layers", "context_length", "offline", "hub_endpoint",
            "hub_token", "theme", "sampling_preset"}


def refused(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: setting '"), result.output
    return lines[0]


def test_every_setting_is_defined_once_with_words_for_the_window() -> None:
    assert OLD_KEYS | {"min_pass_rate", "server_idle_unload_minutes", "server_port",
                       "server_keep_history", "server_allowed_hosts",
                       "server_allowed_origins"} == set(SETTINGS) == set(DEFAULTS)
    for setting in DEFINITIONS:
        assert setting.label and setting.help and setting.group in GROUPS, setting.key
        assert setting.allowed()
        if setting.default is not None or not setting.automatic:
            assert setting.check(setting.default) == setting.default, setting.key
    assert {g for g in GROUPS} == {s.group for s in DEFINITIONS}
    assert [value for value, _ in PRESET_CHOICES] == list(PRESETS)


def test_min_pass_rate_defaults_to_80_and_is_bounded(db) -> None:
    assert get_setting(db, "min_pass_rate") == 80
    assert set_setting(db, "min_pass_rate", "65") == 65 and get_setting(db, "min_pass_rate") == 65
    with pytest.raises(InvalidSettingError, match="from 0 to 100"):
        set_setting(db, "min_pass_rate", 101)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("context_length", "abc", "a whole number from 256 to 1,048,576"),
    ("context_length", "4096.5", "a whole number"),
    ("context_length", "nan", "a whole number"),
    ("threads", "-3", "out of range"),
    ("threads", "0", "out of range"),
    ("threads", "100000", "out of range"),
    ("hub_endpoint", "123", "an http:// or https:// address"),
    ("hub_endpoint", "ftp://mirror.example", "an http:// or https:// address"),
    ("hub_endpoint", "http://", "an http:// or https:// address"),
    ("hub_endpoint", "http://host:port", "an http:// or https:// address"),
    ("models_dir", "/proc/x", "a folder Workbench can write to"),
    ("offline", "maybe", "true or false"),
    ("theme", "purple", "one of system, light, dark"),
    ("sampling_preset", "wild", "one of precise, balanced, creative"),
    ("gpu_layers", "lots", "auto, all, or a number of layers"),
    ("gpu_layers", "-1", "out of range"),
    ("hub_token", "two words", "an access token"),
])
def test_bad_values_are_refused_when_set_naming_what_is_allowed(
        cli_run, db, key: str, value: str, expected: str) -> None:
    before = get_setting(db, key)
    line = refused(cli_run("settings", key, value))
    assert f"'{key}'" in line and expected in line
    assert get_setting(db, key) == before  # nothing was stored


def test_the_token_is_never_echoed_even_when_refused(cli_run) -> None:
    line = refused(cli_run("settings", "hub_token", "hf_secret with space"))
    assert "secret" not in line


def test_good_values_are_stored_typed(cli_run, db, tmp_path: Path) -> None:
    assert cli_run("settings", "threads", "2").exit_code == 0
    assert cli_run("settings", "context_length", "8192").exit_code == 0
    assert cli_run("settings", "offline", "yes").exit_code == 0
    assert cli_run("settings", "gpu_layers", "12").exit_code == 0
    assert cli_run("settings", "hub_endpoint", "http://127.0.0.1:9/").exit_code == 0
    folder = tmp_path / "new" / "models"
    assert cli_run("settings", "models_dir", str(folder)).exit_code == 0
    values = all_settings(db)
    assert (values["threads"], values["context_length"], values["offline"],
            values["gpu_layers"], values["hub_endpoint"]) == (2, 8192, True, 12,
                                                              "http://127.0.0.1:9")
    assert values["models_dir"] == str(folder) and folder.is_dir()
    assert cli_run("settings", "threads", "auto").exit_code == 0
    assert get_setting(db, "threads") is None
    assert cli_run("settings", "context_length", "--reset").exit_code == 0
    assert get_setting(db, "context_length") == 4096
    shown = json.loads(cli_run("settings", "--json").output)
    assert shown["offline"] is True and shown["min_pass_rate"] == 80


def test_describe_lists_every_setting_with_its_allowed_values(cli_run) -> None:
    rows = json.loads(cli_run("settings", "--describe", "--json").output)
    assert [r["key"] for r in rows] == [s.key for s in DEFINITIONS]
    text = cli_run("settings", "--describe").output
    assert f"a whole number from 1 to {max_threads():,}" in text


def test_values_stored_by_older_versions_fall_back_to_the_default(db, caplog) -> None:
    for key, raw in [("context_length", '"abc"'), ("threads", "-3"), ("hub_endpoint", "123"),
                     ("theme", '"purple"'), ("offline", "not json"), ("gpu_layers", '"0"')]:
        db["settings"].upsert({"key": key, "value": raw}, pk="key")
    with caplog.at_level(logging.WARNING, logger="workbench.settings"):
        values = all_settings(db)
        assert get_setting(db, "context_length") == 4096
    assert values["context_length"] == 4096 and values["threads"] is None
    assert values["hub_endpoint"] is None and values["theme"] == "system"
    assert values["offline"] is False
    assert values["gpu_layers"] == 0  # the old dialog stored "0": still understood
    assert "context_length" in caplog.text and "using the default" in caplog.text


def test_the_engine_reads_threads_and_context_through_the_definitions(db, library_model) -> None:
    from workbench.model_settings import resolve_settings

    db["settings"].upsert({"key": "context_length", "value": '"abc"'}, pk="key")
    load, _ = resolve_settings(db, library_model)
    assert load.n_ctx == min(4096, library_model.context_length or 4096)
    with pytest.raises(InvalidSettingError, match="'threads'.*out of range"):
        resolve_settings(db, library_model, {"n_threads": 100000})


@pytest.mark.skipif(os.name != "posix", reason="a POSIX path")
def test_a_file_in_the_way_is_not_a_models_folder(cli_run, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "a file is in the way" in refused(cli_run("settings", "models_dir", str(blocker)))


def test_the_readme_table_lists_every_setting_with_what_it_allows() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for setting in DEFINITIONS:
        row = next((line for line in readme.splitlines()
                    if line.startswith(f"| `{setting.key}` |")), "")
        assert setting.label in row, setting.key
        if setting.key != "threads":  # its bound depends on the machine: said in words
            assert setting.allowed() in row, setting.key


@pytest.mark.skipif(os.name != "posix", reason="a POSIX path")
def test_a_models_folder_that_went_away_is_one_line(cli_run, db) -> None:
    db["settings"].upsert({"key": "models_dir", "value": '"/proc/gone/models"'}, pk="key")
    line = refused(cli_run("unfinished"))
    assert "models_dir" in line and "cannot be used" in line
