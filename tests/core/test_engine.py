"""The engine against the real SmolLM2 model: streaming, metrics, stop, templates, context."""

import logging
import threading
import time

import pytest

from workbench.engine import LoadSettings, SamplingSettings
from workbench.engine.templates import guess_family
from workbench.errors import ContextOverflowError, ModelFileError
from workbench.gguf_header import read_header

LOAD = LoadSettings(n_ctx=2048, n_threads=2, gpu_layers=0)


def on_topic(text: str) -> bool:
    """A sensible answer to QUESTION. The exact greedy words of a 135M model differ between CPU
    kernels (AVX2, AVX-512), so the test asks for the topic, not for one word."""
    return "Paris" in text or "France" in text
GREEDY = SamplingSettings(temperature=0.0, seed=1, max_tokens=40)
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_streams_chunks_and_measures(engine, model_path) -> None:
    reply = engine.reply(model_path, QUESTION, load=LOAD, sampling=GREEDY)
    chunks = list(reply)
    assert len(chunks) > 3
    assert "".join(chunks) == reply.text
    assert on_topic(reply.text)
    stats = reply.stats
    assert stats.prompt_tokens > 10
    assert 3 < stats.completion_tokens <= 40
    assert stats.ttft_ms is not None and 0 < stats.ttft_ms < stats.total_ms
    assert stats.gen_tps and stats.gen_tps > 1
    assert stats.prompt_tps and stats.prompt_tps > 1
    assert stats.peak_rss > 50_000_000
    assert stats.finish_reason in ("stop", "length")
    recorded = stats.settings
    assert recorded["seed"] == 1 and recorded["temperature"] == 0.0
    assert recorded["n_ctx"] == 2048 and recorded["gpu_layers"] == 0
    assert recorded["template"] == "the model's own chat template"
    assert recorded["llama_cpp_python"]


def test_same_seed_same_reply_and_model_is_reused(engine, model_path) -> None:
    sampling = SamplingSettings(temperature=0.9, seed=42, max_tokens=24)
    first = engine.reply(model_path, QUESTION, load=LOAD, sampling=sampling)
    text = "".join(first)
    loaded = engine.loaded
    second = engine.reply(model_path, QUESTION, load=LOAD, sampling=sampling)
    assert "".join(second) == text
    assert engine.loaded is loaded  # no reload for the same settings
    assert second.stats.load_ms is None  # only the first reply after a load is "cold"


def test_stop_from_another_thread_ends_within_100ms(engine, model_path) -> None:
    """Median of three stops, so one scheduling hiccup on a busy machine does not decide."""
    story = [{"role": "user", "content": "Write a very long story about a dragon."}]
    latencies = []
    for seed in (3, 4, 5):
        sampling = SamplingSettings(temperature=0.8, seed=seed, max_tokens=1500)
        reply = engine.reply(model_path, story, load=LOAD, sampling=sampling)
        streaming = threading.Event()
        stopped_at: list[float] = []

        def stop_soon(reply=reply, streaming=streaming, stopped_at=stopped_at) -> None:
            streaming.wait(30)
            time.sleep(0.1)
            stopped_at.append(time.perf_counter())
            reply.stop()

        threading.Thread(target=stop_soon).start()
        for count, _ in enumerate(reply):
            if count == 3:
                streaming.set()
        latencies.append(time.perf_counter() - stopped_at[0])
        assert reply.finish_reason == "stopped"
        assert reply.text  # what was generated is kept
    assert sorted(latencies)[1] < 0.1, latencies


def test_stop_during_a_long_prompt_evaluation(engine, model_path) -> None:
    long_prompt = [{"role": "user", "content": "Summarise: " + "the quick brown fox " * 300}]
    load = LoadSettings(n_ctx=2048, n_threads=1, gpu_layers=0, n_batch=2048)
    reply = engine.reply(model_path, long_prompt, load=load, sampling=GREEDY)
    timer = threading.Timer(0.05, reply.stop)
    timer.start()
    started = time.perf_counter()
    assert list(reply) == []
    assert time.perf_counter() - started < 1.0
    assert reply.finish_reason == "stopped"
    # The model still answers properly afterwards.
    after = engine.reply(model_path, QUESTION, load=load, sampling=GREEDY)
    assert on_topic("".join(after))


def test_model_without_template_gets_chatml_from_its_vocabulary(engine, no_template_model):
    header = read_header(no_template_model, keep_arrays=["tokenizer.ggml.tokens"])
    assert header.chat_template is None
    assert guess_family(header) == ("chatml", "vocabulary")
    reply = engine.reply(no_template_model, QUESTION, load=LOAD, sampling=GREEDY)
    text = "".join(reply)
    assert on_topic(text)
    assert "<|im_start|>" not in text and "[INST]" not in text
    assert reply.stats.settings["template"] == "chatml (chosen by vocabulary)"


def test_template_override(engine, model_path) -> None:
    sampling = SamplingSettings(temperature=0.0, seed=1, max_tokens=8, template="llama-2")
    reply = engine.reply(model_path, QUESTION, load=LOAD, sampling=sampling)
    list(reply)
    assert reply.stats.settings["template"] == "llama-2 (chosen by override)"


def test_long_conversation_drops_oldest_turns_but_keeps_system(engine, model_path) -> None:
    load = LoadSettings(n_ctx=512, n_threads=2, gpu_layers=0)
    messages = [{"role": "system", "content": "You are terse. Codeword: PELICAN."}]
    for i in range(12):
        messages.append({"role": "user", "content": f"Question {i}: " + "words " * 30})
        messages.append({"role": "assistant", "content": f"Answer {i}: " + "more " * 30})
    messages.append({"role": "user", "content": "What is the codeword?"})
    reply = engine.reply(model_path, messages, load=load,
                         sampling=SamplingSettings(temperature=0, seed=1, max_tokens=20))
    list(reply)
    assert reply.stats.dropped_turns > 0
    assert reply.stats.prompt_tokens + 20 <= 512


def test_single_prompt_too_long_is_a_clear_error(engine, model_path) -> None:
    load = LoadSettings(n_ctx=512, n_threads=2, gpu_layers=0)
    huge = [{"role": "user", "content": "word " * 2000}]
    reply = engine.reply(model_path, huge, load=load, sampling=GREEDY)
    with pytest.raises(ContextOverflowError, match="do not fit the 512-token context"):
        list(reply)


def test_unloadable_file_is_a_clear_error(engine, tmp_path, model_path) -> None:
    broken = tmp_path / "broken.gguf"
    data = bytearray(model_path.read_bytes())
    # A GGUF version nobody writes: refused before llama.cpp sees it.
    broken.write_bytes(bytes(data[:4]) + (999).to_bytes(4, "little") + bytes(data[8:]))
    with pytest.raises(ModelFileError, match="broken.gguf"):
        engine.reply(broken, QUESTION, load=LOAD, sampling=GREEDY)


def test_token_count_matches_max_tokens(engine, model_path) -> None:
    story = [{"role": "user", "content": "Tell me a long story."}]
    sampling = SamplingSettings(temperature=0.0, seed=1, max_tokens=16)
    reply = engine.reply(model_path, story, load=LOAD, sampling=sampling)
    list(reply)
    assert reply.finish_reason == "length"
    assert reply.stats.completion_tokens == 16
    assert len(engine.loaded.tokenize(reply.text.encode(), add_bos=False)) in (15, 16, 17)


def test_weights_never_go_to_the_crash_prone_amx_buffer(engine, model_path, caplog) -> None:
    """On a llama.cpp build with AMX, the AMX matrix multiply segfaults on some CPUs
    (llama.cpp#20824): loads keep the weights in the plain CPU buffer, and a reply works."""
    import llama_cpp.llama_cpp as llama_api

    from workbench.engine.cpu_quirks import build_uses_amx

    original = llama_api.llama_model_default_params
    engine.unload()
    with caplog.at_level(logging.DEBUG, logger="workbench.llama"):
        engine.load(model_path, LOAD)
    lines = [record.getMessage() for record in caplog.records]
    assert any("model buffer size" in line for line in lines), lines[-20:]
    if build_uses_amx():
        assert not any("AMX model buffer" in line for line in lines)
    assert llama_api.llama_model_default_params is original  # restored after the load
    reply = engine.reply(model_path, QUESTION, load=LOAD, sampling=GREEDY)
    assert on_topic("".join(reply))


def test_a_split_model_loads_from_its_first_part(engine, split_model) -> None:
    reply = engine.reply(split_model[0], QUESTION, load=LOAD, sampling=GREEDY)
    assert on_topic("".join(reply))


def test_cli_chat_notes_a_base_model(workspace, no_template_model) -> None:
    from click.testing import CliRunner

    from workbench.cli import cli
    from workbench.library import add_model

    model = add_model(workspace.db, no_template_model)
    result = CliRunner().invoke(cli, ["--data-dir", str(workspace.root), "chat", str(model.id),
                                      "Hello", "--max-tokens", "4", "--seed", "1", "--ctx",
                                      "2048", "--threads", "2", "--gpu-layers", "0"])
    assert result.exit_code == 0, result.output
    note = (f"note: {model.name} is a base model (not tuned for chat): it continues text "
            "rather than answering, and may repeat the prompt")
    assert note in result.stderr and note not in result.stdout
