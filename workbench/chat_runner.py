"""One chat turn as every front end runs it: a request in, a stream of small events out.

The window runs :class:`ChatRunner` on its "engine" worker and :func:`load_conversation` and
friends on its "db" worker; ``llm-workbench chat`` runs the same runner in the foreground.
The runner gets the model ready (:func:`~workbench.model_settings.runnable`), yields
:class:`Loading` when the model must load, :class:`Started` once the rows are saved, then the
reply's text pieces, then :class:`Finished`, or :class:`Crashed` when llama.cpp took its
engine process down (the window offers to reload: :func:`reload_model`; the CLI says so).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench import chat
from workbench import conversations as convs
from workbench.documents.attached import attached_collections
from workbench.documents.embedder import Embedder
from workbench.endpoints import remote_models
from workbench.engine import Engine, LoadSettings, ReplyStats, SamplingSettings
from workbench.engine.endpoint_http import is_remote
from workbench.errors import EngineCrashed
from workbench.images import message_image_paths
from workbench.library import Model, list_models
from workbench.mcp.toolbox import Approver, McpToolbox, open_toolbox
from workbench.model_settings import runnable
from workbench.pool_fit import dropped_lines, placement_line
from workbench.settings import get_setting


@dataclass
class ConversationData:
    """A conversation as the chat view shows it: the branch on show and its alternatives."""

    conversation: dict[str, Any]
    messages: list[convs.StoredMessage]
    siblings: dict[int, list[int]] = field(default_factory=dict)
    #: The collections attached to it (answered from by its sends, edits and regenerates).
    docs: list[str] = field(default_factory=list)


def load_conversation(db: Database, conversation_id: int,
                      show_message: int | None = None) -> ConversationData:
    """The branch on show (or, with ``show_message``, the branch through that message)."""
    if show_message is not None:
        convs.show_branch(db, conversation_id, show_message)
    conversation = convs.get_conversation(db, conversation_id)
    messages = convs.branch(db, conversation_id)
    siblings = {m.id: convs.siblings(db, m.id) for m in messages}
    pictures = message_image_paths(db, [m.id for m in messages])
    for message in messages:
        message.images = pictures.get(message.id, [])
        if message.settings.get("image_tokens"):  # the metrics line counts them too
            message.metrics.update({k: message.settings.get(k)
                                    for k in ("image_tokens", "image_ms")})
    return ConversationData(conversation, messages, siblings,
                            attached_collections(db, conversation_id))


def switch_branch(db: Database, conversation_id: int, message_id: int) -> ConversationData:
    convs.show_branch(db, conversation_id, message_id)
    return load_conversation(db, conversation_id)


@dataclass
class ChatStartup:
    """What the chat page needs to open: the library and the defaults."""

    models: list[Model]
    preset: str


def load_startup(db: Database) -> ChatStartup:
    """The library's models, then each endpoint's (``NAME/MODEL (remote: HOST)``)."""
    return ChatStartup(list_models(db) + remote_models(db),
                       str(get_setting(db, "sampling_preset")))


# --- the streamed turn ------------------------------------------------------------------


@dataclass(frozen=True)
class Loading:
    model_name: str
    kind_label: str | None = None  # as in :class:`Started`


@dataclass(frozen=True)
class Started:
    conversation_id: int
    user_message_id: int | None
    reply_message_id: int
    model_name: str
    #: :attr:`Model.kind_label`: a base model, which continues text rather than answering.
    kind_label: str | None = None


@dataclass(frozen=True)
class Placed:
    """The model was loaded across workers: where each part sits ("layers 0-9 here, 10-29 on
    HOST:PORT") and one line per worker the load left out."""

    line: str
    dropped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Finished:
    stats: ReplyStats
    text: str
    status: str  # done or stopped
    #: With ``docs``: the passages the model was given, by number (see
    #: :meth:`~workbench.documents.grounding.Grounding.citations`), and what was cut.
    citations: list[dict[str, Any]] = field(default_factory=list)
    docs_note: str | None = None


@dataclass(frozen=True)
class Crashed:
    """llama.cpp ended the engine process; the reply's text so far is saved as interrupted."""

    message: str  # "The model stopped working: REASON"
    model_id: int


@dataclass
class TurnRequest:
    """One send, edit or regenerate, as the user asked for it."""

    kind: str  # "send", "edit" or "regenerate"
    model: int | str  # a library id, or a name as the CLI takes it
    prompt: str = ""
    conversation_id: int | None = None
    parent_id: int | None = None
    message_id: int | None = None  # the message edited, or the reply regenerated
    system_prompt: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    #: Collections to answer from. "send" attaches them to the conversation; for "edit" and
    #: "regenerate" an empty list means the conversation's own attached collections.
    docs: list[str] = field(default_factory=list)
    k: int = 5  # passages retrieved for ``docs``
    #: MCP servers whose tools the model may call ("send"); each call goes to ``approve``
    #: (:data:`workbench.mcp.toolbox.Approver`: once, always or deny; None denies all).
    mcp: list[str] = field(default_factory=list)
    approve: Approver | None = None
    #: Image files the user message carries ("send"; the model must see: a paired mmproj).
    images: list[str] = field(default_factory=list)


class ChatRunner:
    """Runs one turn on ``db``, a connection of the thread that iterates it. ``stop()`` from
    any thread ends the reply within a token and keeps the text generated so far.

    With ``docs``, the question is embedded for collections that have an embedding model by
    ``embedder`` (a caller that runs many turns keeps one: its engine process then stays
    loaded between turns), else by one started for this turn and ended once the passages
    are found; either embeds in ``engine`` itself when that has the embedding model loaded."""

    def __init__(self, db: Database, engine: Engine, request: TurnRequest,
                 embedder: Embedder | None = None) -> None:
        self.db = db
        self.engine = engine
        self.request = request
        self.embedder = embedder
        self.model: Model | None = None  # once found
        self.turn: chat.ChatTurn | None = None
        self.stopped = False
        self.toolbox: McpToolbox | None = None  # while the turn runs, with ``mcp``

    def stop(self) -> None:
        self.stopped = True
        if self.turn is not None:
            self.turn.stop()

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._turn()
        except EngineCrashed as error:  # the app goes on: say so, and offer to reload
            assert self.model is not None  # only the engine crashes, after the model is found
            yield Crashed(str(error), self.model.id)
        finally:
            if self.toolbox is not None:
                self.toolbox.close()
                self.toolbox = None

    def _turn(self) -> Iterator[Any]:
        db, request = self.db, self.request
        ready = runnable(db, request.model, request.overrides)
        model, load, sampling = ready.model, ready.load, ready.sampling
        self.model = model
        loaded = self.engine.loaded
        loading = not is_remote(model.path) and (loaded is None or loaded.path != Path(
            model.path).resolve() or loaded.settings != load)
        if loading:
            yield Loading(model.name, model.kind_label)
        if request.mcp:
            self.toolbox = open_toolbox(db, request.mcp, request.approve or _deny_all)
            yield from self.toolbox.drain()  # servers that did not start, tools left out
        embedder = self.embedder or Embedder(share=self.engine)  # starts nothing until used
        try:
            turn = self._start(db, model, load, sampling, embedder)
        finally:
            if embedder is not self.embedder:
                embedder.close()
        self.turn = turn
        if self.stopped:
            turn.stop()
        yield Started(turn.conversation_id, turn.user_message_id, turn.reply_message_id,
                      model.name, model.kind_label)
        split = self.engine.loaded.split if loading and self.engine.loaded else None
        if split:
            yield Placed(placement_line(split), dropped_lines(split))
        stream = iter(turn)
        try:
            yield from stream
        finally:
            stream.close()  # type: ignore[attr-defined]
        status = "stopped" if turn.reply.stopped else "done"
        grounding = turn.grounding
        yield Finished(turn.reply.stats, turn.reply.text, status,
                       grounding.citations() if grounding else [],
                       grounding.note if grounding else None)

    def _start(self, db: Database, model: Model, load: LoadSettings,
               sampling: SamplingSettings, embedder: Embedder) -> chat.ChatTurn:
        """The chat turn the request asks for (send, edit or regenerate), started."""
        request = self.request
        if request.kind == "send":
            return chat.send(db, self.engine, model, request.prompt,
                             conversation_id=request.conversation_id,
                             parent_id=request.parent_id, system_prompt=request.system_prompt,
                             load=load, sampling=sampling, docs=request.docs, k=request.k,
                             toolbox=self.toolbox, image_files=request.images,
                             embedder=embedder)
        assert request.message_id is not None
        if request.kind == "edit":
            return chat.edit(db, self.engine, model, request.message_id, request.prompt,
                             load=load, sampling=sampling, docs=request.docs or None,
                             k=request.k, embedder=embedder, toolbox=self.toolbox)
        return chat.regenerate(db, self.engine, model, request.message_id, load=load,
                               sampling=sampling, docs=request.docs or None, k=request.k,
                               embedder=embedder, toolbox=self.toolbox)


def _deny_all(call: Any) -> Any:
    return "deny"


def reload_model(db: Database, engine: Engine, model_id: int,
                 overrides: dict[str, Any]) -> str:
    """Load the model again after its engine process died (on the engine worker); returns
    its name for the status bar."""
    ready = runnable(db, model_id, overrides)
    engine.load(ready.model.path, ready.load)
    return ready.model.name
