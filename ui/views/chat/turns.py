"""The chat page's turns: sending a prompt (or continuing, regenerating, editing), and
drawing the reply as it streams.

Streaming: a turn runs on the "engine" worker as a :class:`~workbench.chat_runner.ChatRunner`.
Every stream gets a number, and every event it sends carries it: events of any stream but
the current one are ignored, and a stream whose conversation is not on show keeps saving but
draws nothing, so switching chats or models while a reply streams never mixes replies.
Tokens come from the worker in batches, at most one every :data:`FRAME_MS` (see
:class:`ui.tasks.Batches`), and each batch is drawn at once: one wake-up of the GUI thread and
one widget update per frame, never one per token, however fast the model writes.

A part of :class:`~ui.views.chat.page.ChatPage`, not a widget of its own: it uses the page's
widgets (the view, the input, the banner), state (``conversation_id``, ``stream``) and
signals, so the page (and its tests) reach ``send``, ``stop`` and the stream as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtWidgets import QWidget
from sqlite_utils import Database

from ui.tasks import Job
from ui.views.chat.approval import ApprovalBar, ApprovalBridge, Question
from ui.views.chat.placement import metrics_note, on_placed
from ui.widgets.image_strip import show_images
from ui.widgets.message_widget import MessageWidget
from workbench import conversations as convs
from workbench.chat_runner import (
    ChatRunner,
    Crashed,
    Finished,
    Loading,
    Placed,
    Started,
    TurnRequest,
)
from workbench.endpoints import model_ref
from workbench.engine.settings import json_cut_note
from workbench.library import Model
from workbench.mcp.toolbox import McpNotice, ToolCallShown, ToolResultShown

#: Streamed tokens reach the GUI thread and are drawn in batches, at most this often: 20 a
#: second, smooth to read. Each frame lays out and repaints the paragraph being written
#: (1.5-2.5 ms of the GUI thread here for a long paragraph), CPU time the model on the same
#: cores would otherwise have: at 30 frames a second that was 8% of a core, at 20 under 6%.
FRAME_MS = 50
CONTINUE_PROMPT = "Continue exactly where you stopped."


__all__ = ["Stream", "TurnsPart", "model_ref"]  # model_ref: the page names models so too


@dataclass
class Stream:
    """The reply being generated, and where (if anywhere) it is drawn."""

    sid: int
    request: TurnRequest
    model_name: str
    #: made on the engine worker, on that thread's connection; None until then
    runner: ChatRunner | None = None
    stop_asked: bool = False
    job: Job | None = None
    conversation_id: int | None = None
    reply_id: int | None = None
    widget: MessageWidget | None = None
    user_widget: MessageWidget | None = None
    pending: list[str] = field(default_factory=list)
    failed: str = ""
    placed: str = ""  # where the model's parts sit, when loaded across workers


class TurnsPart:
    """Sending and streaming (a part of the chat page)."""

    def _build_approvals(self, parent: QWidget) -> None:
        """The bar that asks before a tool runs, and the bridge from the engine worker."""
        self.approval_bar = ApprovalBar(parent)
        self.approvals = ApprovalBridge(self)
        self.approvals.asked.connect(self._approval_asked)

    def _suggestion(self, text: str) -> None:
        self.input.setPlainText(text)
        self.send()

    def send(self) -> None:
        text = self.input.toPlainText()
        if not text.strip():
            return
        if self.is_streaming:
            self.services.events.status_message.emit(
                "A reply is being written: wait for it or stop it (Esc).", 4000)
            return
        model = self.current_model
        if model is None:
            self.show_error("Choose a model first: there is none in the library yet.")
            return
        request = TurnRequest("send", model_ref(model), prompt=text,
                              conversation_id=self.conversation_id,
                              parent_id=self.view.leaf_id if self.conversation_id else None,
                              system_prompt=self.panel.system_text(),
                              docs=self.docs_panel.chosen(), k=self.docs_panel.k(),
                              images=self.attachments.take(),
                              **self._tool_request())
        self.input.clear()
        self.stack.setCurrentWidget(self.view)
        user = self.view.add(MessageWidget("user", text, parent=self.view.column))
        show_images(user, request.images)
        self._start(request, model, user)

    def continue_reply(self, reply_id: int) -> None:
        """A reply cut at the token limit: ask the model to carry on, as the next turn of
        the same branch (the cut reply stays as it is)."""
        if self.is_streaming or self.view.leaf_id != reply_id:
            return
        self.input.setPlainText(CONTINUE_PROMPT)
        self.send()

    def regenerate(self, reply_id: int) -> None:
        model = self.current_model
        if self.is_streaming or model is None:
            return
        self.view.remove_from(reply_id)
        self._start(TurnRequest("regenerate", model_ref(model), message_id=reply_id,
                                k=self.docs_panel.k(), **self._tool_request()), model, None)

    def edit(self, message_id: int, text: str) -> None:
        model = self.current_model
        if self.is_streaming or model is None:
            return
        self.view.remove_from(message_id)
        user = self.view.add(MessageWidget("user", text, parent=self.view.column))
        self._start(TurnRequest("edit", model_ref(model), prompt=text, message_id=message_id,
                                k=self.docs_panel.k(), **self._tool_request()), model, user)

    def _tool_request(self) -> dict[str, Any]:
        """The settings and the chat's MCP servers, as a send, edit or regenerate asks."""
        servers = self.tools_panel.chosen()
        overrides = self.panel.overrides()
        if servers:  # the first step's tool_choice; each call is approved in the bar
            overrides["tool_choice"] = self.tools_panel.tool_choice()
        return {"overrides": overrides, "mcp": servers}

    def _start(self, request: TurnRequest, model: Model, user: MessageWidget | None) -> None:
        self.banner.hide()
        self._sid += 1
        sid = self._sid
        reply = self.view.add(MessageWidget("assistant", title=model.name,
                                            parent=self.view.column))
        reply.set_status("Thinking…")
        reply.set_streaming(True)
        stream = Stream(sid, request, model.name, conversation_id=self.conversation_id,
                        widget=reply, user_widget=user)
        self.stream = stream
        services = self.services
        if request.mcp:  # read on the worker: a stopped reply denies what still waits
            request.approve = self.approvals.approver(
                lambda: stream.stop_asked or (stream.runner is not None
                                              and stream.runner.stopped))

        def runner(db: Database) -> ChatRunner:  # on the engine worker, on its connection
            made = ChatRunner(db, services.engine, request)
            stream.runner = made
            if stream.stop_asked:  # Stop was pressed before the runner existed
                made.stop()
            return made

        stream.job = self.services.ops.run(
            "engine", runner, name=f"reply from {model.name}", batch_ms=FRAME_MS,
            progress=lambda events: self._on_events(sid, events),
            failure=lambda message: self._on_failed(sid, message),
            finished=lambda: self._on_done(sid),
        )
        self.view.set_busy(True)
        self._update_buttons()
        self.streaming_changed.emit(True)

    def stop(self) -> None:
        """Stop the reply; what was generated stays, saved with finish reason "stopped"."""
        if self.stream is not None:
            self.stream.stop_asked = True
            if self.stream.runner is not None:
                self.stream.runner.stop()
            if self.stream.widget is not None:
                self.stream.widget.set_status("Stopping…")
        self.approval_bar.deny_all()

    def _approval_asked(self, question: Question) -> None:
        """A tool call waits for the user (from the engine worker, through the bridge): the
        bar asks, and the call's card in the transcript says it waits."""
        stream = self.stream
        if stream is None or stream.stop_asked:
            question.answer("deny")
            return
        if stream.widget is not None:
            call = question.call
            stream.widget.tool_calls.add_call(call.server, call.tool, call.arguments,
                                              call.call_id)
            stream.widget.set_status("Waiting for your approval (below)…")
        self.approval_bar.ask(question)

    # --- stream events (GUI thread) --------------------------------------------------------

    def _on_events(self, sid: int, events: list[object]) -> None:
        """One batch from the worker: its text is drawn once, after the batch."""
        for event in events:
            self._on_event(sid, event)
        self._flush()

    def _on_event(self, sid: int, event: object) -> None:
        stream = self.stream
        if stream is None or stream.sid != sid:
            return  # a stale event from an earlier stream
        if isinstance(event, str):
            stream.pending.append(event)
        elif isinstance(event, Loading):
            self.services.events.model_loading.emit(event.model_name)
            if stream.widget is not None:
                stream.widget.set_status(f"Loading {event.model_name}…")
        elif isinstance(event, Started):
            stream.reply_id = event.reply_message_id
            new_chat = stream.conversation_id is None
            stream.conversation_id = event.conversation_id
            self.services.events.model_loaded.emit(event.model_name)
            if stream.widget is not None:
                stream.widget.message_id = event.reply_message_id
                if stream.user_widget is not None:
                    stream.user_widget.message_id = event.user_message_id
                if new_chat and self.conversation_id is None:
                    self.conversation_id = event.conversation_id
            if new_chat:
                if self.conversation_id == event.conversation_id:  # its docs and servers
                    self.docs_panel.set_conversation(event.conversation_id,
                                                     stream.request.docs)
                    self.tools_panel.conversation_started(event.conversation_id)
                if stream.widget is not None and stream.request.prompt:
                    # the title the database gives it, shown now rather than after the reply
                    self.title.setText(convs.title_from(stream.request.prompt))
                self.services.events.changed.emit(frozenset({"chats"}), self)
        elif isinstance(event, Placed):
            on_placed(self, stream, event)
        elif isinstance(event, ToolCallShown):
            if stream.widget is not None:
                stream.widget.tool_calls.add_call(event.server, event.tool, event.arguments,
                                                  event.call_id)
                stream.widget.set_status(f"Calling {event.tool}…")
        elif isinstance(event, ToolResultShown):
            if stream.widget is not None:
                stream.widget.tool_calls.set_result(event.record(), event.call_id)
                stream.widget.set_status("Thinking…")
            if event.decision == "always":  # kept by the core: the Tools panel lists it
                self.tools_panel.approvals.refresh()
        elif isinstance(event, McpNotice):
            if stream.widget is not None:
                stream.widget.tool_calls.add_notice(event.line)
            self.services.events.status_message.emit(event.line, 8000)
        elif isinstance(event, Crashed):
            self._flush()
            stream.failed = event.message
            self.show_error(event.message, action="Reload",
                            on_action=lambda: self.reload_model(event.model_id))
            if stream.widget is not None:
                stream.widget.set_status(event.message, error=True)
            self.services.events.model_loaded.emit("")
        elif isinstance(event, Finished):
            self._flush()
            if stream.widget is not None:
                stream.widget.text = event.text
                stream.widget.finish_stream()
                stream.widget.set_status("")
                stats = event.stats
                # What is stored, so the line reads the same when the chat is opened again.
                stream.widget.set_metrics(
                    stats.measurements(), stats.finish_reason,
                    metrics_note(stream, json_cut_note(
                        stats.finish_reason, stats.settings.get("json_schema"), event.text)))
                if event.citations or event.docs_note:
                    stream.widget.set_citations(event.citations, event.docs_note)

    def _flush(self) -> None:
        stream = self.stream
        if stream is None or not stream.pending:
            return
        text = "".join(stream.pending)
        stream.pending.clear()
        if stream.widget is not None:
            if stream.widget.status.isVisible() and stream.widget.status.text() != "Stopping…":
                stream.widget.set_status("")
            stream.widget.stream(text)

    def _on_failed(self, sid: int, message: str) -> None:
        stream = self.stream
        if stream is None or stream.sid != sid:
            return
        stream.failed = message
        self.show_error(message)
        if stream.widget is not None:
            stream.widget.set_status(message, error=True)
        self.services.events.model_loaded.emit(self._loaded_name())

    def _on_done(self, sid: int) -> None:
        stream = self.stream
        if stream is None or stream.sid != sid:
            return
        self._flush()
        if stream.widget is not None:
            stream.widget.set_streaming(False)
            if not stream.failed:
                stream.widget.finish_stream()
        self.stream = None
        self.approval_bar.deny_all()  # nothing can still be waiting for an answer
        self.view.set_busy(False)
        self._update_buttons()
        self.streaming_changed.emit(False)
        if self.conversation_id is not None and self.conversation_id == stream.conversation_id:
            said = self.banner.isVisible()  # what went wrong while it streamed stays said
            self.open_conversation(self.conversation_id)  # metrics, branches, saved text
            self.banner.setVisible(said)
        self.services.events.changed.emit(frozenset({"chats"}), self)

    def _detach_stream(self) -> None:
        """Leave the stream running (it keeps saving) but stop drawing it."""
        if self.stream is not None:
            self._flush()
            self.stream.widget = None
            self.stream.user_widget = None
            self.view.set_busy(False)

    def _reattach_stream(self) -> None:
        stream = self.stream
        if stream is None or stream.conversation_id != self.conversation_id:
            return
        for widget in self.view.messages:
            if widget.message_id == stream.reply_id and stream.runner is not None \
                    and stream.runner.turn is not None:
                widget.set_content(stream.runner.turn.reply.text)
                widget.set_streaming(True)
                stream.pending.clear()
                stream.widget = widget
                self.view.set_busy(True)

    def _loaded_name(self) -> str:
        loaded = self.services.engine.loaded
        return loaded.path.stem if loaded is not None else ""

    def _update_buttons(self) -> None:
        streaming = self.is_streaming
        self.send_button.setEnabled(not streaming and bool(self.models))
        self.stop_button.setVisible(streaming)
        self.send_button.setVisible(not streaming)
