"""Images in requests to the local server: OpenAI's ``image_url`` content parts.

A user message's content may be a list of parts, some ``{"type": "image_url", "image_url":
{"url": "data:image/png;base64,..."}}``. Only ``data:`` URLs are read: the server never fetches
anything, so an ``http(s)`` URL is a 400 naming the part (a client that wants a remote
picture downloads it and sends its bytes). Each picture is bounded before it is decoded (the
base64 text's length gives the bytes it holds; the request has at most :data:`MAX_IMAGES`),
then decoded by :func:`workbench.images.picture_from_bytes` (header-checked pixel count,
first frame, EXIF orientation, scaled), the same path as ``chat --image``. The pictures ride
on the engine message as ``"images"``; a model with no projector given one is a 400 naming
the model before anything is queued. ``GET /v1/models`` adds ``"vision": true|false``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from sqlite_utils import Database

from workbench.engine.vision import Picture
from workbench.errors import InvalidInputError, NotFoundError
from workbench.images import picture_from_bytes
from workbench.model_settings import Runnable
from workbench.server.aliases import Alias, alias_model
from workbench.server.protocol import APIError, GenerationRequest, bad, chat_request

#: The most pictures one request carries (each costs an encoder pass and its image tokens).
MAX_IMAGES = 16
#: The most bytes one picture's file may hold, checked from the base64 text's length (under
#: the 16 MiB body limit, so several fit in one request).
MAX_IMAGE_BYTES = 8 << 20
_DATA_URL = re.compile(r"data:(image/[a-z0-9.+-]+)?(;[^,;]*)*;base64,", re.IGNORECASE)


def is_image_part(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "image_url"


def _url(part: dict[str, Any], where: str) -> str:
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str) or not url:
        raise bad(f"{where}: image_url needs a url (a data: URL with the picture in base64)",
                  "messages")
    return url


def decode_part(part: dict[str, Any], where: str) -> Picture:
    """One ``image_url`` part as a picture, or a 400 naming ``where`` and why."""
    url = _url(part, where)
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        raise bad(f"{where}: remote image URLs are not fetched (this server reaches nothing "
                  "outside this computer); send the picture as a data: URL "
                  "(data:image/png;base64,...)", "messages")
    head = _DATA_URL.match(url[:256])
    if head is None:
        raise bad(f"{where}: image_url must be a data: URL with base64 content "
                  f"(data:image/png;base64,...), not {url[:40]!r}", "messages")
    text = url[head.end():]
    if len(text) * 3 // 4 > MAX_IMAGE_BYTES:  # bounded before a byte is decoded
        raise bad(f"{where}: the picture is larger than {MAX_IMAGE_BYTES >> 20} MiB",
                  "messages")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad(f"{where}: the data: URL is not valid base64", "messages") from None
    try:
        return picture_from_bytes(data, where)
    except InvalidInputError as error:
        raise bad(str(error), "messages") from None


def chat_with_images(body: dict[str, Any]) -> GenerationRequest:
    """A /v1/chat/completions body checked (:func:`~workbench.server.protocol.chat_request`),
    its pictures decoded onto its user messages."""
    request = chat_request(body)
    attach(body["messages"], request.messages)
    return request


def attach(raw: list[Any], messages: list[dict[str, Any]]) -> None:
    """Decode the image parts of the request's ``raw`` messages onto the checked
    ``messages`` (one for one, as :func:`workbench.server.tools.chat_messages` makes them)."""
    count = 0
    for index, (message, made) in enumerate(zip(raw, messages, strict=True)):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        pictures = []
        for number, part in enumerate(content):
            if not is_image_part(part):
                continue
            where = f"messages[{index}].content[{number}]"
            if message.get("role") != "user":
                raise bad(f"{where}: only user messages may carry images", "messages")
            count += 1
            if count > MAX_IMAGES:
                raise bad(f"messages: more than {MAX_IMAGES} images in one request",
                          "messages")
            pictures.append(decode_part(part, where))
        if pictures:
            made["images"] = pictures


def seeing(ready: Runnable, messages: list[dict[str, Any]], asked: str) -> Runnable:
    """``ready`` as it is, or a 400 naming the model when the request carries images and the
    model has no projector (before anything is queued)."""
    if ready.load.mmproj or not any(m.get("images") for m in messages):
        return ready
    raise APIError(400, f"model '{asked}' ({ready.model.name}) cannot see images: no vision "
                   "projector is paired with it (GET /v1/models marks those that can with "
                   "\"vision\": true)", param="model", code="model_cannot_see")


def alias_sees(db: Database, alias: Alias) -> bool:
    """What ``GET /v1/models`` says in ``vision`` for an alias: whether its model sees."""
    try:
        return alias_model(db, alias).sees
    except NotFoundError:
        return False
