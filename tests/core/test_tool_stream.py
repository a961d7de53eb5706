"""Tool-calling replies read while they stream (llama.cpp's partial parse and message diffs):
every parsing case of ``test_tool_parse`` fed one character at a time adds up to its final
parse (llama.cpp's ``test_parser_with_streaming``); llama.cpp's own ``is_partial`` cases for
the formats parsed here; text that may begin a call is held until it is clear; a call that
no grammar holds is sent only once it is complete and valid; and the tool loop shows each
step's text as it is written."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest
from test_tool_parse import CASES, TOOLS

from workbench.engine.settings import ReplyStats
from workbench.engine.tool_loop import StepText, tool_steps
from workbench.engine.tool_parse import parse_reply
from workbench.engine.tool_stream import ToolStream, partial_turn


def _streamed(form: str, text: str, choice: str) -> tuple[ToolStream, str, list, int]:
    """Fed a character at a time: the stream, its content, its calls, and how many deltas
    came before the last character."""
    stream = ToolStream(form, TOOLS, choice)
    content, calls, early = "", {}, 0

    def take(deltas) -> None:
        nonlocal content
        for delta in deltas:
            if delta.index is None:
                content += delta.content
                continue
            if delta.name is not None:
                assert delta.index == len(calls) and delta.arguments == ""
                calls[delta.index] = [delta.name, ""]
            calls[delta.index][1] += delta.arguments

    for at, char in enumerate(text):
        deltas = stream.feed(char)
        early += len(deltas) if at < len(text) - 1 else 0
        take(deltas)
    take(stream.finish(parse_reply(text, form, TOOLS)))
    return stream, content, list(calls.values()), early


@pytest.mark.parametrize("choice", ["auto", "required"])
@pytest.mark.parametrize(("form", "text"), [c[:2] for c in CASES],
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_every_case_streamed_adds_up_to_its_parse(form: str, text: str, choice: str) -> None:
    stream, content, calls, _ = _streamed(form, text, choice)
    turn = parse_reply(text, form, TOOLS)
    assert content == turn.content
    assert calls == [[c.name, json.dumps(c.arguments, ensure_ascii=False)]
                     for c in turn.calls]
    assert not stream.diverged


def test_content_and_arguments_arrive_before_the_end() -> None:
    text = ('Let me look.<tool_call>\n{"name": "python", "arguments": {"code": '
            '"print(12345)"}}\n</tool_call>')
    stream = ToolStream("hermes", TOOLS, "required")
    seen = []
    for char in text:
        seen += [(d.content, d.name, d.arguments) for d in stream.feed(char)]
    named = seen.index(("", "python", ""))  # the call's first delta: its name
    assert "".join(c for c, _, _ in seen[:named]) == "Let me look."
    arguments = [a for c, n, a in seen if a]
    assert len(arguments) > 5 and "".join(arguments) == '{"code": "print(12345)"}'


def _compact(arguments: str) -> str:
    return re.sub(r"(?<=[:,]) ", "", arguments)


#: llama.cpp's test-chat.cpp ``common_chat_parse(..., is_partial=true)`` cases for these
#: formats: (format, text, content, calls as (name, arguments so far)). Content is compared
#: without its trailing blanks (they wait here: see tool_stream), arguments without the
#: blanks json.dumps writes after ``:`` and ``,``.
PARTIAL_CASES = [
    ("hermes", '```json\n<function_call> { "name" : "python"', "", [("python", "")]),
    ("hermes", 'Let\'s call something\n<tool_call>{"name"', "Let's call something\n", []),
    ("hermes", 'Let\'s call something\n<tool_call>{"name', "Let's call something\n", []),
    ("hermes", "<think>I'm\nthinking</think>Hello, world!\nWhat's up?",
     "Hello, world!\nWhat's up?", []),
    ("generic", '{ "tool_call" : { "name" : "t', "", []),
    ("generic", '{"tool_call": {"name": "puppeteer_screenshot", "arguments": {"name": '
     '"servethehome_homepage",', "",
     [("puppeteer_screenshot", '{"name":"servethehome_homepage",')]),
    ("generic", '{ "tool_call" : { "name" : "special_function"', "",
     [("special_function", "")]),
    ("generic", '{ "tool_call" : { "name" : "special_function", "arguments" : { "arg', "",
     [("special_function", '{"arg')]),
]


@pytest.mark.parametrize(("form", "text", "content", "calls"), PARTIAL_CASES)
def test_llama_cpp_partial_cases(form: str, text: str, content: str, calls: list) -> None:
    turn = partial_turn(text, form, None, guarded=True)
    assert turn.content == content.rstrip()
    assert [(c.name, _compact(c.arguments)) for c in turn.calls] == calls


@pytest.mark.parametrize(("text", "content"), [
    ("Hello <tool_", "Hello"),
    ("Hello <", "Hello"),
    ("Hello ```json\n", "Hello"),
    ("a < b and c", "a < b and c"),
    ("```python\nprint(1)\n```", "```python\nprint(1)"),  # a call may follow the fence
    ("```python\nprint(1)\n```\nDone", "```python\nprint(1)\n```\nDone"),
    ('{"name": "python"', ""),  # a bare call is the whole reply or none
    ("<think>still", ""),
    ("  Hi  \n", "Hi"),
])
def test_what_may_begin_a_call_is_held(text: str, content: str) -> None:
    assert partial_turn(text, "hermes", TOOLS, guarded=True).content == content


def test_without_a_grammar_a_call_is_sent_once_complete_and_valid() -> None:
    head = '<tool_call>\n{"name": "special_function", "arguments": {"arg1": '
    assert partial_turn(head, "hermes", TOOLS).calls == []
    growing = partial_turn(head, "hermes", TOOLS, guarded=True).calls
    assert [(c.name, c.arguments) for c in growing] == [("special_function", '{"arg1": ')]
    done = partial_turn(head + "1}}\n</tool_call>", "hermes", TOOLS).calls
    assert [(c.name, c.arguments) for c in done] == [("special_function", '{"arg1": 1}')]
    wrong = partial_turn(head + '"x"}}\n</tool_call>', "hermes", TOOLS)
    assert wrong.calls == []  # fails the schema: the final parse keeps it as text
    unknown = '<tool_call>\n{"name": "launch", "arguments": {'
    assert partial_turn(unknown, "hermes", TOOLS, guarded=True).calls == []


@dataclass
class _Scripted:
    """A step's reply as the loop sees one (an iterable of text with ``stats``)."""

    pieces: list[str]
    stats: ReplyStats = field(default_factory=lambda: ReplyStats(
        settings={"tool_format": "hermes"}))

    def __iter__(self):
        return iter(self.pieces)


def test_the_tool_loop_shows_each_steps_text_as_it_is_written() -> None:
    call = '<tool_call>\n{"name": "python", "arguments": {"code": "1"}}\n</tool_call>'
    steps = [_Scripted(["Let me ", "run it.", *call]), _Scripted(["It ", "is ", "1."])]
    events = list(_run(tool_steps(lambda _m, step: steps[step], [], lambda c: "1",
                                  tools=TOOLS, stream=True)))
    texts = [e.text for e in events if isinstance(e, StepText)]
    assert texts[:2] == ["Let me", " run it."]  # the blank waits for what follows it
    assert texts[2:] == ["It", " is", " 1."]
    assert events.index(next(e for e in events if not isinstance(e, StepText))) == 2


def _run(generator):
    while True:
        try:
            yield next(generator)
        except StopIteration:
            return
