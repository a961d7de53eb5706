"""The collections attached to a conversation: remembered per chat, so a follow-up, an edit
and a regenerate answer from the same documents as the first question did.

Kept as ``docs`` in the conversation's ``settings`` JSON (a column every conversation has):
no table of its own, and a deleted conversation takes its attachment with it. A collection
removed since is no longer attached: it is left out when read, rather than failing a
regenerate over a name the user already chose to delete.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlite_utils import Database

from workbench.conversations import chat_setting, get_conversation, set_chat_setting
from workbench.documents.collections import get_collection


def attached_collections(db: Database, conversation_id: int) -> list[str]:
    """The names attached to the conversation that still exist, in the order attached."""
    names = chat_setting(db, conversation_id, "docs") or []
    existing = {name for (name,) in db.execute("SELECT name FROM doc_collections")}
    return [name for name in names if isinstance(name, str) and name in existing]


def attach_collections(db: Database, conversation_id: int, names: Sequence[str]) -> list[str]:
    """Attach exactly ``names`` (none: detach all); each must exist (one NotFoundError line
    otherwise, nothing changed). Returns the names as stored."""
    get_conversation(db, conversation_id)
    unique = list(dict.fromkeys(names))
    for name in unique:
        get_collection(db, name)
    set_chat_setting(db, conversation_id, "docs", unique)
    return unique
