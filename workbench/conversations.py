"""Conversations and their messages: a tree per chat, so an edited question keeps the old
branch reachable, with the branch on show remembered as the conversation's leaf.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from workbench.engine.settings import ReplyStats, json_cut_note
from workbench.errors import InvalidInputError, NotFoundError
from workbench.library import now
from workbench.store.db import insert_row
from workbench.store.owners import is_alive, owner_token

STREAMING = "streaming"


@dataclass
class StoredMessage:
    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    content: str
    status: str
    created_at: str
    model_id: int | None = None
    finish_reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    #: The kept picture files it carries, in order (filled where a view shows thumbnails).
    images: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredMessage:
        metrics = {k: row[k] for k in METRIC_COLUMNS if row.get(k) is not None}
        settings = json.loads(row["settings"] or "{}")
        if isinstance(settings, dict) and settings.get("speculative"):
            metrics["speculative"] = settings["speculative"]  # a draft's figures, kept there
        return cls(
            id=row["id"],
            conversation_id=row["conversation_id"],
            parent_id=row["parent_id"],
            role=row["role"],
            content=row["content"] or "",
            status=row["status"] or "done",
            created_at=row["created_at"],
            model_id=row["model_id"],
            finish_reason=row["finish_reason"],
            metrics=metrics,
            settings=settings,
            error=row["error"],
        )

    @property
    def note(self) -> str | None:
        """What to say with a stored reply beyond its metrics: where a model split across
        workers sat, and that the token limit cut the JSON its schema asked for (None
        otherwise); derived, so older rows say it too."""
        from workbench.pool_fit import placement_line

        placed = placement_line({"split": self.settings.get("split")})
        cut = json_cut_note(self.finish_reason, self.settings.get("json_schema"), self.content)
        return "; ".join(part for part in (f"split: {placed}" if placed else "", cut or "")
                         if part) or None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


METRIC_COLUMNS = (*ReplyStats.MEASURED, "dropped_turns")


def create_conversation(
    db: Database, *, model_id: int | None, title: str = "", system_prompt: str = ""
) -> int:
    stamp = now()
    return insert_row(db, "conversations", {
        "title": title, "model_id": model_id, "system_prompt": system_prompt,
        "settings": "{}", "created_at": stamp, "updated_at": stamp,
    })


def get_conversation(db: Database, conversation_id: int) -> dict[str, Any]:
    rows = list(db.table("conversations").rows_where("id = ?", [conversation_id]))
    if not rows:
        raise NotFoundError(f"conversation {conversation_id}: no such conversation")
    return rows[0]


def chat_setting(db: Database, conversation_id: int, key: str) -> Any:
    """One value kept in the conversation's ``settings`` JSON (the collections it answers
    from, the MCP servers it uses): None when absent, unreadable or the chat is gone."""
    row = db.execute("SELECT settings FROM conversations WHERE id = ?",
                     [conversation_id]).fetchone()
    try:
        value = json.loads(row[0] or "{}") if row else {}
    except ValueError:
        return None
    return value.get(key) if isinstance(value, dict) else None


def set_chat_setting(db: Database, conversation_id: int, key: str, value: Any) -> None:
    """Keep ``key`` in the conversation's ``settings`` JSON beside the keys already there
    (an unreadable value is replaced); NotFoundError naming the conversation if it is gone."""
    row = get_conversation(db, conversation_id)
    try:
        settings = json.loads(row.get("settings") or "{}")
    except ValueError:
        settings = {}
    settings = {**(settings if isinstance(settings, dict) else {}), key: value}
    db.table("conversations").update(conversation_id, {"settings": json.dumps(settings)})


def list_conversations(db: Database, limit: int | None = None) -> list[dict[str, Any]]:
    sql = """
        select c.id, c.title, c.model_id, m.name as model_name, c.created_at, c.updated_at,
            (select count(*) from messages where conversation_id = c.id) as message_count
        from conversations c left join models m on m.id = c.model_id
        order by c.updated_at desc, c.id desc
    """
    if limit:
        sql += f" limit {int(limit)}"
    return [dict(r) for r in db.query(sql)]


def add_message(
    db: Database, conversation_id: int, role: str, content: str, *, parent_id: int | None,
    status: str = "done", model_id: int | None = None,
) -> int:
    """Add a message as the new leaf of its conversation's branch on show.

    A reply added as ``streaming`` records this process as its owner, so that only a
    process that died leaves it to be marked interrupted (:func:`mark_interrupted`).
    """
    stamp = now()
    message_id = insert_row(db, "messages", {
        "conversation_id": conversation_id, "parent_id": parent_id, "role": role,
        "content": content, "status": status, "model_id": model_id,
        "owner": owner_token(db) if status == STREAMING else None,
        "created_at": stamp, "updated_at": stamp,
    })
    conversation = get_conversation(db, conversation_id)
    changes: dict[str, Any] = {"leaf_id": message_id, "updated_at": stamp}
    if not conversation["title"] and role == "user":
        changes["title"] = title_from(content)
    db.table("conversations").update(conversation_id, changes)
    return message_id


def add_edited(db: Database, message_id: int, new_text: str) -> int:
    """The edited text of user message ``message_id`` as a new sibling of it (the old
    branch stays). Editing the first question re-titles a chat whose title was made from
    it, so the list, the window and the CLI all name the chat by the question now asked;
    a title the user chose stays."""
    old = get_message(db, message_id)
    new_id = add_message(db, old.conversation_id, "user", new_text, parent_id=old.parent_id)
    if old.parent_id is None:
        conversation = get_conversation(db, old.conversation_id)
        if conversation["title"] == title_from(old.content):
            db.table("conversations").update(old.conversation_id,
                                             {"title": title_from(new_text)})
    return new_id


def update_message(db: Database, message_id: int, **values: Any) -> None:
    values["updated_at"] = now()
    if isinstance(values.get("settings"), dict):
        values["settings"] = json.dumps(values["settings"])
    db.table("messages").update(message_id, values)


def save_reply(db: Database, message_id: int, text: str, stats: ReplyStats, *,
               status: str = "done", error: str | None = None, finish_reason: str = "",
               record: dict[str, Any] | None = None) -> None:
    """Save a reply's text, outcome and measurements in History, however it was made (the
    chat, the CLI, the server): its settings column is the engine's record of what made it
    plus ``record`` (the model's name and sha256, where it came from)."""
    update_message(
        db, message_id, content=text, status=status, error=error,
        finish_reason=finish_reason or stats.finish_reason or status,
        dropped_turns=stats.dropped_turns, **stats.measurements(),
        settings={**stats.settings, **(record or {})},
    )


def get_message(db: Database, message_id: int) -> StoredMessage:
    rows = list(db.table("messages").rows_where("id = ?", [message_id]))
    if not rows:
        raise NotFoundError(f"message {message_id}: no such message")
    return StoredMessage.from_row(rows[0])


def branch(db: Database, conversation_id: int, leaf_id: int | None = None) -> list[StoredMessage]:
    """The messages from the root to ``leaf_id`` (default: the branch on show), in order."""
    conversation = get_conversation(db, conversation_id)
    leaf = leaf_id if leaf_id is not None else conversation["leaf_id"]
    if leaf is None:
        return []
    rows = db.query(
        """
        with recursive chain(id, depth) as (
            select ?, 0
            union all
            select m.parent_id, chain.depth + 1 from messages m join chain on m.id = chain.id
            where m.parent_id is not null
        )
        select messages.* from chain join messages on messages.id = chain.id
        order by chain.depth desc
        """,
        [leaf],
    )
    return [StoredMessage.from_row(dict(r)) for r in rows]


def siblings(db: Database, message_id: int) -> list[int]:
    """Ids of the alternatives at this point of the tree (edits, regenerations), oldest first."""
    message = get_message(db, message_id)
    if message.parent_id is None:
        sql, params = ("conversation_id = ? and parent_id is null",
                       [message.conversation_id])
    else:
        sql, params = "parent_id = ?", [message.parent_id]
    return [r["id"] for r in db.table("messages").rows_where(sql, params, order_by="id",
                                                         select="id")]


def latest_leaf(db: Database, message_id: int) -> int:
    """The newest message under ``message_id``: where to land when switching branches."""
    current = message_id
    while True:
        rows = list(db.table("messages").rows_where("parent_id = ?", [current], order_by="id desc",
                                              limit=1, select="id"))
        if not rows:
            return current
        current = rows[0]["id"]


def show_branch(db: Database, conversation_id: int, message_id: int) -> None:
    """Make the branch through ``message_id`` the one on show."""
    db.table("conversations").update(conversation_id, {"leaf_id": latest_leaf(db, message_id)})


def rename_conversation(db: Database, conversation_id: int, title: str) -> None:
    get_conversation(db, conversation_id)
    if not title.strip():
        raise InvalidInputError("title: must not be empty")
    db.table("conversations").update(conversation_id, {"title": title.strip()})


def delete_conversation(db: Database, conversation_id: int) -> dict[str, Any]:
    """Delete a conversation and its messages; returns what is needed to restore it (undo).

    Pictures nothing else uses are deleted from the data folder, except this chat's own: they
    go at the next delete (or the next start), so Undo of the last delete brings them back."""
    from workbench.images import prune_unused

    conversation = get_conversation(db, conversation_id)
    messages = list(db.table("messages").rows_where("conversation_id = ?", [conversation_id],
                                              order_by="id"))
    pictures = [dict(row) for row in db.query(
        "SELECT message_images.* FROM message_images JOIN messages ON messages.id = "
        "message_images.message_id WHERE messages.conversation_id = ?", [conversation_id])]
    with db.atomic():
        db.execute("DELETE FROM message_images WHERE message_id IN (SELECT id FROM messages "
                   "WHERE conversation_id = ?)", [conversation_id])
        db.execute("UPDATE conversations SET leaf_id = NULL WHERE id = ?", [conversation_id])
        db.execute("UPDATE messages SET parent_id = NULL WHERE conversation_id = ?",
                   [conversation_id])
        db.execute("DELETE FROM messages WHERE conversation_id = ?", [conversation_id])
        db.table("conversations").delete(conversation_id)
    prune_unused(db, keep={row["sha256"] for row in pictures})
    return {"conversation": conversation, "messages": messages, "message_images": pictures}


def restore_conversation(db: Database, saved: dict[str, Any]) -> int:
    """Undo :func:`delete_conversation` with the record it returned."""
    conversation = dict(saved["conversation"])
    leaf = conversation.pop("leaf_id", None)
    with db.atomic():
        db.table("conversations").insert(conversation)
        for message in saved["messages"]:
            db.table("messages").insert(dict(message))
        kept = {row["sha256"] for row in db.query("SELECT sha256 FROM images")}
        for picture in saved.get("message_images", []):
            if picture["sha256"] in kept:
                db.table("message_images").insert(dict(picture))
        db.table("conversations").update(conversation["id"], {"leaf_id": leaf})
    return int(conversation["id"])


def search_messages(db: Database, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """Full-text search over every message, newest first; snippets mark [matches]."""
    if not query.strip():
        return []
    words = [w.replace('"', '""') for w in query.split()]
    fts_query = " ".join(f'"{w}"' for w in words)
    # Newest first: FTS5 walks its index in rowid order and stops at the limit, so a query
    # that matches most messages stays as fast as a rare word (ranking all would not).
    sql = """
        with hits as (
            select rowid, snippet(messages_fts, 0, '[', ']', '…', 12) as snippet
            from messages_fts where messages_fts match ? order by rowid desc limit ?
        )
        select messages.id, messages.conversation_id, messages.role, messages.created_at,
            conversations.title, hits.snippet
        from hits
        join messages on messages.rowid = hits.rowid
        join conversations on conversations.id = messages.conversation_id
        order by hits.rowid desc
    """
    return [dict(r) for r in db.query(sql, [fts_query, limit])]


def title_from(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def mark_interrupted(db: Database) -> int:
    """Replies left 'streaming' by a process that died are kept, and marked as interrupted.

    A reply whose owner is still alive (another window or ``chat`` streaming it right now)
    is left alone; one without an owner was written by an older version and is marked.
    """
    marked = 0
    for owner in dead_owners(db, "messages", STREAMING):
        cursor = db.execute(
            "UPDATE messages SET status = 'interrupted', finish_reason = 'interrupted' "
            "WHERE status = ? AND owner IS ?", [STREAMING, owner])
        marked += cursor.rowcount
    return marked


def dead_owners(db: Database, table: str, status: str) -> list[str | None]:
    """The owners of ``table``'s rows in ``status`` whose process has ended (``None``: rows
    written before owners were recorded)."""
    owners = [row[0] for row in db.execute(
        f"SELECT DISTINCT owner FROM {table} WHERE status = ?", [status]).fetchall()]
    return [owner for owner in owners if owner is None or not is_alive(db, owner)]
