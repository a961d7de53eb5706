"""GGUF files made from the test model with other metadata: another chat template, none, or
other names. Written by the gguf package's own ``gguf_new_metadata`` script (what a user
would run), once per test session and name, so each costs one copy of the 93 MB model."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

_made: dict[str, Path] = {}


def make_variant(source: Path, folder: Path, name: str, *, template: str | None = None,
                 remove: tuple[str, ...] = (), general_name: str | None = None) -> Path:
    """``folder/name.gguf``: the test model with ``template`` as its chat template, the
    ``remove`` keys gone and ``general.name`` set to ``general_name``."""
    if name in _made and _made[name].exists():
        return _made[name]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.gguf"
    command = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force"]
    if template is not None:
        template_file = folder / f"{name}.jinja"
        template_file.write_text(template, encoding="utf-8")
        command += ["--chat-template-file", str(template_file)]
    for key in remove:
        command += ["--remove-metadata", key]
    if general_name is not None:
        command += ["--general-name", general_name]
    subprocess.run([*command, str(source), str(target)], check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=300)
    _made[name] = target
    return target


def distinct_copy(source: Path, target: Path) -> Path:
    """A copy with other contents (16 bytes after the tensor data, which llama.cpp and the
    header reader ignore), so the library takes it as a second model, not the same file."""
    shutil.copyfile(source, target)
    with target.open("ab") as stream:
        stream.write(target.name.encode()[:16].ljust(16, b"\0"))
    return target
