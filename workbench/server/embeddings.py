"""``POST /v1/embeddings``: the request checked at the edge, and the answer in OpenAI's shape.

Input is a string or a list of strings; a list of token-id lists (which OpenAI also takes) is
refused with a 400 that names it, since the engine embeds text. Bounds keep the work a request
can cause small: at most :data:`MAX_INPUTS` inputs and :data:`MAX_TOTAL_CHARS` characters in
all (and each input at most the engine's token limit, checked where it is tokenized).
Vectors are L2-normalised, as OpenAI's are; ``encoding_format`` ``base64`` sends each one as
little-endian float32 bytes in base64, as OpenAI does (its client decodes that by default).
"""

from __future__ import annotations

import array
import base64
import sys
from dataclasses import dataclass
from typing import Any

from workbench.server.protocol import APIError, check_model_name

MAX_INPUTS = 256
MAX_TOTAL_CHARS = 1_000_000


@dataclass
class EmbeddingRequest:
    model: str
    texts: list[str]
    base64: bool


def embedding_request(body: dict[str, Any]) -> EmbeddingRequest:
    """The request's model, texts and encoding; a 400 naming the field for anything else."""
    model = check_model_name(body.get("model"))
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        texts = list(raw)
    elif isinstance(raw, list) and raw and all(
            isinstance(item, int | list) for item in raw):
        raise APIError(400, "input: token ids are not supported here, send text",
                       param="input")
    elif raw is None or raw == []:
        raise APIError(400, "input: required (a string or a list of strings)", param="input")
    else:
        raise APIError(400, "input: must be a string or a list of strings", param="input")
    if len(texts) > MAX_INPUTS:
        raise APIError(400, f"input: {len(texts)} inputs, more than {MAX_INPUTS}",
                       param="input")
    for index, text in enumerate(texts):
        if not text:
            raise APIError(400, f"input[{index}]: empty", param="input")
    total = sum(len(text) for text in texts)
    if total > MAX_TOTAL_CHARS:
        raise APIError(400, f"input: {total} characters, more than {MAX_TOTAL_CHARS}",
                       param="input")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64", None):
        raise APIError(400, "encoding_format: must be 'float' or 'base64'",
                       param="encoding_format")
    if body.get("dimensions") is not None:
        raise APIError(400, "dimensions: not supported (the model's own size is used)",
                       param="dimensions")
    return EmbeddingRequest(model, texts, encoding == "base64")


def embedding_response(wanted: EmbeddingRequest, vectors: list[list[float]], tokens: int
                       ) -> dict[str, Any]:
    """OpenAI's list of embeddings, with usage (the tokens embedded)."""
    data = []
    for index, vector in enumerate(vectors):
        value: Any = vector
        if wanted.base64:
            value = _base64_float32(vector)
        data.append({"object": "embedding", "index": index, "embedding": value})
    return {"object": "list", "data": data, "model": wanted.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _base64_float32(vector: list[float]) -> str:
    """OpenAI's base64 encoding: the vector as little-endian float32, in base64."""
    packed = array.array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
