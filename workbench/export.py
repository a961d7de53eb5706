"""Conversations as Markdown (to read or share) and JSON (to keep or process).

A message's pictures are named by their kept files in the data folder (``images``: paths in
JSON, image links in Markdown), in the order they were sent."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path

from sqlite_utils import Database

from workbench import conversations as convs
from workbench import images
from workbench.errors import InvalidInputError
from workbench.units import reply_metrics


def export_conversation(db: Database, conversation_id: int, fmt: str) -> str:
    conversation = convs.get_conversation(db, conversation_id)
    messages = convs.branch(db, conversation_id)
    pictures = images.message_image_paths(db, [m.id for m in messages])
    for message in messages:
        message.images = pictures.get(message.id, [])
    if fmt == "json":
        return json.dumps(
            {"conversation": conversation, "messages": [m.to_dict() for m in messages]},
            indent=2, ensure_ascii=False, default=str,
        )
    if fmt != "md":
        raise InvalidInputError(f"format '{fmt}': choose md or json")
    lines = [f"# {conversation['title'] or 'Conversation'}", ""]
    if conversation["system_prompt"]:
        lines += [f"> System: {conversation['system_prompt']}", ""]
    for message in messages:
        who = "You" if message.role == "user" else message.settings.get("model_name",
                                                                          "Assistant")
        lines += [f"**{who}:**", ""]
        lines += [f"![picture {n}]({Path(path).as_uri()})" for n, path in
                  enumerate(message.images, 1)] + ([""] if message.images else [])
        lines += [message.content, ""]
        if message.role == "assistant" and message.metrics.get("gen_tps"):
            lines += [f"*{reply_metrics(message.metrics, message.finish_reason or '')}*", ""]
    return "\n".join(lines)


def write_export(path: str | Path, text: str) -> Path:
    """Write an export; a missing folder, a read-only disk or a full one is one line that names
    the file, and a half-written file is not left behind. The text goes to a file beside the
    target first, so a folder that takes no new files (``/proc``, ``/sys``) is said as such,
    not as the "No such file or directory" the system answers there."""
    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise InvalidInputError(f"{target}: cannot write (the folder {target.parent} does not "
                                "exist)")
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        reason = error.strerror or str(error)
        if error.errno == errno.ENOENT and target.parent.is_dir():
            reason = f"the folder {target.parent} does not take new files"
        raise InvalidInputError(f"{target}: cannot write ({reason})") from None
    return target
