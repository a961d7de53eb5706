"""Streaming a reply into the chat window: the window writes the same text as the CLI for
the same seed and settings, and what the view shows at the end is the whole reply."""

from __future__ import annotations

import random

from tests.ui.conftest import wait_reply
from ui.widgets.markdown_view import MarkdownView
from ui.widgets.message_widget import MessageWidget
from workbench import chat
from workbench import conversations as convs
from workbench.engine import Engine
from workbench.library import list_models
from workbench.model_settings import resolve_settings

PROMPT = "Write a short story about a lighthouse keeper who finds a map."


def send_in_new_chat(qtbot, window, prompt: str) -> str:  # type: ignore[no-untyped-def]
    window.chat.new_chat()
    window.chat.input.setPlainText(prompt)
    window.chat.send()
    assert window.chat.is_streaming
    wait_reply(qtbot, window)
    return window.chat.view.messages[-1].text


def test_window_reply_equals_the_cli_reply_for_the_same_seed(qtbot, main_window,
                                                              monkeypatch):
    """Sampled (temperature 0.8), so the seed decides the text. The second new chat asks what
    the engine has just answered, so its prompt is all in the engine's cache: a reply from
    that cached prefix would round differently from the CLI's, which starts on an empty
    engine. Every piece reaches the view through the batches (none lost, none twice)."""
    window = main_window
    panel = window.chat.panel
    panel.temperature.setValue(0.8)
    panel.seed.setValue(1234)
    panel.max_tokens.setValue(160)
    first = send_in_new_chat(qtbot, window, PROMPT)
    drawn: list[str] = []
    original_stream = MessageWidget.stream

    def recording_stream(self: MessageWidget, piece: str) -> None:
        drawn.append(piece)
        original_stream(self, piece)

    monkeypatch.setattr(MessageWidget, "stream", recording_stream)
    second = send_in_new_chat(qtbot, window, PROMPT)
    assert "".join(drawn) == second and len(drawn) > 1

    db = window.services.workspace.db
    saved = convs.branch(db, window.chat.conversation_id)[-1]
    assert saved.settings["prompt_cache"] == "off"  # evaluated whole, not from the cache
    model = next(m for m in list_models(db) if m.id == window.chat.current_model.id)
    load, sampling = resolve_settings(db, model, panel.overrides())
    headless = Engine()  # what `workbench chat MODEL PROMPT` does: its own engine
    try:
        turn = chat.send(db, headless, model, PROMPT, load=load, sampling=sampling)
        cli = "".join(turn)
    finally:
        headless.unload()
    assert len(cli) > 100
    assert first == cli
    assert second == cli


STORY = """# The keeper

The keeper climbed the stairs, "Who goes there?" he asked, and the wind answered.

- a map
- a key
- a lamp

```python
def light(lamp):
    return lamp.on()
```

Then **the ship** came in with the tide.
"""


def test_streamed_view_ends_showing_the_whole_reply(qtbot, themed):
    """Pieces of every size, drawn as they come (plain appends and Markdown renders in
    between): the view at the end is the one a fresh render of the full text gives."""
    rng = random.Random(5)
    prose = "\n\n".join(f"Part {n}: the keeper looked out at the sea for a long while. " * 6
                         + ("\n\n- a list item\n- another" if n % 4 == 0 else "")
                         for n in range(40))  # long prose: cut into several segments
    full = "\n".join(STORY for _ in range(6)) + "\n" + prose + "\n\n" + STORY * 6
    widget = MessageWidget("assistant", title="m")
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    widget.show()
    widget.view.render_interval = 0.0  # render often, so renders and appends interleave
    position = 0
    while position < len(full):
        size = rng.choice((1, 2, 3, 5, 8, 40))
        widget.stream(full[position:position + size])
        position += size
        if rng.random() < 0.3:
            widget.view.render_interval = rng.choice((0.0, 1e9))
    widget.finish_stream()
    fresh = MarkdownView()
    qtbot.addWidget(fresh)
    fresh.set_markdown(full)
    assert widget.text == full
    assert widget.view.plain_text() == fresh.plain_text()
    assert [type(w) for w in widget.view._widgets] == [type(w) for w in fresh._widgets]
    assert len(widget.view.code_blocks) == 12
    kinds = [segment.kind for segment in widget.view._segments]
    assert any(a == b == "md" for a, b in zip(kinds, kinds[1:], strict=False)), "cut"
