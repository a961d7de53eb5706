"""Images through the local server with the real ``openai`` client: ``image_url`` parts with
``data:`` URLs reach llama.cpp's libmtmd (the crafted projector paired with a copy of the test
model), usage counts the image tokens; a remote URL, a model that cannot see, a damaged or
oversized picture are each a 400 naming the part or the model; ``/v1/models`` marks vision."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest
from PIL import Image

from tests.core.test_images_bad_input import png_header_only
from tests.vision_craft import N_PATCHES
from workbench.library import add_model
from workbench.server.aliases import set_alias
from workbench.server.images import MAX_IMAGE_BYTES
from workbench.workspace import Workspace


@pytest.fixture(scope="module")
def space(make_space, vision_twin: Path, mmproj: Path) -> Workspace:
    space = make_space("server-images")
    add_model(space.db, vision_twin, mmproj=mmproj)
    set_alias(space.db, "eyes", "SmolVision", {"temperature": 0, "max_tokens": 4})
    return space


def png_url(size: tuple[int, int] = (64, 48), color=(200, 40, 40)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def ask(*urls: str, text: str = "What is in this picture?") -> list[dict]:
    parts: list[dict] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return [{"role": "user", "content": parts}]


def test_a_data_url_reaches_the_model_and_its_tokens_are_counted(client: openai.OpenAI
                                                                 ) -> None:
    one = client.chat.completions.create(model="eyes", messages=ask(png_url()), max_tokens=4)
    two = client.chat.completions.create(model="eyes", messages=ask(png_url(), png_url(
        (30, 90), (0, 0, 255))), max_tokens=4)
    assert one.choices[0].finish_reason in ("stop", "length")
    # Each picture adds the projector's patches to the prompt (the text is the same).
    assert two.usage.prompt_tokens - one.usage.prompt_tokens >= N_PATCHES
    assert one.usage.prompt_tokens > N_PATCHES


def test_streamed_with_an_image(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="eyes", messages=ask(png_url()),
                                            max_tokens=4, stream=True,
                                            stream_options={"include_usage": True})
    usage = [chunk.usage for chunk in stream if chunk.usage]
    assert usage and usage[0].prompt_tokens > N_PATCHES


def _refusal(client: openai.OpenAI, model: str, messages: list[dict]) -> str:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=messages, max_tokens=4)
    message = caught.value.body["message"]
    assert "\n" not in message
    return message


def test_a_remote_url_is_refused_and_nothing_is_fetched(client: openai.OpenAI) -> None:
    message = _refusal(client, "eyes", ask("https://example.com/cat.png"))
    assert "messages[0].content[1]" in message and "not fetched" in message


def test_a_model_that_cannot_see_is_named(client: openai.OpenAI) -> None:
    message = _refusal(client, "SmolLM2", ask(png_url()))
    assert "SmolLM2" in message and "cannot see images" in message


@pytest.mark.parametrize("url, says", [
    ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA", "damaged or truncated"),
    ("data:image/png;base64,@@@not-base64@@@", "not valid base64"),
    ("data:text/plain,hello", "data: URL with base64"),
    ("ftp://example.com/a.png", "data: URL with base64"),
])
def test_a_bad_picture_is_a_400_naming_the_part(client: openai.OpenAI, url: str,
                                                says: str) -> None:
    message = _refusal(client, "eyes", ask(url))
    assert "messages[0].content[1]" in message and says in message


def test_a_decompression_bomb_is_refused_from_its_header(client: openai.OpenAI) -> None:
    url = "data:image/png;base64," + base64.b64encode(png_header_only(50_000, 50_000)).decode()
    message = _refusal(client, "eyes", ask(url))
    assert "refused before decoding" in message


def test_an_oversized_picture_is_refused_before_decoding(server) -> None:
    # Bounded by its base64 text: more than MAX_IMAGE_BYTES of data (and under the body limit).
    url = "data:image/png;base64," + "A" * ((MAX_IMAGE_BYTES * 4) // 3 + 8)
    body = json.dumps({"model": "eyes", "messages": ask(url)}).encode()
    request = urllib.request.Request(server.url + "/chat/completions", body,
                                     {"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 400
    assert "larger than" in json.loads(caught.value.read())["error"]["message"]


def test_only_user_messages_carry_images(client: openai.OpenAI) -> None:
    messages = [*ask(png_url()), {"role": "assistant", "content": [
        {"type": "image_url", "image_url": {"url": png_url()}}]}, *ask(text="And now?")]
    message = _refusal(client, "eyes", messages)
    assert "messages[1].content[0]" in message and "only user messages" in message


def test_models_say_which_see(client: openai.OpenAI) -> None:
    seen = {entry.id: entry.model_extra.get("vision") for entry in client.models.list()}
    assert seen["eyes"] is True
    assert [v for k, v in seen.items() if k.startswith("SmolVision")] == [True]
    assert [v for k, v in seen.items() if k.startswith("SmolLM2")] == [False]
