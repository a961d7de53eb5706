"""Speculative decoding with the real llama.cpp: a Q8_0 target and a Q2_K draft, both made
here from the test model by llama.cpp's own quantizer.

The exact test loads the target with one-token micro-batches (``n_ubatch=1``), so its verify
batch is computed exactly as one-token decodes are: then the reply with a draft must be the
reply without, token for token, under greedy sampling and under seeded sampling alike; a
wrong acceptance (a guess kept that the target did not sample, a cache not cut back, a sampler
step skipped) changes it. With llama.cpp's default micro-batches the verify batch's logits
differ from one-token ones (measured here, and printed); the second test checks that any
difference in the reply starts at a near tie, where that rounding decides.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import gguf
import llama_cpp
import numpy as np
import pytest
from click.testing import CliRunner
from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata
from quant_made import requantize

from workbench.cli import cli
from workbench.engine.generate import Generation
from workbench.engine.loaded import TOKENS_KEY, LoadedModel, load_model
from workbench.engine.reply import Reply, fit_messages
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.engine.speculative import SpeculativeGeneration, attach_draft
from workbench.errors import InvalidInputError
from workbench.gguf_header import read_header
from workbench.library import add_model
from workbench.model_settings import runnable

MESSAGES = [{"role": "user", "content": "Write a short story about a cat who learns to fly."}]


@pytest.fixture(scope="module")
def files(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("spec")
    target = requantize(model_path, folder / "smol-Q8_0.gguf", "LLAMA_FTYPE_MOSTLY_Q8_0")
    draft = requantize(model_path, folder / "smol-Q2_K.gguf", "LLAMA_FTYPE_MOSTLY_Q2_K")
    return {"target": target, "draft": draft, "other": other_vocab(model_path, folder)}


def other_vocab(source: Path, folder: Path) -> Path:
    """The test model with one control token renamed: a vocabulary llama.cpp's rule refuses."""
    reader = gguf.GGUFReader(source, "r")
    tokens = list(reader.fields[TOKENS_KEY].contents())
    tokens[12] = "<other_text>"
    target = folder / "smol-other-vocab.gguf"
    writer = gguf.GGUFWriter(target, arch=str(reader.fields["general.architecture"].contents()))
    copy_with_new_metadata(reader, writer, {TOKENS_KEY: MetadataDetails(
        gguf.GGUFValueType.ARRAY, tokens, sub_type=gguf.GGUFValueType.STRING)}, [])
    return target


def one_token_micro_batches(path: Path) -> LoadedModel:
    llama = llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_threads=1, n_threads_batch=1,
                            n_ubatch=1, n_batch=512, verbose=False)
    return LoadedModel(path, LoadSettings(n_ctx=1024, n_threads=1), llama,
                       read_header(path, keep_arrays=[TOKENS_KEY]), 0, 0.0)


def reply_tokens(loaded: LoadedModel, sampling: SamplingSettings) -> tuple[list[int], Reply]:
    reply = Reply(loaded, MESSAGES, sampling, fresh=True)
    text = "".join(reply)
    assert text == reply.text
    return list(loaded.cache.tokens[reply.stats.prompt_tokens:]), reply


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_the_draft_changes_no_token(files: dict[str, Path], temperature: float) -> None:
    loaded = one_token_micro_batches(files["target"])
    try:
        sampling = SamplingSettings(temperature=temperature, seed=7, max_tokens=48)
        alone, plain = reply_tokens(loaded, sampling)
        for p_min in (0.0, 0.75):  # drafting to the limit, and llama.cpp's confident-only
            drafted, fast = reply_tokens(loaded, replace(
                sampling, draft=str(files["draft"]), draft_max=6, draft_p_min=p_min))
            assert fast.text == plain.text and drafted == alone
            assert fast.stats.completion_tokens == plain.stats.completion_tokens
            figures = fast.stats.speculative
            assert figures is not None and figures["draft"] == files["draft"].name
            assert 0 <= figures["accepted"] <= figures["drafted"]
            assert figures["target_passes"] >= 1
            if p_min == 0.0:  # every pass drafted: kept guesses save target passes
                assert figures["drafted"] > 0
                assert figures["target_passes"] + figures["accepted"] >= \
                    fast.stats.completion_tokens - 1
            assert fast.stats.settings["speculative"] == figures
            assert "draft" in fast.stats.settings  # the settings record names the draft
        assert plain.stats.speculative is None and "draft" not in plain.stats.settings
    finally:
        loaded.close()


def test_a_drafted_reply_ends_as_a_plain_one(files: dict[str, Path]) -> None:
    """Every way a reply ends (a stop string, the model's own end, the limit, a stop) goes
    through the same token tail with a draft as without: the same text, finish, token times
    and cache (cut back to what the reply kept, when it ends by itself)."""
    loaded = one_token_micro_batches(files["target"])
    try:
        draft = attach_draft(loaded, files["draft"])

        def run(messages: list[dict[str, str]], stops: list[str], max_tokens: int,
                stop_after: int = 0, drafted: bool = False) -> tuple[str, str, int, list[int]]:
            tokens = fit_messages(loaded, messages, max_tokens, None).tokens
            options: dict[str, Any] = dict(
                sampling=SamplingSettings(temperature=0.0, max_tokens=max_tokens), seed=1,
                stops=stops, stop_flag=threading.Event(), mode="fresh")
            generation = (SpeculativeGeneration(loaded.llama, loaded.cache, tokens, **options,
                                                draft=draft, draft_max=6, p_min=0.0)
                          if drafted else Generation(loaded.llama, loaded.cache, tokens,
                                                     **options))
            pieces = []
            for piece in generation:
                pieces.append(piece)
                if len(pieces) == stop_after:
                    generation.stop_flag.set()
            return ("".join(pieces), generation.finish, len(generation.token_times),
                    list(loaded.cache.tokens))

        story = run(MESSAGES, [], 40)
        assert story[1] == "length"
        short = [{"role": "user", "content": "What is the capital of France?"}]
        # Stop strings at several places: some end the reply inside a verified run.
        cases = [(MESSAGES, [story[0][at:at + 4]], 40, 0) for at in range(6, 60, 6)]
        cases += [(short, [], 200, 0), (MESSAGES, [], 40, 0), (MESSAGES, [], 40, 5)]
        finishes = set()
        for messages, stops, max_tokens, stop_after in cases:
            plain = run(messages, stops, max_tokens, stop_after)
            drafted = run(messages, stops, max_tokens, stop_after, drafted=True)
            # After a stop the plain loop's next decode is aborted, which empties its cache.
            same = slice(0, 3) if stop_after else slice(0, 4)
            assert drafted[same] == plain[same]
            finishes.add(plain[1])
        assert finishes == {"stop", "length", "stopped"}
    finally:
        loaded.close()


def test_default_batches_differ_only_at_near_ties(files: dict[str, Path]) -> None:
    """llama.cpp's default micro-batches: the verify batch's logits are not bit-identical to
    one-token ones, so a reply may differ, but only where the target's top two are close."""
    loaded = load_model(files["target"], LoadSettings(n_ctx=1024, n_threads=1))
    try:
        sampling = SamplingSettings(temperature=0, max_tokens=64, repeat_penalty=1.0)
        alone, _ = reply_tokens(loaded, sampling)
        drafted, fast = reply_tokens(loaded, replace(sampling, draft=str(files["draft"]),
                                                     draft_p_min=0.0))
        assert fast.stats.speculative and fast.stats.speculative["drafted"] > 0
        prompt = loaded.cache.tokens[:fast.stats.prompt_tokens]
        same = next((i for i, (a, b) in enumerate(zip(alone, drafted, strict=False))
                     if a != b), None)
        print(f"greedy: {len(alone)} tokens alone, first difference at {same}; "
              f"acceptance {fast.stats.speculative['acceptance']:.2f}")
        if same is None:
            assert alone == drafted
            return
        logits = one_token_logits(loaded, prompt, alone[:same])
        top = np.sort(logits)[-2:]
        print(f"top-two margin there: {top[1] - top[0]:.3f}")
        assert top[1] - top[0] < 1.0
        assert drafted[same] in np.argsort(logits)[-2:]
    finally:
        loaded.close()


def one_token_logits(loaded: LoadedModel, prompt: list[int], reply: list[int]) -> np.ndarray:
    """The target's logits after ``reply``, computed as a reply without a draft does."""
    ctx = loaded.llama.ctx
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    loaded.cache.forget()

    def decode(tokens: list[int]) -> None:
        array = (llama_cpp.llama_token * len(tokens))(*tokens)
        assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(array,
                                                                         len(tokens))) == 0

    decode(prompt)
    for token in reply:
        decode([token])
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1),
                                 shape=(loaded.llama.n_vocab(),)).copy()


def test_another_vocabulary_is_refused_with_both_names(files: dict[str, Path], db) -> None:
    target = add_model(db, files["target"])
    other = add_model(db, files["other"])
    with pytest.raises(InvalidInputError) as refused:
        runnable(db, target.name, {"draft": other.name})
    line = str(refused.value)
    assert other.name in line and target.name in line and "token 12 differs" in line
    assert "\n" not in line
    # The engine checks the loaded vocabularies too, by llama.cpp's rule.
    loaded = load_model(files["target"], LoadSettings(n_ctx=512, n_threads=1))
    try:
        with pytest.raises(InvalidInputError) as engine_refused:
            "".join(Reply(loaded, MESSAGES, SamplingSettings(
                max_tokens=4, draft=str(files["other"]))))
        assert files["other"].name in str(engine_refused.value)
        assert files["target"].name in str(engine_refused.value)
    finally:
        loaded.close()
    for bad, words in (({"draft": "nothing-like-it"}, "setting draft"),
                       ({"draft": str(files["target"].parent / "gone.gguf")}, "no such file"),
                       ({"draft": target.name, "draft_max": 0}, "draft_max"),
                       ({"draft": target.name, "draft_p_min": 2}, "draft_p_min")):
        with pytest.raises(Exception) as error:
            runnable(db, target.name, bad)
        assert words in str(error.value)


def test_cli_draft_figures_warning_and_suggestion(files: dict[str, Path], workspace) -> None:
    run = CliRunner()

    def invoke(*args: str):
        return run.invoke(cli, ["--data-dir", str(workspace.root), *args])

    assert invoke("models", "add", str(files["target"])).exit_code == 0
    assert invoke("models", "add", str(files["draft"])).exit_code == 0
    shown = invoke("models", "show", "smol-Q8_0")
    assert "Draft:" in shown.output and "would fit" in shown.output
    assert json.loads(invoke("models", "show", "smol-Q8_0", "--json").output)[
        "draft_suggestion"]
    assert "Draft:" not in invoke("models", "show", "smol-Q2_K").output  # none smaller
    result = invoke("chat", "smol-Q8_0", "Say hello.", "--set", "draft=smol-Q2_K",
                    "--set", "draft_max=4", "--temperature", "0", "--max-tokens", "16",
                    "--ctx", "512", "--threads", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    figures = data["metrics"]["speculative"]
    assert figures["draft_max"] == 4 and figures["drafted"] >= figures["accepted"] >= 0
    # A draft bigger than its target is allowed, with a warning; the metrics line shows it.
    result = invoke("chat", "smol-Q2_K", "Say hello.", "--set", "draft=smol-Q8_0",
                    "--temperature", "0", "--max-tokens", "8", "--ctx", "512",
                    "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "bigger than" in result.stderr and "draft " in result.stderr
    assert "accepted" in result.stderr


def test_a_draft_is_a_speed_setting_of_a_contender(files: dict[str, Path], db) -> None:
    """The draft changes how fast the text comes, not which: the same contender, with the
    draft (resolved to its file) recorded for its next run, and reaching the engine."""
    from workbench.trials.contenders import contenders_from

    target = add_model(db, files["target"])
    draft = add_model(db, files["draft"])
    plain, = contenders_from(db, [(target.name, ["temperature=0"])])
    drafted, = contenders_from(db, [(target.name, ["temperature=0", f"draft={draft.name}",
                                                   "draft_max=5"])])
    assert drafted.id == plain.id and drafted.label == plain.label
    assert drafted.sampling.draft == str(Path(draft.path)) and drafted.sampling.draft_max == 5
    with pytest.raises(InvalidInputError, match="draft_max"):
        contenders_from(db, [(target.name, [f"draft={draft.name}", "draft_max=many"])])
