"""A model's reply read as text and tool calls, for each family's call syntax.

Modelled on llama.cpp's ``common/chat.cpp`` parsers (their cases are ported in
``tests/core/test_tool_parse.py``): Hermes / Qwen 2.5 / Qwen 3 (``<tool_call>{...}</tool_call>``
and the variants small models write: ``<function=NAME>``, ``<tools>``, fenced JSON),
Llama 3.x JSON (``{"name", "parameters"}``, ``<|python_tag|>``), Mistral (``[TOOL_CALLS]``
with a JSON list, or ``NAME[ARGS]{...}``), pythonic calls (``[f(a=1), g(b="x")]``: Llama 4,
LFM2, Gemma-style), Granite (``<|tool_call|>[...]``), Qwen3-Coder XML (``<function=NAME>
<parameter=P>``), gpt-oss harmony (``<|channel|>commentary to=functions.NAME``) and llama.cpp's
generic JSON (``{"tool_call": ...}`` / ``{"response": ...}``).

A call the model wrote that cannot be read (half a call, JSON that does not parse, an
unknown tool, arguments that fail the tool's schema) is not returned as a call: its text
stays in the content and the reason is one line in ``problems``, so nothing is lost and a
client is never handed arguments that do not validate.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.tools import MAX_CALLS, argument_problem


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""

    def openai(self, index: int | None = None) -> dict[str, Any]:
        """OpenAI's ``tool_calls`` entry (``arguments`` as JSON text)."""
        entry: dict[str, Any] = {"id": self.id or "call_" + uuid.uuid4().hex[:24],
                                 "type": "function", "function": {
                                     "name": self.name,
                                     "arguments": json.dumps(self.arguments,
                                                             ensure_ascii=False)}}
        if index is not None:
            entry = {"index": index, **entry}
        return entry


@dataclass
class ToolTurn:
    """A reply read: its text, its calls, and why any written call was not taken."""

    content: str
    calls: list[ToolCall] = field(default_factory=list)
    reasoning: str = ""
    problems: list[str] = field(default_factory=list)


_JSON = json.JSONDecoder()


def _json_at(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON value starting at ``start`` (after blanks) and where it ends, or None."""
    while start < len(text) and text[start] in " \t\r\n":
        start += 1
    try:
        return _JSON.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None


def _call_from(value: Any, keys: tuple[str, ...] = ("arguments", "parameters")
               ) -> ToolCall | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # {"type": "function", "function": {...}}
        return _call_from(value["function"], keys)
    name = value.get("name")
    if not isinstance(name, str):
        return None
    for key in keys:
        if key in value:
            arguments = value[key]
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except ValueError:
                    return None
            return ToolCall(name, arguments, str(value.get("id") or ""))
    return None


# --- the families --------------------------------------------------------------------------

_HERMES_OPEN = re.compile(
    r"(?:```(?:json|xml)?\s*)?(?:<(tool_call|function_call|tool|tools|response|json|JSON|xml)>"
    r"|<function=([\w.-]+)>|<function name=\"([\w.-]+)\">)")


def _hermes(text: str, turn: ToolTurn) -> str:
    """``<tool_call>{json}</tool_call>`` and what Hermes-style models write instead."""
    content, pos = [], 0
    while True:
        match = _HERMES_OPEN.search(text, pos)
        if match is None:
            break
        tag, fname = match.group(1), match.group(2) or match.group(3)
        found = _json_at(text, match.end())
        if found is None:
            turn.problems.append(f"a call at character {match.start()} is not complete JSON")
            break
        value, end = found
        call = ToolCall(fname, value) if fname else _call_from(value)
        if call is None:
            break
        closing = re.compile(r"\s*(?:</%s>)?\s*(?:```)?\s*" % (tag or "function"))
        end = closing.match(text, end).end()  # type: ignore[union-attr]
        content.append(text[pos:match.start()])
        turn.calls.append(call)
        pos = end
    content.append(text[pos:])
    rest = "".join(content)
    if not turn.calls:  # a bare or fenced JSON call with no tag at all
        stripped = re.sub(r"^```(?:json|xml)?\s*|\s*```\s*$", "", rest.strip())
        found = _json_at(stripped, 0)
        if found and found[1] == len(stripped):
            call = _call_from(found[0])
            if call:
                turn.calls.append(call)
                return ""
    return rest


def _thinking(text: str, turn: ToolTurn) -> str:
    match = re.match(r"\s*<think>(.*?)</think>\s*", text, re.S)
    if match:
        turn.reasoning = match.group(1).strip()
        return text[match.end():]
    return text


def _llama3(text: str, turn: ToolTurn) -> str:
    body = text.strip()
    if body.startswith("<|python_tag|>"):
        body = body[len("<|python_tag|>"):]
    calls = []
    for part in re.split(r"\s*;\s*(?=\{)", body) if body.startswith("{") else []:
        found = _json_at(part, 0)
        call = _call_from(found[0], ("parameters", "arguments")) if found and \
            found[1] == len(part.rstrip()) else None
        if call is None:
            return text
        calls.append(call)
    turn.calls.extend(calls)
    return "" if calls else text


def _mistral(text: str, turn: ToolTurn) -> str:
    at = text.find("[TOOL_CALLS]")
    if at < 0:
        return text
    rest = text[at + len("[TOOL_CALLS]"):]
    found = _json_at(rest, 0)
    if found and isinstance(found[0], list):
        for value in found[0]:
            call = _call_from(value)
            if call is None:
                turn.problems.append("a [TOOL_CALLS] entry has no name and arguments")
                return text
            turn.calls.append(call)
        return text[:at]
    for match in re.finditer(r"([\w.-]+)\[ARGS\]", rest):  # Magistral, Mistral Small 3.2
        value = _json_at(rest, match.end())
        if value is None:
            turn.problems.append(f"the arguments of {match.group(1)} are not complete JSON")
            return text
        turn.calls.append(ToolCall(match.group(1), value[0]))
    if not turn.calls:
        turn.problems.append("[TOOL_CALLS] is not followed by a call")
        return text
    return text[:at]


def _pythonic(text: str, turn: ToolTurn) -> str:
    body = text.strip()
    if body.startswith("<|python_start|>"):
        body = body[len("<|python_start|>"):].replace("<|python_end|>", "").strip()
    if not (body.startswith("[") and body.endswith("]")):
        return text
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError:
        return text
    if not isinstance(tree.body, ast.List):
        return text
    calls = []
    for node in tree.body.elts:
        if not isinstance(node, ast.Call) or node.args:
            return text
        name = ast.unparse(node.func)
        try:
            arguments = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        except ValueError:
            return text
        calls.append(ToolCall(name, arguments))
    turn.calls.extend(calls)
    return ""


def _granite(text: str, turn: ToolTurn) -> str:
    text = re.sub(r"<think>(.*?)</think>", lambda m: _keep(turn, m.group(1)), text, flags=re.S)
    text = re.sub(r"</?response>", "", text)
    at = text.find("<|tool_call|>")
    if at < 0:
        return text
    found = _json_at(text, at + len("<|tool_call|>"))
    if not found or not isinstance(found[0], list):
        turn.problems.append("<|tool_call|> is not followed by a JSON list")
        return text
    calls = [_call_from(v) for v in found[0]]
    if any(c is None for c in calls):
        turn.problems.append("a <|tool_call|> entry has no name and arguments")
        return text
    turn.calls.extend(c for c in calls if c)
    return text[:at] + text[found[1]:]


def _keep(turn: ToolTurn, reasoning: str) -> str:
    turn.reasoning = reasoning.strip()
    return ""


_XML_CALL = re.compile(r"(?:<tool_call>\s*)?<function=([\w.-]+)>(.*?)</function>"
                       r"(?:\s*</tool_call>)?", re.S)
_XML_PARAM = re.compile(r"<parameter=([\w.-]+)>\n?(.*?)\n?</parameter>", re.S)


def _qwen3_coder(text: str, turn: ToolTurn, schemas: dict[str, Any]) -> str:
    content, pos = [], 0
    for match in _XML_CALL.finditer(text):
        name = match.group(1)
        properties = (schemas.get(name) or {}).get("properties", {})
        arguments: dict[str, Any] = {}
        for param in _XML_PARAM.finditer(match.group(2)):
            key, raw = param.group(1), param.group(2)
            kind = (properties.get(key) or {}).get("type")
            arguments[key] = raw if kind == "string" else _loose(raw)
        content.append(text[pos:match.start()])
        turn.calls.append(ToolCall(name, arguments))
        pos = match.end()
    content.append(text[pos:])
    if "<function=" in text[pos:]:
        turn.problems.append("a <function=...> call is not closed")
    return "".join(content).strip() if turn.calls else text


def _loose(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


_HARMONY = re.compile(r"(?:<\|start\|>assistant)?<\|channel\|>(\w+)(?: to=functions\.([\w.-]+))?"
                      r"\s*(?:<\|constrain\|>\w+)?<\|message\|>(.*?)"
                      r"(?:<\|end\|>|<\|call\|>|<\|return\|>|$)", re.S)


def _harmony(text: str, turn: ToolTurn) -> str:
    if "<|channel|>" not in text:
        return text
    content = []
    for match in _HARMONY.finditer(text):
        channel, name, body = match.groups()
        if name:
            found = _json_at(body, 0)
            if found is None:
                turn.problems.append(f"the arguments of {name} are not complete JSON")
                continue
            turn.calls.append(ToolCall(name, found[0]))
        elif channel == "analysis":
            turn.reasoning = body
        else:
            content.append(body)
    return "".join(content)


def _generic(text: str, turn: ToolTurn) -> str:
    found = _json_at(text, 0)
    if found is None or not isinstance(found[0], dict):
        if text.strip().startswith("{"):
            turn.problems.append("the reply is not complete JSON")
        return text
    value = found[0]
    if isinstance(value.get("response"), str):
        return str(value["response"])
    listed = value.get("tool_calls")
    entries: list[Any] = listed if isinstance(listed, list) else \
        [value.get("tool_call")] if "tool_call" in value else []
    calls = [_call_from(v) for v in entries]
    if not calls or any(c is None for c in calls):
        turn.problems.append("the JSON reply has neither a tool_call nor a response")
        return text
    turn.calls.extend(c for c in calls if c)
    return ""


def parse_reply(text: str, format: str, tools: str | None = None) -> ToolTurn:
    """The reply ``text`` read as content and calls in ``format`` (see :func:`~workbench.
    engine.tools.detect_format`); with ``tools`` (their JSON text) each call's tool must be
    offered and its arguments must follow the tool's schema."""
    from workbench.engine.tools import parameters_of

    schemas = parameters_of(tools)
    turn = ToolTurn(text)
    if format == "hermes":
        body = _thinking(text, turn)
        if "<function=" in body and "<parameter=" in body:
            rest = _qwen3_coder(body, turn, schemas)
        else:
            rest = _hermes(body, turn)
    elif format == "qwen3-coder":
        rest = _qwen3_coder(_thinking(text, turn), turn, schemas)
    elif format == "llama3":
        rest = _llama3(text, turn)
    elif format == "mistral":
        rest = _mistral(text, turn)
    elif format == "pythonic":
        rest = _pythonic(text, turn)
    elif format == "granite":
        rest = _granite(text, turn)
    elif format == "harmony":
        rest = _harmony(text, turn)
    else:
        rest = _generic(text, turn)
    # leading blanks never count (a streamed reply cannot know yet whether a call follows)
    turn.content = rest.strip() if turn.calls else rest.lstrip()
    if len(turn.calls) > MAX_CALLS:
        turn.problems.append(f"{len(turn.calls)} calls in one reply; the first {MAX_CALLS} "
                             "were kept")
        del turn.calls[MAX_CALLS:]
    if tools is not None:
        _check_calls(turn, schemas, text)
    return turn


def _check_calls(turn: ToolTurn, schemas: dict[str, Any], text: str) -> None:
    kept = []
    for call in turn.calls:
        if call.name not in schemas:
            turn.problems.append(f"the model called '{call.name[:64]}', which is not offered")
            continue
        problem = argument_problem(schemas[call.name], call.arguments)
        if problem:
            turn.problems.append(f"{call.name}: {problem}")
            continue
        kept.append(call)
    if len(kept) < len(turn.calls):  # a call not taken keeps its text, so nothing is lost
        turn.content = text if not kept else turn.content
    turn.calls = kept
