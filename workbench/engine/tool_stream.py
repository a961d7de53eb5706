"""A reply that may call tools, read while it streams: its text at once, its calls as they grow.

After llama.cpp's server: each new piece, the whole text so far is parsed as *partial*
(``common_chat_parse(text, is_partial=true)``) and the result is compared with what was
already sent (``common_chat_msg_diff::compute_diffs``): new content, a new call (its name
once known), more of a call's arguments. When the reply ends, the real parser
(:func:`~workbench.engine.tool_parse.parse_reply`, the non-streamed answer's) has the last
word and the stream sends what is left, so the deltas add up to the non-streamed answer.

:func:`partial_turn` is the partial parser:

- Content is sent only when it is surely not part of a call: text that may be the start of
  a call's opening (``<tool_`` before ``<tool_call>`` is complete, a code fence that may
  hold one) is held until it is clear, and so are trailing blanks (a call after them strips
  them).
- Hermes/Qwen (``<tool_call>``, ``<function=NAME>`` and the other openings), Mistral
  (``[TOOL_CALLS]``) and the generic JSON format give each call's name once it is written
  and its arguments as a growing JSON text (:mod:`~workbench.engine.partial_json`).
- Llama 3.x, pythonic, Granite, Qwen3-Coder XML and harmony stream their content up to where
  a call may begin; their calls are sent whole when the reply ends.
- A call's arguments grow token by token only when a grammar holds them (``guarded``: a
  forced call, or ``auto`` with llama.cpp's lazy grammar); otherwise a call is sent once
  it is complete and its arguments follow the tool's schema, as the final parse would take
  it. A call to a tool not offered is never sent as a call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import regex

from workbench.engine import partial_json
from workbench.engine.partial_json import Node, NotJson
from workbench.engine.tool_parse import ToolTurn
from workbench.engine.tools import argument_problem, parameters_of

#: The formats whose calls llama.cpp's lazy grammar holds under ``auto`` (engine.tools).
LAZY_GRAMMAR = frozenset({"hermes", "mistral", "granite"})


@dataclass
class PartialCall:
    name: str
    arguments: str  # JSON text so far (a prefix of the finished call's arguments)


@dataclass
class PartialTurn:
    content: str = ""
    calls: list[PartialCall] = field(default_factory=list)


@dataclass
class StreamDelta:
    """One thing to send: ``content``, or a call's part (``index``; ``name`` on its first
    delta, then ``arguments`` text to append)."""

    content: str = ""
    index: int | None = None
    name: str | None = None
    arguments: str = ""


class _Reader:
    """What the partial parse needs besides the text: the tools' schemas and whether a
    grammar holds the arguments."""

    def __init__(self, tools: str | None, guarded: bool) -> None:
        self.schemas = parameters_of(tools) if tools is not None else None
        self.guarded = guarded

    def call(self, name: str, arguments: Node | None) -> PartialCall | None:
        """The call as it may be sent now, or None (not yet, or never)."""
        if self.schemas is not None and name not in self.schemas:
            return None  # not offered: the final parse keeps it as text
        if arguments is None:
            return self._growing(name, "")
        if arguments.kind == "string":  # arguments written as a JSON string
            if not arguments.complete:
                return self._growing(name, "")
            try:
                value = json.loads(arguments.text)
            except ValueError:
                return None
            return self._checked(name, value, json.dumps(value, ensure_ascii=False))
        if arguments.kind != "object":
            return None
        if arguments.complete:
            value = arguments.python()
            return self._checked(name, value, arguments.dump())
        return self._growing(name, arguments.dump())

    def _growing(self, name: str, arguments: str) -> PartialCall | None:
        """An unfinished call: sent as it grows only when a grammar holds it (else it may
        still fail its schema, and the final parse would keep it as text)."""
        return PartialCall(name, arguments) if self.guarded else None

    def _checked(self, name: str, value: Any, text: str) -> PartialCall | None:
        if self.schemas is not None and argument_problem(self.schemas[name], value):
            return None
        return PartialCall(name, text)

    def entry(self, node: Node) -> tuple[PartialCall | None, bool]:
        """A call written as ``{"name", "arguments"}`` (or nested in ``function``): the call
        so far, and whether reading may go on past it."""
        if node.kind != "object":
            return None, False
        function = node.get("function")
        if function is not None and function.kind == "object":
            call, _ = self.entry(function)
            return call, node.complete and call is not None
        name = node.get("name")
        if name is None or name.kind != "string" or not name.complete:
            return None, False
        key = "arguments" if node.has("arguments") else "parameters"
        call = self.call(name.text, node.get(key))
        if node.complete and not (node.has("arguments") or node.has("parameters")):
            return None, False
        return call, node.complete and call is not None

    def entries(self, nodes: list[Node], calls: list[PartialCall]) -> None:
        """Calls written as a list of entries (:meth:`entry`), added to ``calls`` up to the
        first one that is unfinished or not a call."""
        for node in nodes:
            call, go_on = self.entry(node)
            if call is not None:
                calls.append(call)
            if not go_on:
                return


def _held(text: str, start: int, triggers: regex.Pattern[str]) -> int:
    """Where text that may begin a call starts (a full or a partial match), or the end."""
    match = triggers.search(text, start, partial=True)
    if match is None or match.start() >= len(text):
        return len(text)
    return match.start()


_THINK = regex.compile(r"\s*<think>")
_HERMES_OPEN = regex.compile(
    r"(?:```(?:json|xml)?\s*)?(?:<(tool_call|function_call|tool|tools|response|json|JSON|xml)>"
    r"|<function=([\w.-]+)>|<function name=\"([\w.-]+)\">)")


def _after_thinking(text: str) -> str | None:
    """The text after a leading ``<think>...</think>`` (None while that is unfinished)."""
    match = _THINK.match(text, partial=True)
    if match is None:
        return text
    if match.partial:
        return None
    end = text.find("</think>", match.end())
    if end < 0:
        return None
    return text[end + len("</think>"):].lstrip()


def _hermes(text: str, reader: _Reader) -> PartialTurn:
    turn = PartialTurn()
    body = _after_thinking(text)
    if body is None:
        return turn
    lead = body.lstrip()
    fence = re.match(r"```(?:json|xml)?\s*", lead)
    if lead.startswith("{") or (fence and lead[fence.end():fence.end() + 1] in ("{", "")):
        return turn  # a bare call is the whole reply or none: the end decides
    pieces, pos = [], 0
    while True:
        match = _HERMES_OPEN.search(body, pos, partial=True)
        if match is None or match.start() >= len(body):
            pieces.append(body[pos:])
            break
        pieces.append(body[pos:match.start()])
        if match.partial:
            break
        tag, fname = match.group(1), match.group(2) or match.group(3)
        after = len(body) - len(body[match.end():].lstrip())
        if fname and body[after:after + 1] in ("<", ""):
            break  # Qwen3-Coder's <parameter=...> may follow: the end decides
        try:
            node, end = partial_json.read(body, match.end())
        except NotJson:
            break
        if node is None:
            break
        if fname:
            call = reader.call(fname, node)
            go_on = node.complete and call is not None
        else:
            call, go_on = reader.entry(node)
        if call is not None:
            turn.calls.append(call)
        if not go_on:
            break
        closer = f"</{tag or 'function'}>"
        closed = re.compile(r"\s*(?:" + closer + r")?\s*(?:```)?\s*").match(body, end)
        pos = closed.end() if closed else end
        rest = body[pos:]
        if not rest or closer.startswith(rest) or "```".startswith(rest):
            break  # the closing may still be being written
    turn.content = "".join(pieces)
    return turn


_MISTRAL_ARGS = regex.compile(r"\s*([\w.-]+)\[ARGS\]")


def _mistral(text: str, reader: _Reader) -> PartialTurn:
    turn = PartialTurn()
    at = _held(text, 0, regex.compile(r"\[TOOL_CALLS\]"))
    turn.content = text[:at]
    if not text.startswith("[TOOL_CALLS]", at):
        return turn
    rest = text[at + len("[TOOL_CALLS]"):]
    if rest.lstrip().startswith("["):
        try:
            node, _ = partial_json.read(rest)
        except NotJson:
            return turn
        reader.entries(node.items if node is not None else [], turn.calls)
        return turn
    pos = 0
    while (match := _MISTRAL_ARGS.match(rest, pos)) is not None:
        try:
            node, pos = partial_json.read(rest, match.end())
        except NotJson:
            break
        call = reader.call(match.group(1), node) if node is not None else None
        if call is None:
            break
        turn.calls.append(call)
        if not (node and node.complete):
            break
    return turn


def _generic(text: str, reader: _Reader) -> PartialTurn:
    turn = PartialTurn()
    if not text.lstrip().startswith("{"):
        turn.content = "" if not text.strip() else text
        return turn
    try:
        node, _ = partial_json.read(text)
    except NotJson:
        return turn
    if node is None or node.kind != "object":
        return turn
    response = node.get("response")
    if response is not None and response.kind == "string":
        turn.content = response.text
        return turn
    listed = node.get("tool_calls")
    entries = listed.items if listed is not None and listed.kind == "array" else \
        [one] if (one := node.get("tool_call")) is not None else []
    reader.entries(entries, turn.calls)
    return turn


#: Where a call may begin, for the formats whose calls are sent when the reply ends.
_TRIGGERS = {
    "granite": regex.compile(r"<think>|</?response>|<\|tool_call\|>"),
    "qwen3-coder": regex.compile(r"<tool_call>|<function="),
    "harmony": regex.compile(r"<\|channel\|>|<\|start\|>"),
}
#: Formats whose reply is either all calls (starting so) or all content.
_LEADING = {"llama3": ("{", "<|python_tag|>"), "pythonic": ("[", "<|python_start|>")}


def _held_content(text: str, form: str) -> PartialTurn:
    if form in _LEADING:
        lead = text.lstrip()
        if any(m.startswith(lead) or lead.startswith(m) for m in _LEADING[form]):
            return PartialTurn()
        return PartialTurn(text)
    body = _after_thinking(text) if form == "qwen3-coder" else text
    if body is None:
        return PartialTurn()
    return PartialTurn(body[:_held(body, 0, _TRIGGERS.get(form, _TRIGGERS["harmony"]))])


def partial_turn(text: str, form: str, tools: str | None = None, *,
                 guarded: bool = False) -> PartialTurn:
    """The reply so far read as content that is surely not part of a call, and the calls so
    far (llama.cpp's ``common_chat_parse`` with ``is_partial``). ``tools`` (their JSON
    text) leaves out calls to tools not offered; ``guarded``: a grammar holds the calls'
    arguments, so they may be sent as they grow."""
    reader = _Reader(tools, guarded)
    if form == "hermes":
        turn = _hermes(text, reader)
    elif form == "mistral":
        turn = _mistral(text, reader)
    elif form == "generic":
        turn = _generic(text, reader)
    else:
        turn = _held_content(text, form)
    turn.content = turn.content.lstrip().rstrip()  # blanks at the end wait (see module)
    return turn


class ToolStream:
    """The deltas of one streamed reply: :meth:`feed` each piece, :meth:`finish` with the
    final parse (llama.cpp's ``compute_diffs`` between successive partial parses)."""

    def __init__(self, form: str, tools: str | None, choice: str = "auto") -> None:
        self.form, self.tools = form, tools
        self.guarded = choice != "auto" or form in LAZY_GRAMMAR or form == "generic"
        self.text = ""
        self.sent = PartialTurn()
        #: The final parse differed from what was sent (see :meth:`finish`).
        self.diverged = False

    def feed(self, piece: str) -> list[StreamDelta]:
        self.text += piece
        if not piece:
            return []
        return self._advance(partial_turn(self.text, self.form, self.tools,
                                          guarded=self.guarded))

    def finish(self, turn: ToolTurn) -> list[StreamDelta]:
        """What is left once the reply has ended, from the final parse ``turn``; should
        what was sent not be a prefix of it (a reply cut inside a call), the stream ends
        with what it had and :attr:`diverged` is set."""
        final = PartialTurn(turn.content, [PartialCall(call.name, json.dumps(
            call.arguments, ensure_ascii=False)) for call in turn.calls])
        deltas = self._advance(final)
        self.diverged = final != self.sent
        return deltas

    def _advance(self, now: PartialTurn) -> list[StreamDelta]:
        deltas: list[StreamDelta] = []
        sent = self.sent
        if now.content.startswith(sent.content) and len(now.content) > len(sent.content):
            deltas.append(StreamDelta(content=now.content[len(sent.content):]))
            sent.content = now.content
        for index, call in enumerate(now.calls):
            if index < len(sent.calls):
                before = sent.calls[index]
                if before.name != call.name or not call.arguments.startswith(
                        before.arguments):
                    break
            elif index == len(sent.calls):
                sent.calls.append(PartialCall(call.name, ""))
                deltas.append(StreamDelta(index=index, name=call.name))
            before = sent.calls[index]
            if len(call.arguments) > len(before.arguments):
                deltas.append(StreamDelta(index=index,
                                          arguments=call.arguments[len(before.arguments):]))
                before.arguments = call.arguments
        return deltas
