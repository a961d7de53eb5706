"""``POST /v1/embeddings`` with the real OpenAI client, against the real server on 127.0.0.1
and the real SmolLM2 model (one thread): vectors of the model's size, normalised, the same
for the same text, closer for closer texts; the model in memory shared with generation."""

from __future__ import annotations

import base64
import json
import math
import struct
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from workbench.engine.embed import MAX_TOKENS, MAX_TOTAL_TOKENS
from workbench.server.aliases import set_alias
from workbench.server.embeddings import MAX_INPUTS
from workbench.server.serve import RunningServer
from workbench.workspace import Workspace

TEXTS = ["a cat sat", "a cat sat", "stock prices fell"]
SMOLLM2_WIDTH = 576  # SmolLM2-135M's embedding length


@pytest.fixture(scope="module")
def space(make_space) -> Workspace:
    space = make_space("embeddings")
    set_alias(space.db, "vectors", "smollm2", {"temperature": 0})
    return space


def _post(server: RunningServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url + "/embeddings", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_have_the_models_size_and_rank_similar_texts_closer(
        client: openai.OpenAI) -> None:
    answer = client.embeddings.create(model="smollm2", input=TEXTS, encoding_format="float")
    assert answer.object == "list" and answer.model == "smollm2"
    assert [item.index for item in answer.data] == [0, 1, 2]
    cat, again, stocks = (item.embedding for item in answer.data)
    assert all(len(v) == SMOLLM2_WIDTH for v in (cat, again, stocks))
    for vector in (cat, again, stocks):  # L2-normalised: the dot product is the cosine
        assert math.isclose(math.sqrt(_dot(vector, vector)), 1.0, rel_tol=1e-5)
    assert cat == again
    assert _dot(cat, again) > _dot(cat, stocks)
    assert answer.usage.prompt_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens


def test_base64_is_little_endian_float32_of_the_same_vector(server: RunningServer,
                                                            client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model="vectors", input="a cat sat",
                                      encoding_format="float").data[0].embedding
    status, body = _post(server, {"model": "vectors", "input": "a cat sat",
                                  "encoding_format": "base64"})
    assert status == 200
    raw = base64.b64decode(body["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(decoded) == SMOLLM2_WIDTH
    assert max(abs(a - b) for a, b in zip(decoded, floats, strict=True)) < 1e-6
    # The client's default asks for base64 and decodes it itself.
    assert len(client.embeddings.create(model="vectors", input="x").data[0].embedding) == \
        SMOLLM2_WIDTH


def test_embeddings_take_turns_with_generation_on_one_loaded_model(
        server: RunningServer, client: openai.OpenAI) -> None:
    client.embeddings.create(model="smollm2", input="warm up")
    engine = server.model_host.engine
    loaded, pid = engine.loaded, engine.worker_pid
    client.chat.completions.create(model="smollm2", max_tokens=2, temperature=0,
                                   messages=[{"role": "user", "content": "Hi"}])
    client.embeddings.create(model="smollm2", input="after the chat")
    assert engine.loaded is loaded and engine.worker_pid == pid  # no second load
    assert server.model_host.model_name is not None


def test_an_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="no-such-model", input="x")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_inputs_past_the_bounds_are_400_naming_why(server: RunningServer,
                                                   client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="smollm2", input="word " * (MAX_TOKENS + 10))
    assert f"more than the {MAX_TOKENS}" in str(caught.value)
    many = ["word " * (MAX_TOKENS - 10)] * (MAX_TOTAL_TOKENS // MAX_TOKENS + 1)
    status, body = _post(server, {"model": "smollm2", "input": many})
    assert status == 400 and f"more than the {MAX_TOTAL_TOKENS}" in body["error"]["message"]
    status, body = _post(server, {"model": "smollm2", "input": ["x"] * (MAX_INPUTS + 1)})
    assert status == 400 and f"more than {MAX_INPUTS}" in body["error"]["message"]
    status, body = _post(server, {"model": "smollm2", "input": ["a" * 600_000] * 2})
    assert status == 400 and "1200000 characters" in body["error"]["message"]
    status, body = _post(server, {"model": "smollm2", "input": [[1, 2, 3]]})
    assert status == 400 and "token ids" in body["error"]["message"]
    status, body = _post(server, {"model": "smollm2", "input": ["ok", ""]})
    assert status == 400 and body["error"]["message"] == "input[1]: empty"
    status, body = _post(server, {"model": "smollm2", "input": "x", "encoding_format": "hex"})
    assert status == 400 and body["error"]["param"] == "encoding_format"
    # The server still answers after the refusals.
    assert len(client.embeddings.create(model="smollm2", input="fine").data) == 1
