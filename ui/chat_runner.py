"""What the chat page runs on the workers: plain functions and one stoppable iterator.

Nothing here imports Qt, so it can be tested and benchmarked without a window. The page runs
:func:`load_conversation` and friends on the "db" worker and a :class:`ChatRunner` on the
"engine" worker; the runner yields small events first (:class:`Loading`, :class:`Started`),
then the reply's text pieces, then :class:`Finished`, or :class:`Crashed` when llama.cpp took
its engine process down (the window offers to reload; :func:`reload_model` does it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench import chat
from workbench import conversations as convs
from workbench.engine import Engine, ReplyStats
from workbench.errors import EngineCrashed, ModelFileError
from workbench.library import Model, get_model, list_models
from workbench.model_settings import resolve_settings
from workbench.settings import get_setting


@dataclass
class ConversationData:
    """A conversation as the chat view shows it: the branch on show and its alternatives."""

    conversation: dict[str, Any]
    messages: list[convs.StoredMessage]
    siblings: dict[int, list[int]] = field(default_factory=dict)


def load_conversation(db: Database, conversation_id: int,
                      show_message: int | None = None) -> ConversationData:
    """The branch on show (or, with ``show_message``, the branch through that message)."""
    if show_message is not None:
        convs.show_branch(db, conversation_id, show_message)
    conversation = convs.get_conversation(db, conversation_id)
    messages = convs.branch(db, conversation_id)
    siblings = {m.id: convs.siblings(db, m.id) for m in messages}
    return ConversationData(conversation, messages, siblings)


def switch_branch(db: Database, conversation_id: int, message_id: int) -> ConversationData:
    convs.show_branch(db, conversation_id, message_id)
    return load_conversation(db, conversation_id)


@dataclass
class ChatStartup:
    """What the chat page needs to open: the library and the defaults."""

    models: list[Model]
    preset: str


def load_startup(db: Database) -> ChatStartup:
    return ChatStartup(list_models(db), str(get_setting(db, "sampling_preset")))


# --- the streamed turn ------------------------------------------------------------------


@dataclass(frozen=True)
class Loading:
    model_name: str


@dataclass(frozen=True)
class Started:
    conversation_id: int
    user_message_id: int | None
    reply_message_id: int
    model_name: str


@dataclass(frozen=True)
class Finished:
    stats: ReplyStats
    text: str
    status: str  # done or stopped


@dataclass(frozen=True)
class Crashed:
    """llama.cpp ended the engine process; the reply's text so far is saved as interrupted."""

    message: str  # "The model stopped working: REASON"
    model_id: int


@dataclass
class TurnRequest:
    """One send, edit or regenerate, as the user asked for it."""

    kind: str  # "send", "edit" or "regenerate"
    model_id: int
    prompt: str = ""
    conversation_id: int | None = None
    parent_id: int | None = None
    message_id: int | None = None  # the message edited, or the reply regenerated
    system_prompt: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


class ChatRunner:
    """Runs one turn on ``db``, a connection of the thread that iterates it. ``stop()`` from
    any thread ends the reply within a token and keeps the text generated so far."""

    def __init__(self, db: Database, engine: Engine, request: TurnRequest) -> None:
        self.db = db
        self.engine = engine
        self.request = request
        self.turn: chat.ChatTurn | None = None
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True
        if self.turn is not None:
            self.turn.stop()

    def __iter__(self):  # type: ignore[no-untyped-def]
        try:
            yield from self._turn()
        except EngineCrashed as error:  # the app goes on: say so, and offer to reload
            yield Crashed(str(error), self.request.model_id)

    def _turn(self):  # type: ignore[no-untyped-def]
        db, request = self.db, self.request
        model = get_model(db, request.model_id)
        if not Path(model.path).is_file():
            raise ModelFileError(
                f"{model.name}: the model file is missing ({model.path}); it may have been "
                "moved or deleted. Add it again or remove it on the Models page")
        load, sampling = resolve_settings(db, model, request.overrides)
        loaded = self.engine.loaded
        if loaded is None or loaded.path != Path(model.path).resolve() or loaded.settings != load:
            yield Loading(model.name)
        if request.kind == "send":
            turn = chat.send(db, self.engine, model, request.prompt,
                             conversation_id=request.conversation_id,
                             parent_id=request.parent_id, system_prompt=request.system_prompt,
                             load=load, sampling=sampling)
        elif request.kind == "edit":
            assert request.message_id is not None
            turn = chat.edit(db, self.engine, model, request.message_id, request.prompt,
                             load=load, sampling=sampling)
        else:
            assert request.message_id is not None
            turn = chat.regenerate(db, self.engine, model, request.message_id,
                                   load=load, sampling=sampling)
        self.turn = turn
        if self.stopped:
            turn.stop()
        yield Started(turn.conversation_id, turn.user_message_id, turn.reply_message_id,
                      model.name)
        stream = iter(turn)
        try:
            yield from stream
        finally:
            stream.close()  # type: ignore[attr-defined]
        status = "stopped" if turn.reply.stopped else "done"
        yield Finished(turn.reply.stats, turn.reply.text, status)


def reload_model(db: Database, engine: Engine, model_id: int,
                 overrides: dict[str, Any]) -> str:
    """Load the model again after its engine process died (on the engine worker); returns
    its name for the status bar."""
    model = get_model(db, model_id)
    load, _sampling = resolve_settings(db, model, overrides)
    engine.load(model.path, load)
    return model.name
