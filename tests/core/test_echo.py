"""A reply that starts by repeating its prompt is an echo, and ``no_echo`` is a check."""

from __future__ import annotations

import pytest

from workbench.errors import InvalidInputError
from workbench.trials.checks import is_echo, normalize_check, normalize_checks, run_checks

PROMPT = "Reply with the word yes"


@pytest.mark.parametrize(("reply", "echo"), [
    ("Reply with the word yes. Reply with the word yes.", True),  # gemma-3-270m's answer
    ("reply with the WORD, yes!", True),  # case, punctuation and spacing do not count
    ("Reply with the word", True),  # 4 of 5 words: 80%
    ("Reply with the", False),
    ("Yes", False),
    ("yes, reply with the word yes", False),  # starts otherwise
    ("", False),
])
def test_is_echo(reply: str, echo: bool) -> None:
    assert is_echo(PROMPT, reply) is echo


def test_short_and_long_prompts() -> None:
    assert not is_echo("Hi", "Hi! How can I help?")  # under 3 words is never judged
    assert is_echo("Say it now", "Say it now, please")
    long_prompt = " ".join(f"word{i}" for i in range(200))
    assert is_echo(long_prompt, " ".join(f"word{i}" for i in range(20)) + " and then")
    assert not is_echo(long_prompt, " ".join(f"word{i}" for i in range(19)) + " other")


def test_no_echo_check() -> None:
    check = normalize_check({"no_echo": True})
    assert check == {"type": "no_echo"}
    assert normalize_checks('[{"type": "no echo"}]') == [{"type": "no_echo"}]
    with pytest.raises(InvalidInputError, match="no_echo: takes no value"):
        normalize_check({"no_echo": "yes"})
    echoed = "Reply with the word yes\nReply with the word yes"
    contains = normalize_check({"contains": "yes"})
    passed, results = run_checks([contains, check], echoed, prompt=PROMPT)
    assert passed is False and results[0].passed and not results[1].passed
    assert results[1].detail == "echo: the reply starts by repeating the prompt"
    passed, results = run_checks([contains, check], "yes", prompt=PROMPT)
    assert passed is True and results[1].detail == "not an echo of the prompt"
