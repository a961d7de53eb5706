"""llama.cpp's own chat-template cases, rendered by Workbench: a prompt that llama.cpp and
Workbench build differently for the same template is a model that answers differently in the
two, so every case must render byte for byte as llama.cpp's Jinja path renders it.

The cases (template source -> expected text for one fixed conversation) are ported from
llama.cpp's ``tests/test-chat-template.cpp`` into ``tests/fixtures/llama_cpp_chat_templates.json``.
Six of them fold the system prompt into the first user message (Gemma, Phi-3 mini and medium, Orion,
Mistral v0.2, YandexGPT); they pin the one-newline join llama.cpp uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workbench.engine.templates import ChatTemplate, fold_system_prompt

FIXTURE = Path(__file__).parent.parent / "fixtures" / "llama_cpp_chat_templates.json"
CASES: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]

#: test-chat-template.cpp's conversation, the same for every case.
CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant"},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you"},
    {"role": "assistant", "content": "   I am an assistant   "},
    {"role": "user", "content": "Another question"},
]

#: Cases Workbench cannot render as llama.cpp does, and why.
UNRENDERABLE = {
    "ai-sage/GigaChat-20B-A3B-instruct": (
        "the template indexes additional_special_tokens[0..3], Transformers' list from "
        "tokenizer_config.json; a GGUF does not carry that list and its order cannot be read "
        "from the vocabulary, and llama.cpp itself marks this case unsupported with Jinja "
        "(it renders GigaChat with a built-in format instead)"),
}


def test_the_port_is_whole() -> None:
    assert len(CASES) == 36
    assert len({case["name"] for case in CASES}) == len(CASES)
    assert set(UNRENDERABLE) <= {case["name"] for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_renders_as_llama_cpp_does(case: dict[str, Any]) -> None:
    if case["name"] in UNRENDERABLE:
        assert not case["supported_with_jinja"]
        pytest.skip(UNRENDERABLE[case["name"]])
    template = ChatTemplate("gguf", "file", case["template"],
                            bos_token=case["bos_token"], eos_token=case["eos_token"])
    rendered = template.render(CONVERSATION + case["extra_conversation"])
    assert rendered.prompt == (case["expected_jinja"] or case["expected"])


def test_a_fold_joins_with_one_newline_and_adds_none_to_an_empty_message() -> None:
    folded = fold_system_prompt([{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "Hi"}])
    assert folded == [{"role": "user", "content": "Be brief.\nHi"}]
    empty = fold_system_prompt([{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": ""}])
    assert empty == [{"role": "user", "content": "Be brief."}]
    alone = fold_system_prompt([{"role": "system", "content": "Be brief."}])
    assert alone == [{"role": "user", "content": "Be brief."}]
