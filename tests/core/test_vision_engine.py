"""Replies with images through llama.cpp's libmtmd, in the engine process, with the crafted
tiny projector (tests/vision_craft.py) paired with the real test model. The answers mean
nothing; the path (projector opened, pictures encoded, embeddings decoded, tokens sampled) is
llama.cpp's own."""

import pytest

from tests.vision_craft import N_PATCHES
from workbench.engine import LoadSettings, SamplingSettings
from workbench.engine.vision import Picture
from workbench.errors import ContextOverflowError, InvalidInputError, ModelFileError

GREEDY = SamplingSettings(temperature=0.0, seed=1, max_tokens=8)


def picture(width: int = 40, height: int = 30, shade: int = 90) -> Picture:
    return Picture(width, height, bytes([shade, 200, 30]) * (width * height), "0" * 64)


def ask(*pictures: Picture) -> list[dict]:
    return [{"role": "user", "content": "What is in this picture?", "images": list(pictures)}]


def test_an_image_reply_counts_its_image_tokens_and_encode_time(engine, model_path,
                                                                mmproj) -> None:
    load = LoadSettings(n_ctx=1024, n_threads=2, gpu_layers=0, mmproj=str(mmproj))
    reply = engine.reply(model_path, ask(picture(), picture(shade=10)), load=load,
                         sampling=GREEDY)
    text = "".join(reply)
    assert reply.finish_reason in ("stop", "length")
    assert reply.stats.completion_tokens == len(text) > 0 or reply.stats.completion_tokens > 0
    assert reply.stats.image_tokens == 2 * N_PATCHES
    assert reply.stats.image_ms and reply.stats.image_ms > 0
    assert reply.stats.prompt_tokens > 2 * N_PATCHES
    assert reply.stats.settings["image_tokens"] == 2 * N_PATCHES
    assert f"{2 * N_PATCHES} image tokens" in reply.stats.summary()
    # The next reply, without images, starts from an empty cache and still works.
    after = engine.reply(model_path, [{"role": "user", "content": "Hi"}], load=load,
                         sampling=GREEDY)
    "".join(after)
    assert after.finish_reason in ("stop", "length") and after.stats.image_tokens == 0


def test_a_model_without_a_projector_given_an_image_is_one_line(engine, model_path) -> None:
    load = LoadSettings(n_ctx=1024, n_threads=2, gpu_layers=0)
    with pytest.raises(InvalidInputError, match="cannot see images") as caught:
        "".join(engine.reply(model_path, ask(picture()), load=load, sampling=GREEDY))
    assert "\n" not in str(caught.value)


def test_a_projector_for_another_model_size_is_refused_naming_both(engine, model_path,
                                                                   mmproj_other) -> None:
    load = LoadSettings(n_ctx=1024, n_threads=2, gpu_layers=0, mmproj=str(mmproj_other))
    with pytest.raises(ModelFileError) as caught:
        "".join(engine.reply(model_path, ask(picture()), load=load, sampling=GREEDY))
    message = str(caught.value)
    assert mmproj_other.name in message and model_path.name in message
    assert "\n" not in message


def test_an_image_prompt_longer_than_the_context_is_one_line(engine, model_path,
                                                             mmproj) -> None:
    load = LoadSettings(n_ctx=64, n_threads=2, gpu_layers=0, mmproj=str(mmproj))
    with pytest.raises(ContextOverflowError, match="image") as caught:
        "".join(engine.reply(model_path, ask(*[picture()] * 20), load=load, sampling=GREEDY))
    assert "\n" not in str(caught.value)
