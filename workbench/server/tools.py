"""Tool calling in ``/v1/chat/completions``: ``tools``, ``tool_choice``,
``parallel_tool_calls``, assistant ``tool_calls`` and ``role: tool`` messages in, OpenAI's
``tool_calls`` out (whole, or as streamed deltas).

The engine renders and constrains (:mod:`workbench.engine.tools`) and reads the reply
(:mod:`workbench.engine.tool_parse`); this module checks the request's parts in OpenAI's
error shape (every tool schema goes through the same bounds as ``response_format``) and
shapes the answer. A streamed reply that may call tools is sent as it is written by
:mod:`workbench.server.tool_deltas`.
"""

from __future__ import annotations

import json
from typing import Any

from workbench.engine.settings import ReplyStats
from workbench.engine.tool_parse import ToolTurn, parse_reply
from workbench.engine.tools import check_tool_choice, check_tools
from workbench.errors import InvalidInputError


class ToolRequestError(InvalidInputError):
    """A part of the request that is wrong, and the field (``param``) it is in; the protocol
    answers it as a 400 in OpenAI's shape."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def bad(message: str, param: str) -> ToolRequestError:
    return ToolRequestError(message, param)


#: The most calls one assistant message of a request may carry.
MAX_MESSAGE_CALLS = 128


def tool_settings(body: dict[str, Any]) -> dict[str, Any]:
    """The engine's sampling values for the request's tools (empty when none are offered)."""
    try:
        tools = check_tools(body.get("tools"), "tools")
    except InvalidInputError as error:
        raise bad(str(error), "tools") from None
    try:
        choice = check_tool_choice(body.get("tool_choice"), tools)
    except InvalidInputError as error:
        raise bad(str(error), "tool_choice") from None
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise bad("parallel_tool_calls: must be true or false", "parallel_tool_calls")
    if not tools:
        if choice not in (None, "none", "auto"):
            raise bad("tool_choice: no tools are offered", "tool_choice")
        return {}
    return {"tools": tools, "tool_choice": choice or "auto", "parallel_tool_calls": parallel}


def chat_messages(raw: list[Any], content: Any, offered: bool) -> list[dict[str, Any]]:
    """The request's messages, checked: an assistant's ``tool_calls`` well formed, every
    ``role: tool`` message answering a call an earlier assistant message made. Without
    tools offered, calls and results are written as text (as before tools were supported)."""
    messages: list[dict[str, Any]] = []
    pending: dict[str, str] = {}  # call id -> tool name, not yet answered
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        role = message["role"]
        text = content(message.get("content"), where)
        if role == "assistant" and message.get("tool_calls") is not None:
            calls = _calls(message["tool_calls"], where)
            pending.update({c["id"]: c["function"]["name"] for c in calls})
            if offered:
                messages.append({"role": "assistant", "content": text, "tool_calls": calls})
            else:
                written = [{"name": c["function"]["name"], "arguments": c["function"][
                    "arguments"]} for c in calls]
                messages.append({"role": "assistant",
                                 "content": text + json.dumps({"tool_calls": written})})
            continue
        if role == "tool":
            ident = message.get("tool_call_id")
            if not isinstance(ident, str) or ident not in pending:
                raise bad(f"{where}: a tool result must answer a call an earlier assistant "
                          f"message made (tool_call_id {str(ident)[:64]!r} matches none)",
                          "messages")
            name = pending.pop(ident)
            messages.append({"role": "tool", "tool_call_id": ident, "name": name,
                             "content": text} if offered else {"role": "user", "content": text})
            continue
        messages.append({"role": {"developer": "system"}.get(role, role), "content": text})
    return messages


def _calls(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_MESSAGE_CALLS:
        raise bad(f"{where}.tool_calls: must be a list of at most {MAX_MESSAGE_CALLS} calls",
                  "messages")
    calls = []
    for number, call in enumerate(value):
        here = f"{where}.tool_calls[{number}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or \
                not isinstance(call.get("id"), str) or \
                not isinstance(function.get("arguments", "{}"), str):
            raise bad(f"{here}: must be {{\"id\", \"type\": \"function\", \"function\": "
                      "{\"name\", \"arguments\": JSON text}}", "messages")
        calls.append({"id": call["id"], "type": "function", "function": {
            "name": function["name"], "arguments": function.get("arguments", "{}")}})
    return calls


def tools_active(sampling: dict[str, Any]) -> bool:
    return bool(sampling.get("tools")) and sampling.get("tool_choice") != "none"


def read_turn(text: str, stats: ReplyStats, sampling: dict[str, Any]) -> ToolTurn:
    return parse_reply(text, str(stats.settings.get("tool_format", "generic")),
                       sampling.get("tools"))


def answer_message(turn: ToolTurn) -> tuple[dict[str, Any], str | None]:
    """The assistant message of a finished reply, and ``tool_calls`` as the finish reason
    when it made calls (None: the usual reason)."""
    if not turn.calls:
        return {"role": "assistant", "content": turn.content}, None
    calls = [call.openai() for call in turn.calls]
    return {"role": "assistant", "content": turn.content or None, "tool_calls": calls}, \
        "tool_calls"


def tool_answer(text: str, stats: ReplyStats, sampling: dict[str, Any]
           ) -> tuple[dict[str, Any], str | None]:
    """The chat answer's message (and ``tool_calls`` when it made calls)."""
    if not tools_active(sampling):
        return {"role": "assistant", "content": text}, None
    return answer_message(read_turn(text, stats, sampling))

