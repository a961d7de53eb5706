"""A chat turn: the user's message, the streamed reply, and both saved as they happen.

The reply row is written before the first token and updated at least once a second while it
streams, so a crash or a kill loses at most the last second and leaves a consistent database
(the reply stays with status ``streaming`` until the window marks it ``interrupted``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from workbench import conversations as convs
from workbench import images
from workbench.chat_tools import Toolbox, ToolLoopReply
from workbench.documents.attached import attach_collections, attached_collections
from workbench.documents.embedder import Embedder
from workbench.documents.grounding import Grounding, ground, retrieve
from workbench.documents.search import Passage
from workbench.engine import Engine, LoadSettings, Reply, ReplyStats, SamplingSettings
from workbench.errors import EngineCrashed, InvalidInputError, WorkbenchError
from workbench.library import Model
from workbench.streams import EventStream

SAVE_EVERY_S = 0.5


@dataclass
class ChatTurn(EventStream[str]):
    """Iterate to stream the reply; the rows are saved while it runs."""

    db: Database
    reply: Reply | ToolLoopReply
    conversation_id: int
    user_message_id: int | None
    reply_message_id: int
    model: Model
    #: With ``docs``: the passages put into the prompt, cited in the reply's record.
    grounding: Grounding | None = None
    _done: bool = field(default=False, repr=False)

    def stop(self) -> None:
        self.reply.stop()

    @property
    def stats(self) -> ReplyStats:
        return self.reply.stats

    @property
    def note(self) -> str | None:
        """Said with the finished reply: the token limit cut the JSON asked for (or None)."""
        return self.reply.note

    def __iter__(self) -> Iterator[str]:
        last_save = time.monotonic()
        status, error = "done", None
        stream = iter(self.reply)
        try:
            for piece in stream:
                yield piece
                if time.monotonic() - last_save >= SAVE_EVERY_S:
                    convs.update_message(self.db, self.reply_message_id,
                                         content=self.reply.text)
                    last_save = time.monotonic()
        except EngineCrashed as failure:  # llama.cpp died mid-reply: the text so far stays
            status, error = "interrupted", str(failure)
            raise
        except WorkbenchError as failure:
            status, error = "error", str(failure)
            raise
        except GeneratorExit:
            status = "stopped"
            raise
        finally:
            # Close the reply first: when our consumer stopped early, this finalizes the
            # reply's stats (tokens, speed, finish reason) before they are saved.
            stream.close()  # type: ignore[attr-defined]
            if self.reply.stopped and status == "done":
                status = "stopped"
            self._save(status, error)

    def _save(self, status: str, error: str | None) -> None:
        record: dict[str, Any] = {"model_name": self.model.name,
                                  "model_sha256": self.model.sha256}
        if self.grounding is not None:
            record["citations"] = self.grounding.citations()
            if self.grounding.note:
                record["docs_note"] = self.grounding.note
        convs.save_reply(self.db, self.reply_message_id, self.reply.text, self.reply.stats,
                         status=status, error=error, record=record)
        self.db.table("conversations").update(self.conversation_id, {"updated_at": convs.now()})


def save_exchange(db: Database, messages: list[dict[str, str]], model_id: int | None,
                  text: str, stats: ReplyStats, *, title: str, finish_reason: str,
                  record: dict[str, Any]) -> int:
    """Keep an exchange made elsewhere (a request to the server) in History: a new
    conversation with its messages and the reply, saved as every reply is
    (:func:`~workbench.conversations.save_reply`). Returns the conversation's id."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    conversation = convs.create_conversation(db, model_id=model_id, title=title,
                                             system_prompt=system)
    parent = None
    for message in messages:
        if message["role"] != "system":
            parent = convs.add_message(db, conversation, message["role"], message["content"],
                                       parent_id=parent)
    answer = convs.add_message(db, conversation, "assistant", text, parent_id=parent,
                               model_id=model_id)
    convs.save_reply(db, answer, text, stats, finish_reason=finish_reason, record=record)
    return conversation


def history_messages(
    db: Database, conversation_id: int, leaf_id: int | None, system_prompt: str
) -> list[dict[str, str]]:
    """The messages to send: the system prompt, then the branch up to ``leaf_id``.

    Failed replies are left out: the model should not see its own error rows.
    """
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    for message in convs.branch(db, conversation_id, leaf_id):
        if message.role == "assistant" and message.status == "error":
            continue
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.role == "user":
            pictures = images.message_pictures(db, message.id)
            if pictures:
                entry["images"] = pictures
        messages.append(entry)
    return messages


def is_first_turn(messages: list[dict[str, str]]) -> bool:
    """A reply with no earlier reply before it is evaluated fresh (the whole prompt as one
    batch), never from the engine's cached prefix.

    Such a prompt shares at most the template's opening and the system prompt with what the
    engine holds, so reusing it saves nothing; but a reused prefix ends in a one-token batch
    that rounds differently, so a window that had already answered the same prompt (a second
    new chat, a regenerated first reply) would write another text than the CLI, which starts
    each ``chat`` on an empty engine. Fresh, the same seed and settings give the CLI's text.
    Later turns reuse the conversation's prefix: evaluating a long history again would cost
    more than reproducibility is worth there (trials, which need it, pass ``fresh`` always).
    """
    return not any(message["role"] == "assistant" for message in messages)


def send(
    db: Database,
    engine: Engine,
    model: Model,
    prompt: str,
    *,
    conversation_id: int | None = None,
    parent_id: int | None = None,
    system_prompt: str | None = None,
    load: LoadSettings | None = None,
    sampling: SamplingSettings | None = None,
    docs: Sequence[str] = (),
    k: int = 5,
    toolbox: Toolbox | None = None,
    image_files: Sequence[str] = (),
    embedder: Embedder | None = None,
) -> ChatTurn:
    """Add the user's message and start the reply (the model loads here if it must).

    ``parent_id`` is where the new message hangs: by default the end of the branch on show;
    an edited message hangs where the original did, starting a new branch. ``docs`` names
    collections whose ``k`` best passages for the prompt the model answers from
    (:mod:`workbench.documents.grounding`); they stay attached to the conversation, so its
    edits and regenerates answer from them too; ``embedder`` embeds the prompt for those with
    an embedding model (see :func:`~workbench.documents.grounding.retrieve`). ``toolbox``
    offers its tools (MCP servers'): the reply then runs the tool loop
    (:class:`~workbench.chat_tools.ToolLoopReply`).
    """
    if not prompt.strip():
        raise InvalidInputError("prompt: is empty")
    if image_files and not getattr(model, "sees", False):
        raise InvalidInputError(f"model '{model.name}': cannot see images (no vision "
                                "projector is paired with it; add one with models add "
                                "MODEL --mmproj FILE)")
    for image_file in image_files:  # every picture checked before anything is written
        images.picture_from_bytes(images.read_image_file(image_file), str(image_file))
    passages = retrieve(db, docs, prompt, k, embedder) if docs else None
    if conversation_id is None:
        conversation_id = convs.create_conversation(
            db, model_id=model.id or None, system_prompt=system_prompt or ""
        )
        conversation = convs.get_conversation(db, conversation_id)
    else:
        conversation = convs.get_conversation(db, conversation_id)
        if system_prompt is not None:
            db.table("conversations").update(conversation_id, {"system_prompt": system_prompt})
            conversation["system_prompt"] = system_prompt
        db.table("conversations").update(conversation_id, {"model_id": model.id or None})
    if parent_id is None:
        parent_id = conversation["leaf_id"]
    if docs:
        attach_collections(db, conversation_id, docs)
    user_id = convs.add_message(db, conversation_id, "user", prompt, parent_id=parent_id)
    if image_files:
        images.attach_images(db, user_id, list(image_files))
    return _start_reply(db, engine, model, conversation_id, user_id,
                        conversation["system_prompt"] or "", load, sampling, passages,
                        toolbox)


def edit(
    db: Database,
    engine: Engine,
    model: Model,
    message_id: int,
    new_text: str,
    *,
    load: LoadSettings | None = None,
    sampling: SamplingSettings | None = None,
    docs: Sequence[str] | None = None,
    k: int = 5,
    embedder: Embedder | None = None,
    toolbox: Toolbox | None = None,
) -> ChatTurn:
    """Resend an edited user message as a sibling of the original: the old branch stays.
    ``docs`` as for :func:`send`; None: the collections attached to the conversation;
    ``toolbox`` as for :func:`send`."""
    old = convs.get_message(db, message_id)
    if old.role != "user":
        raise InvalidInputError(f"message {message_id}: only your own messages can be edited")
    if not new_text.strip():
        raise InvalidInputError("prompt: is empty")
    conversation = convs.get_conversation(db, old.conversation_id)
    passages = _passages(db, old.conversation_id, docs, new_text, k, embedder)
    user_id = convs.add_edited(db, message_id, new_text)
    images.copy_message_images(db, message_id, user_id)  # the edit keeps its pictures
    return _start_reply(db, engine, model, old.conversation_id, user_id,
                        conversation["system_prompt"] or "", load, sampling, passages,
                        toolbox)


def regenerate(
    db: Database,
    engine: Engine,
    model: Model,
    reply_id: int,
    *,
    load: LoadSettings | None = None,
    sampling: SamplingSettings | None = None,
    docs: Sequence[str] | None = None,
    k: int = 5,
    embedder: Embedder | None = None,
    toolbox: Toolbox | None = None,
) -> ChatTurn:
    """A new reply to the same user message, as a sibling branch of ``reply_id``; its
    passages are retrieved again (``docs`` as for :func:`edit`), and ``toolbox`` offers its
    tools as for :func:`send`."""
    old = convs.get_message(db, reply_id)
    if old.role != "assistant" or old.parent_id is None:
        raise InvalidInputError(f"message {reply_id}: only a reply can be regenerated")
    conversation = convs.get_conversation(db, old.conversation_id)
    question = convs.get_message(db, old.parent_id).content
    passages = _passages(db, old.conversation_id, docs, question, k, embedder)
    return _start_reply(db, engine, model, old.conversation_id, old.parent_id,
                        conversation["system_prompt"] or "", load, sampling, passages,
                        toolbox)


def _passages(db: Database, conversation_id: int, docs: Sequence[str] | None,
              question: str, k: int, embedder: Embedder | None = None
              ) -> list[Passage] | None:
    """Retrieval for an edit or a regenerate: from ``docs``, or (None) the conversation's
    attached collections; None when there are none (a plain chat turn)."""
    names = attached_collections(db, conversation_id) if docs is None else list(docs)
    return retrieve(db, names, question, k, embedder) if names else None


def _start_reply(
    db: Database, engine: Engine, model: Model, conversation_id: int, user_id: int,
    system_prompt: str, load: LoadSettings | None, sampling: SamplingSettings | None,
    passages: list[Passage] | None = None, toolbox: Toolbox | None = None,
) -> ChatTurn:
    messages = history_messages(db, conversation_id, user_id, system_prompt)
    reply_id = convs.add_message(db, conversation_id, "assistant", "", parent_id=user_id,
                                 status=convs.STREAMING, model_id=model.id or None)
    grounding = None
    try:
        if passages is not None:
            messages, grounding = ground(engine, model.path, messages, passages, load,
                                         sampling)
        reply: Any
        if toolbox is not None and toolbox.tools:
            reply = ToolLoopReply(engine, model.path, messages, load,
                                  sampling or SamplingSettings(), toolbox,
                                  fresh=is_first_turn(messages))
        else:
            reply = engine.reply(model.path, messages, load=load, sampling=sampling,
                                 fresh=is_first_turn(messages))
    except WorkbenchError as error:
        convs.update_message(db, reply_id, status="error", error=str(error),
                             finish_reason="error")
        raise
    return ChatTurn(db, reply, conversation_id, user_id, reply_id, model, grounding)
