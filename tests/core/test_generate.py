"""The generation loop on llama.cpp's own API (workbench/engine/generate.py), against the real
test model: stop strings, seeds, and the prompt-cache modes that trials rely on."""

from __future__ import annotations

import ctypes
import threading

import llama_cpp
import pytest

from workbench.engine import Engine, LoadSettings, SamplingSettings
from workbench.engine.generate import CacheRecord, Generation, StopText
from workbench.engine.loaded import load_model
from workbench.engine.reply import fit_messages

LOAD = LoadSettings(n_ctx=1024, n_threads=1, gpu_layers=0)
SYSTEM = {"role": "system", "content": "You are a terse assistant. Answer in one sentence."}
PROMPTS = ["What is a river?", "Why is the sky blue?", "Name three fruits."]


def test_llama_cpp_python_takes_the_arguments_the_sampler_chain_passes() -> None:
    """ctypes passes a wrong count of arguments silently: were llama-cpp-python's C signature
    another (``llama_sampler_init_penalties`` lost ``n_vocab`` in 0.3.x and took it back in
    0.3.35), replies would be sampled with shifted settings instead of failing. A new
    llama-cpp-python (the pin in pyproject.toml) is checked here first."""
    assert len(llama_cpp.llama_sampler_init_penalties.argtypes) == 5  # as build_sampler calls


def test_stop_text_holds_back_what_could_become_a_stop_string() -> None:
    stopper = StopText(["<END>", "\n\nUser:"])
    assert stopper.feed("Hello <E") == ("Hello ", False)
    assert stopper.feed("N") == ("", False)  # "<EN" may still become "<END>"
    assert stopper.feed("X more") == ("<ENX more", False)  # it did not: all of it shows
    assert stopper.feed(" and\n") == (" and", False)
    assert stopper.feed("\nUser: hi") == ("", True)  # the stop string never shows
    plain = StopText([])
    assert plain.feed("<END>") == ("<END>", False)


def test_stop_text_flushes_a_held_tail_at_the_end() -> None:
    stopper = StopText(["###"])
    assert stopper.feed("done #") == ("done ", False)
    assert stopper.flush() == "#"


@pytest.fixture(scope="module")
def loaded(model_path):
    model = load_model(model_path, LOAD)
    yield model
    model.close()


def _tokens(loaded, prompt: str, shared_prefix: bool = True):
    return fit_messages(loaded, [SYSTEM, {"role": "user", "content": prompt}], 64, None,
                        shared_prefix=shared_prefix)


def _generate(loaded, prompt: str, *, stops=(), mode="fresh", seed=5, max_tokens=40,
              temperature=0.8) -> tuple[str, Generation]:
    fitted = _tokens(loaded, prompt)
    generation = Generation(
        loaded.llama, loaded.cache, fitted.tokens,
        sampling=SamplingSettings(temperature=temperature, seed=seed, max_tokens=max_tokens),
        seed=seed, stops=list(stops), stop_flag=threading.Event(), mode=mode,
        prefix=fitted.prefix)
    return "".join(generation), generation


def test_a_stop_string_ends_the_reply_just_before_it(loaded) -> None:
    text, _ = _generate(loaded, PROMPTS[0], max_tokens=30)
    assert len(text) > 12
    stop = text[8:12]  # found in the reply itself: the words depend on the CPU's kernels
    stopped, generation = _generate(loaded, PROMPTS[0], stops=[stop], max_tokens=30)
    assert stopped == text[:text.find(stop)]
    assert generation.finish == "stop"


def test_the_same_seed_gives_the_same_text_and_another_seed_another(loaded) -> None:
    first, _ = _generate(loaded, PROMPTS[1], seed=11, temperature=1.0)
    again, _ = _generate(loaded, PROMPTS[1], seed=11, temperature=1.0)
    other, _ = _generate(loaded, PROMPTS[1], seed=12, temperature=1.0)
    assert first == again
    assert other != first


def test_max_tokens_is_a_length_finish_with_that_many_tokens(loaded) -> None:
    _, generation = _generate(loaded, "Tell me a very long story.", max_tokens=7)
    assert generation.finish == "length"
    assert len(generation.token_times) == 7


def _logits_after_prompt(loaded, prompt: str, mode: str) -> tuple[bytes, Generation]:
    fitted = _tokens(loaded, prompt)
    generation = Generation(loaded.llama, loaded.cache, fitted.tokens,
                            sampling=SamplingSettings(), seed=1, stops=[],
                            stop_flag=threading.Event(), mode=mode, prefix=fitted.prefix)
    generation.evaluate_prompt()
    pointer = llama_cpp.llama_get_logits_ith(loaded.llama.ctx, -1)
    return ctypes.string_at(pointer, loaded.llama.n_vocab() * 4), generation


def test_the_shared_prefix_is_the_template_and_system_prompt(loaded) -> None:
    prefixes = {_tokens(loaded, p).prefix for p in PROMPTS}
    assert len(prefixes) == 1  # the same boundary for every prompt under one system prompt
    prefix = prefixes.pop()
    tokens = _tokens(loaded, PROMPTS[0]).tokens
    head = loaded.llama.detokenize(tokens[:prefix]).decode()
    assert SYSTEM["content"] in head and PROMPTS[0] not in head
    assert 0 < prefix < len(tokens)
    assert _tokens(loaded, PROMPTS[0], shared_prefix=False).prefix == 0


def test_a_kept_prefix_gives_bit_identical_logits_in_any_order(loaded) -> None:
    """The prefix is evaluated as a batch of its own and each prompt's rest as another, so a
    prompt's logits are the same bits whether the prefix was just evaluated or kept from a
    previous prompt, and whatever that prompt was. The same prompt twice in a row is in the
    orders: a chat's reuse would evaluate only its last token then, as a one-token batch, and
    on this project's test machine those logits differ from the fresh ones."""
    loaded.cache.forget()
    cold = {}
    for prompt in PROMPTS:  # each from an empty cache
        loaded.cache = CacheRecord()
        cold[prompt], generation = _logits_after_prompt(loaded, prompt, "prefix")
        assert generation.prompt_evaluated == len(generation.tokens)
    for order in (PROMPTS, PROMPTS[::-1], [PROMPTS[1], PROMPTS[1], PROMPTS[0]]):
        for prompt in order:
            logits, generation = _logits_after_prompt(loaded, prompt, "prefix")
            assert logits == cold[prompt], (order, prompt)
        assert generation.prompt_evaluated < len(generation.tokens)  # the prefix was kept


def test_keep_prefix_replies_are_identical_in_any_order_and_in_a_new_process(model_path):
    sampling = SamplingSettings(temperature=0.8, seed=3, max_tokens=16)

    def replies(engine: Engine, order: list[str]) -> dict[str, str]:
        out = {}
        for prompt in order:
            reply = engine.reply(model_path, [SYSTEM, {"role": "user", "content": prompt}],
                                 load=LOAD, sampling=sampling, fresh=True, keep_prefix=True)
            out[prompt] = "".join(reply)
            assert reply.stats.settings["prompt_cache"] == "shared prefix, evaluated apart"
        return out

    engine = Engine()
    try:
        first = replies(engine, PROMPTS)
        assert replies(engine, PROMPTS[::-1]) == first
    finally:
        engine.unload()
    rerun = Engine()  # a new engine process: nothing cached
    try:
        assert replies(rerun, [PROMPTS[2], PROMPTS[0], PROMPTS[1]]) == first
    finally:
        rerun.unload()
