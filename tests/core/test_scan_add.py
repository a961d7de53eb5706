"""``scan --add`` reports each file it cannot add on its own line, adds the rest, and exits
non-zero when any failed."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench import library
from workbench.cli import cli


def _plant(home: Path, model: Path) -> list[Path]:
    lms = home / ".lmstudio/models/lmstudio-community/Smol-GGUF"
    lms.mkdir(parents=True)
    try:
        os.link(model, lms / "smol.gguf")
    except OSError:
        shutil.copyfile(model, lms / "smol.gguf")
    gpt4all = home / ".local/share/nomic.ai/GPT4All"
    gpt4all.mkdir(parents=True)
    truncated = gpt4all / "aaa-truncated.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00\x01")
    implausible = gpt4all / "zzz-implausible.gguf"
    implausible.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**40, 2**40) + b"\0" * 64)
    # Jan (scanned after GPT4All): a second good model, after the bad ones
    jan = home / ".local/share/Jan/data/llamacpp/models/unsloth/smol-jan"
    jan.mkdir(parents=True)
    shutil.copyfile(model, jan / "model.gguf")
    with (jan / "model.gguf").open("ab") as stream:  # other contents: a model of its own
        stream.write(b"\0" * 16)
    (jan / "model.yml").write_text("model_path: llamacpp/models/unsloth/smol-jan/model.gguf\n"
                                   "name: Smol Jan\nsize_bytes: 1\n")
    return [truncated, implausible]


def test_scan_add_reports_each_bad_file_and_goes_on(tmp_path: Path, model_path: Path,
                                                    workspace,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "user"
    bad = _plant(home, model_path)
    monkeypatch.setenv("HOME", str(home))
    for name in ("HF_HUB_CACHE", "HF_HOME", "OLLAMA_MODELS", "XDG_DATA_HOME",
                 "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["--data-dir", str(workspace.root), "scan", "--add"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    refused = [line for line in result.output.splitlines() if "not added:" in line]
    assert len(refused) == 2
    for path, line in zip(bad, refused, strict=True):
        assert str(path) in line
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: scan --add: 2 of 4 models could not be added")
    first_bad = next(i for i, line in enumerate(lines) if "not added:" in line)
    assert any("added as model" in line for line in lines[first_bad:])  # it went on
    # LM Studio's file is the bundled demo model's contents: already there, so not a failure
    assert any("smol.gguf: already in the library as" in line for line in lines)
    added = {m.source for m in library.list_models(workspace.db)}
    assert "jan" in added
