"""Reading tool calls out of replies: llama.cpp's ``tests/test-chat.cpp`` parsing cases for
each family (its ``special_function`` tool, ``{"arg1": 1}``), ported as a table of reply
text -> expected content and calls; and the bad replies (half calls, invalid JSON, unknown
tools, arguments that fail the schema)."""

from __future__ import annotations

import json

import pytest

from workbench.engine.tool_parse import parse_reply
from workbench.engine.tools import check_tools

SPECIAL = {"type": "function", "function": {
    "name": "special_function", "description": "I'm special",
    "parameters": {"type": "object", "properties": {"arg1": {"type": "integer"}},
                   "required": ["arg1"]}}}
PYTHON = {"type": "function", "function": {
    "name": "python", "parameters": {"type": "object", "properties": {
        "code": {"type": "string"}}, "required": ["code"]}}}
TOOLS = check_tools([SPECIAL, PYTHON])

CALL = [("special_function", {"arg1": 1})]
HELLO = "Hello, world!\nWhat's up?"
J = '{"name": "special_function", "arguments": {"arg1": 1}}'

#: (format, reply text, expected content, expected calls), after test-chat.cpp's cases.
CASES = [
    # Hermes 2 Pro / Qwen 2.5 / Qwen 3
    ("hermes", HELLO, HELLO, []),
    ("hermes", f"<tool_call>\n{J}\n</tool_call>", "", CALL),
    ("hermes", f"{HELLO}<tool_call>\n{J}\n</tool_call>", HELLO, CALL),
    ("hermes", '<function=special_function>{"arg1": 1}</function>', "", CALL),
    ("hermes", '<function name="special_function">\n{"arg1": 1}\n</function>', "", CALL),
    ("hermes", f"<tool>\n  {J}\n</tool>", "", CALL),
    ("hermes", f"<tools>\n  {J}\n</tools>", "", CALL),
    ("hermes", f"<response>\n  {J}\n</response>", "", CALL),
    ("hermes", f"```xml\n<response>\n    {J}\n</response>\n```", "", CALL),
    ("hermes", f"```xml\n  {J}\n```", "", CALL),
    ("hermes", f"```\n  {J}\n```", "", CALL),
    ("hermes", f"```\n{J}\n```", "", CALL),
    ("hermes", f"```json\n  {J}\n```", "", CALL),
    ("hermes", f"```json\n\n  <function_call> {J} \n  </function_call> \n``` ", "", CALL),
    ("hermes", f"<json>\n  {J}\n</json>", "", CALL),
    ("hermes", f"<xml>\n  {J}\n</xml>", "", CALL),
    ("hermes", f"<JSON>\n  {J}\n</JSON>", "", CALL),
    ("hermes", f"{J}", "", CALL),
    ("hermes", '{\n  "name": "special_function", "arguments": {"arg1": 1}\n}', "", CALL),
    ("hermes", 'This is not a tool call:\n{"arg1": 1}', 'This is not a tool call:\n{"arg1": 1}',
     []),
    ("hermes", f"<think>I'm\nthinking</think>{HELLO}", HELLO, []),
    ("hermes", f"<tool_call>\n{J}\n</tool_call>\n<tool_call>\n"
     '{"name": "python", "arguments": {"code": "print(1)"}}\n</tool_call>', "",
     [*CALL, ("python", {"code": "print(1)"})]),
    # Qwen3-Coder XML
    ("qwen3-coder", "<tool_call>\n<function=special_function>\n<parameter=arg1>\n1\n"
     "</parameter>\n</function>\n</tool_call>", "", CALL),
    ("qwen3-coder", "<tool_call>\n<function=python>\n<parameter=code>\nprint('hey')\n"
     "</parameter>\n</function>\n</tool_call>", "", [("python", {"code": "print('hey')"})]),
    ("qwen3-coder", HELLO, HELLO, []),
    # Llama 3.x
    ("llama3", '{"name": "special_function", "parameters": {"arg1": 1}}', "", CALL),
    ("llama3", '{"type": "function", "name": "special_function", "parameters": {"arg1": 1}}',
     "", CALL),
    ("llama3", '<|python_tag|>{"name": "special_function", "parameters": {"arg1": 1}}', "",
     CALL),
    ("llama3", HELLO, HELLO, []),
    # Mistral Nemo / Mistral Small
    ("mistral", '[TOOL_CALLS][{"name": "special_function", "arguments": {"arg1": 1}, '
     '"id": "123456789"}]', "", CALL),
    ("mistral", f"{HELLO}[TOOL_CALLS][{J}]", HELLO, CALL),
    ("mistral", '[TOOL_CALLS]special_function[ARGS]{"arg1": 1}', "", CALL),
    ("mistral", HELLO, HELLO, []),
    # Pythonic (Llama 4, LFM2, Gemma-style)
    ("pythonic", "[special_function(arg1=1)]", "", CALL),
    ("pythonic", "[special_function(arg1=1), python(code=\"print('hey')\")]", "",
     [*CALL, ("python", {"code": "print('hey')"})]),
    ("pythonic", "<|python_start|>[special_function(arg1=1)]<|python_end|>", "", CALL),
    ("pythonic", HELLO, HELLO, []),
    # Granite 3.x
    ("granite", f"<|tool_call|>[{J}]", "", CALL),
    ("granite", f"<think>I'm\nthinking</think><response>{HELLO}</response>", HELLO, []),
    # gpt-oss (harmony)
    ("harmony", "<|channel|>analysis<|message|>I'm\nthinking<|end|><|start|>assistant"
     "<|channel|>commentary to=functions.special_function <|constrain|>json<|message|>"
     '{"arg1": 1}', "", CALL),
    ("harmony", "<|channel|>commentary to=functions.special_function<|message|>{\"arg1\": 1}",
     "", CALL),
    ("harmony", f"<|channel|>analysis<|message|>I'm\nthinking<|end|><|start|>assistant"
     f"<|channel|>final<|message|>{HELLO}", HELLO, []),
    # llama.cpp's generic format
    ("generic", f'{{"tool_call": {J}}}', "", CALL),
    ("generic", f'{{"tool_calls": [{J}]}}', "", CALL),
    ("generic", json.dumps({"response": HELLO}), HELLO, []),
]


def _calls(turn) -> list[tuple[str, dict]]:
    return [(c.name, c.arguments) for c in turn.calls]


@pytest.mark.parametrize(("form", "text", "content", "calls"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_llama_cpp_parsing_cases(form: str, text: str, content: str, calls: list) -> None:
    turn = parse_reply(text, form, TOOLS)
    assert _calls(turn) == calls, turn.problems
    assert turn.content.strip() == content.strip()
    assert not turn.problems


def test_the_cases_cover_every_family() -> None:
    assert {c[0] for c in CASES} == {"hermes", "qwen3-coder", "llama3", "mistral", "pythonic",
                                     "granite", "harmony", "generic"}
    assert len(CASES) >= 40


@pytest.mark.parametrize(("form", "text", "problem"), [
    ("hermes", '<tool_call>\n{"name": "special_function", "argu', "not complete JSON"),
    ("hermes", '<tool_call>\n{"name": "nope", "arguments": {}}\n</tool_call>',
     "'nope', which is not offered"),
    ("hermes", '<tool_call>\n{"name": "special_function", "arguments": {"arg1": "x"}}'
     "\n</tool_call>", "arg1: 'x' is not of type 'integer'"),
    ("hermes", '<tool_call>\n{"name": "special_function", "arguments": {}}\n</tool_call>',
     "'arg1' is a required property"),
    ("mistral", "[TOOL_CALLS]special_function[ARGS]{\"arg1\": ", "not complete JSON"),
    ("generic", '{"tool_call": {"name": "special_function", "argu', "not complete JSON"),
    ("qwen3-coder", "<tool_call>\n<function=special_function>\n<parameter=arg1>\n1",
     "not closed"),
])
def test_a_bad_call_is_not_taken_and_its_text_is_kept(form: str, text: str,
                                                      problem: str) -> None:
    turn = parse_reply(text, form, TOOLS)
    assert turn.calls == []
    assert turn.content == text  # nothing lost
    assert any(problem in p for p in turn.problems), turn.problems
