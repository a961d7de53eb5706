"""Fitting a conversation into the context (``fit_messages``) drops the fewest oldest turns,
as dropping them one at a time would, but in a few renders: 1,000 messages are fitted in
well under a second (one at a time took 40 s)."""

from __future__ import annotations

import time

import pytest

from workbench.engine import LoadSettings
from workbench.engine.loaded import load_model
from workbench.engine.reply import fit_messages
from workbench.errors import ContextOverflowError

SYSTEM = {"role": "system", "content": "You are terse."}


@pytest.fixture(scope="module")
def loaded(model_path):
    model = load_model(model_path, LoadSettings(n_ctx=512, n_threads=1, gpu_layers=0))
    yield model
    model.close()


def _one_at_a_time(loaded, messages, reserve) -> int:
    """The turns dropped by the old rule, one turn (and its answer) at a time."""
    template = loaded.template(None)
    system = [m for m in messages if m["role"] == "system"][:1]
    turns = [m for m in messages if m["role"] != "system"]
    dropped = 0
    while True:
        rendered = template.render(system + turns)
        tokens = loaded.llama.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_bos,
                                       special=True)
        if len(tokens) + reserve <= loaded.llama.n_ctx():
            return dropped
        turns = turns[2:] if len(turns) > 2 and turns[1]["role"] == "assistant" else turns[1:]
        dropped += 1


def _conversation(count: int, words: int = 6, *, odd: bool = False) -> list[dict[str, str]]:
    messages = [SYSTEM]
    for index in range(count):
        role = "user" if index % 2 == 0 or (odd and index % 5 == 3) else "assistant"
        messages.append({"role": role, "content": f"Turn {index}: " + "word " * words})
    messages.append({"role": "user", "content": "And now?"})
    return messages


@pytest.mark.parametrize("count,words,odd", [(4, 6, False), (30, 12, False), (41, 9, True),
                                             (120, 3, False)])
def test_it_drops_what_one_at_a_time_would(loaded, count, words, odd) -> None:
    messages = _conversation(count, words, odd=odd)
    fitted = fit_messages(loaded, messages, 64, None)
    assert fitted.dropped == _one_at_a_time(loaded, messages, 64)
    assert len(fitted.tokens) + 64 <= 512
    assert b"You are terse." in loaded.llama.detokenize(fitted.tokens)  # the system stays


def test_a_thousand_messages_take_well_under_a_second(loaded) -> None:
    messages = _conversation(1000)
    started = time.perf_counter()
    fitted = fit_messages(loaded, messages, 64, None)
    assert time.perf_counter() - started < 1.0
    assert fitted.dropped > 400 and len(fitted.tokens) + 64 <= 512


def test_one_turn_too_long_is_still_the_clear_error(loaded) -> None:
    with pytest.raises(ContextOverflowError, match="do not fit the 512-token context"):
        fit_messages(loaded, [SYSTEM, {"role": "user", "content": "word " * 2000}], 64, None)
