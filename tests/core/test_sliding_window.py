"""Sliding-window models loaded with the small cache (``swa_full=False``): a cached prefix is
reused only while the window before it is still held, else the prompt is evaluated whole, so
a reply is the same as a fresh one. Real llama.cpp, on a tiny gemma3 file (tests/gemma3_craft.py)
with a 32-token window."""

from __future__ import annotations

import pytest
from gemma3_craft import write_gemma3

from workbench.engine import Engine, LoadSettings, SamplingSettings
from workbench.engine.generate import sliding_window_holds
from workbench.engine.loaded import load_model
from workbench.engine.reply import Reply

WINDOW = 32
LOAD = LoadSettings(n_ctx=2048, n_threads=1, gpu_layers=0)
GREEDY = SamplingSettings(temperature=0.0, seed=1, max_tokens=8, repeat_penalty=1.0)
#: ~1,500 tokens: more than the sliding-window cache's 32 + 512 cells (padded to 768), so the
#: oldest positions are overwritten (llama.cpp reuses masked cells only when it needs them).
LONG = " ".join(f"word{i}" for i in range(400))


@pytest.fixture(scope="module")
def gemma(model_path, tmp_path_factory):
    return write_gemma3(model_path, tmp_path_factory.mktemp("gemma3") / "gemma3-tiny.gguf",
                        window=WINDOW)


def test_a_prefix_whose_window_is_gone_is_not_reused(gemma, model_path) -> None:
    long = [{"role": "user", "content": f"Hello there. {LONG}"}]
    for path, dropped in ((gemma, True), (model_path, False)):  # SmolLM2: no sliding window
        loaded = load_model(path, LOAD)
        try:
            llama = loaded.llama
            tokens = llama.tokenize(f"Hello there. {LONG}".encode())
            assert len(tokens) > 768  # more than the sliding-window cache's cells
            reply = Reply(loaded, long, GREEDY)
            "".join(reply)
            cached = len(loaded.cache.tokens)
            assert cached >= len(tokens)
            # the same start, then something else: its first tokens' window is long gone
            assert sliding_window_holds(llama, 4) is not dropped
            # continuing where it left off needs only what the window still holds
            assert sliding_window_holds(llama, cached)
        finally:
            loaded.close()


def test_a_reply_after_a_long_one_is_the_fresh_reply(gemma) -> None:
    """Without the check, the second "Hello" reply reused a 4-token prefix whose window the
    long reply had evicted, attending to positions that were gone."""
    engine = Engine()
    try:
        hello = [{"role": "user", "content": "Hello there, how are you today?"}]
        fresh = "".join(engine.reply(gemma, hello, load=LOAD, sampling=GREEDY, fresh=True))
        long = [{"role": "user", "content": f"Hello there. {LONG}"}]
        "".join(engine.reply(gemma, long, load=LOAD, sampling=GREEDY, fresh=True))
        again = "".join(engine.reply(gemma, hello, load=LOAD, sampling=GREEDY, fresh=False))
        assert again == fresh
    finally:
        engine.unload()
