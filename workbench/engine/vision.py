"""Replies that see images: llama.cpp's multimodal library (libmtmd) in the engine process.

A model is paired with a vision projector (an ``mmproj`` GGUF: the image encoder and the layer
that maps its output into the text model's embeddings). The projector is opened with
``mtmd_init_from_file`` on the first reply that carries images and kept with the loaded model.
A user message carries its pictures as ``"images": [Picture, ...]``, already decoded, oriented
and scaled by the app (:mod:`workbench.images`), so nothing here parses an image file.

The prompt is rendered by the model's chat template with llama.cpp's media marker where each
picture goes, split by ``mtmd_tokenize`` into text and image chunks, and evaluated chunk by
chunk (``mtmd_helper_eval_chunk_single``): text chunks decoded, image chunks encoded by the
projector and their embeddings decoded. The generation loop then goes on as for any reply.
An image prompt is evaluated whole every time (the cache record is forgotten afterwards): the
KV cache's positions then hold image embeddings that a token list cannot describe.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import llama_cpp
from llama_cpp import mtmd_cpp as mtmd

from workbench.engine import llama_log
from workbench.engine.generate import Generation
from workbench.engine.loaded import LoadedModel
from workbench.engine.reply import FittedPrompt, Message, Reply
from workbench.errors import ContextOverflowError, InvalidInputError, ModelFileError

logger = logging.getLogger(__name__)

_lock = threading.Lock()


@dataclass(frozen=True)
class Picture:
    """One image ready for the encoder: ``rgb`` holds width x height x 3 bytes."""

    width: int
    height: int
    rgb: bytes
    #: The sha256 of the file it came from (how History refers to it), for the log.
    sha256: str = ""


def has_images(messages: list[Message]) -> bool:
    return any(m.get("images") for m in messages)


def open_projector(loaded: LoadedModel) -> Any:
    """The mtmd context of the loaded model's projector, opened on first use and kept on
    ``loaded.projector`` (closed with the model)."""
    if loaded.projector is not None:
        return loaded.projector
    path = loaded.settings.mmproj
    if not path:
        raise InvalidInputError(f"{loaded.path.name}: this model cannot see images (no vision "
                                "projector is paired with it; add one with models add MODEL "
                                "--mmproj FILE)")
    llama_log.install()
    with _lock:
        mtmd.mtmd_helper_log_set(llama_log.callback(), ctypes.c_void_p(0))
    params = mtmd.mtmd_context_params_default()
    params.use_gpu = loaded.gpu_layers != 0
    params.n_threads = loaded.llama.n_threads
    params.print_timings = False
    params.warmup = False
    mark = llama_log.mark()
    started = time.perf_counter()
    context = mtmd.mtmd_init_from_file(path.encode(), loaded.llama.model, params)
    if not context:
        reason = _reason(llama_log.lines_since(mark))
        raise ModelFileError(f"{path}: llama.cpp could not open this vision projector with "
                             f"{loaded.path.name} ({reason})")
    if not mtmd.mtmd_support_vision(context):
        mtmd.mtmd_free(context)
        raise ModelFileError(f"{path}: this projector has no image encoder (audio only?)")
    logger.info("vision projector %s opened in %.0f ms", path,
                (time.perf_counter() - started) * 1000)
    loaded.projector = context
    return context


def _reason(lines: list[str]) -> str:
    for line in reversed(lines):
        lowered = line.lower()
        if any(word in lowered for word in ("error", "mismatch", "failed", "unknown")):
            first = line.strip().splitlines()[0]
            return first.split("error: ", 1)[-1][:200]
    return "see the log"


class ImagePrompt:
    """A rendered prompt cut into mtmd's chunks; free with :meth:`close`."""

    def __init__(self, context: Any, text: str, pictures: list[Picture], add_bos: bool) -> None:
        self.context = context
        self.chunks = mtmd.mtmd_input_chunks_init()
        self._buffers = [(ctypes.c_uint8 * len(p.rgb)).from_buffer_copy(p.rgb)
                         for p in pictures]
        bitmaps = [mtmd.mtmd_bitmap_init(p.width, p.height, buffer)
                   for p, buffer in zip(pictures, self._buffers, strict=True)]
        try:
            raw = text.encode("utf-8")
            given = mtmd.mtmd_input_text()
            given.text, given.text_len = raw, len(raw)
            given.add_special, given.parse_special = add_bos, True
            array = (mtmd.mtmd_bitmap_p_ctypes * max(1, len(bitmaps)))(*bitmaps)
            code = mtmd.mtmd_tokenize(context, self.chunks, ctypes.byref(given), array,
                                      len(bitmaps))
        finally:
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)
        if code != 0:
            self.close()
            raise InvalidInputError(f"images: llama.cpp could not tokenize the prompt with "
                                    f"{len(pictures)} image(s) (mtmd_tokenize returned {code})")
        self.positions = int(mtmd.mtmd_helper_get_n_pos(self.chunks))
        self.image_tokens = 0
        for index in range(mtmd.mtmd_input_chunks_size(self.chunks)):
            chunk = mtmd.mtmd_input_chunks_get(self.chunks, index)
            if mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                self.image_tokens += int(mtmd.mtmd_input_chunk_get_n_tokens(chunk))

    def close(self) -> None:
        if self.chunks:
            mtmd.mtmd_input_chunks_free(self.chunks)
            self.chunks = None


class ImageGeneration(Generation):
    """The generation loop after a prompt evaluated by mtmd; ``image_ms`` is the time spent on
    image chunks (encoding them and decoding their embeddings into the context)."""

    def __init__(self, loaded: LoadedModel, prompt: ImagePrompt, tokens: list[int],
                 **options: Any) -> None:
        options.update(mode="fresh", prefix=0)
        super().__init__(loaded.llama, loaded.cache, tokens, **options)
        self.prompt = prompt
        self.image_ms = 0.0

    def evaluate_prompt(self) -> None:
        self._clear()
        ctx, chunks = self.llama.ctx, self.prompt.chunks
        n_past = llama_cpp.llama_pos(0)
        count = mtmd.mtmd_input_chunks_size(chunks)
        for index in range(count):
            chunk = mtmd.mtmd_input_chunks_get(chunks, index)
            image = mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT
            started = time.perf_counter()
            code = mtmd.mtmd_helper_eval_chunk_single(
                self.prompt.context, ctx, chunk, n_past.value, 0, self.llama.n_batch,
                index == count - 1, ctypes.byref(n_past))
            if image:
                self.image_ms += (time.perf_counter() - started) * 1000
            if code != 0:
                self._failed(2 if self.stop_flag.is_set() else code)
        self.prompt_evaluated = int(n_past.value)

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        try:
            yield from super().__iter__()
        finally:
            # The cache holds image embeddings no token list describes: the next reply starts
            # from an empty cache.
            self.record.forget()
            self.record.tokens = []
            self.prompt.close()


class ImageReply(Reply):
    """A reply whose messages carry pictures (made by the worker when they do)."""

    _prompt: ImagePrompt | None = None
    _generated: ImageGeneration | None = None

    def _fit(self, messages: list[Message], reserve: int,
             tools: list[dict[str, Any]] | None) -> FittedPrompt:
        context = open_projector(self.loaded)
        marker = (mtmd.mtmd_default_marker() or b"<__media__>").decode()
        pictures: list[Picture] = []
        marked: list[Message] = []
        for message in messages:
            images = list(message.get("images") or [])
            pictures.extend(images)
            content = message.get("content") or ""
            if images:
                content = "".join(marker + "\n" for _ in images) + content.replace(marker, "")
            marked.append({k: v for k, v in message.items() if k != "images"}
                          | {"content": content})
        template = self.loaded.template(self.sampling.template)
        template.model = self.loaded.path.name
        rendered = template.render(marked, tools)
        prompt = ImagePrompt(context, rendered.prompt, pictures, not rendered.added_bos)
        n_ctx = self.loaded.llama.n_ctx()
        if prompt.positions + reserve > n_ctx:
            prompt.close()
            raise ContextOverflowError(
                f"prompt: {prompt.positions:,} tokens ({prompt.image_tokens:,} of them for "
                f"{len(pictures)} image(s)) do not fit the {n_ctx:,}-token context (with "
                f"{reserve:,} kept for the reply); use fewer images or raise the context "
                "length")
        self._prompt = prompt
        # Stand-ins, one a position: the loop only needs the count (its token limit).
        return FittedPrompt([-1] * prompt.positions, rendered.stops, 0, template.describe(),
                            rendered.folded)

    def _generation(self, tokens: list[int], **options: Any) -> Generation:
        assert self._prompt is not None
        self._generated = ImageGeneration(self.loaded, self._prompt, tokens, **options)
        return self._generated

    def _run(self) -> Iterator[str]:
        try:
            yield from super()._run()
        finally:
            if self._prompt is not None:
                self.stats.image_tokens = self._prompt.image_tokens
                self.stats.settings["image_tokens"] = self._prompt.image_tokens
                self._prompt.close()
            if self._generated is not None:
                self.stats.image_ms = self._generated.image_ms
                self.stats.settings["image_ms"] = round(self._generated.image_ms, 1)
            if self.loaded.settings.mmproj:
                self.stats.settings["mmproj_path"] = self.loaded.settings.mmproj

