"""Loading a GGUF into llama.cpp, once, with settings we can report."""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import psutil

from workbench.engine import llama_log
from workbench.engine.cpu_quirks import safe_model_params
from workbench.engine.generate import CacheRecord
from workbench.engine.settings import LoadSettings
from workbench.engine.templates import ChatTemplate, choose_template, file_templates_deferred
from workbench.errors import ModelFileError
from workbench.fit import SWA_FULL
from workbench.gguf_header import GGUFHeader, read_header

TOKENS_KEY = "tokenizer.ggml.tokens"


def gpu_offload_supported() -> bool:
    """A GPU backend to offload to (an RPC-only build does not count: see
    :func:`workbench.hardware.gpu_offload_supported`)."""
    from workbench.hardware import gpu_offload_supported as supported

    return supported()


def default_threads() -> int:
    """One thread per physical core but one, for prompts and generation alike.

    llama.cpp's threads wait for each other at every step, so one core taken by anything else
    (the window drawing the reply, a browser) stalls them all. Measured with SmolLM2 on 2
    cores: 2 threads gave 78 tokens/s idle but 6-24 beside one busy process; 1 thread gave 49
    either way. llama-cpp-python's own default (half the logical CPUs for generation,
    all of them for the prompt) made the first token take 2.7-6.4 s instead of 0.3 s. The
    ``threads`` setting overrides this."""
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    return max(1, cores - 1)


def resolve_gpu_layers(settings: LoadSettings, header: GGUFHeader, file_size: int) -> int:
    """The number passed to llama.cpp: -1 for all, 0 without a GPU backend."""
    value = settings.gpu_layers
    if not gpu_offload_supported():
        return 0
    if value == "all":
        return -1
    if value == "auto":
        try:
            from workbench.fit import auto_gpu_layers
        except ImportError:
            return 0
        return auto_gpu_layers(header, settings.n_ctx, file_size)
    return int(value)


@dataclass
class LoadedModel:
    """A model in memory. Not thread-safe: one worker uses it at a time."""

    path: Path
    settings: LoadSettings
    llama: llama_cpp.Llama
    header: GGUFHeader
    gpu_layers: int
    load_ms: float
    #: Set when a reply is the first after the load, so the cold run can be told apart.
    fresh: bool = True
    #: What the context's KV cache holds, for the next reply's prefix reuse.
    cache: CacheRecord = field(default_factory=CacheRecord)
    #: Where each part sits when split across workers (see :mod:`workbench.engine.pool`).
    split: dict[str, Any] | None = None
    #: The vision projector's mtmd context, opened by the first reply with images.
    projector: Any = None
    #: The draft model for speculative decoding (:mod:`workbench.engine.speculative`), loaded
    #: by the first reply that asks for one and kept with this model.
    draft: Any = None
    #: The second context batched replies run in (:mod:`workbench.engine.batched`), once made.
    batch_context: Any = None

    def template(self, override: str | None) -> ChatTemplate:
        model = self.llama._model
        bos = self.llama.token_bos()
        eos = self.llama.token_eos()
        return choose_template(
            self.header,
            override=override,
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            eos_token=model.token_get_text(eos) if eos != -1 else "",
        )

    def close(self) -> None:
        if self.batch_context is not None:  # before the model it belongs to
            with contextlib.suppress(Exception):
                self.batch_context.close()
            self.batch_context = None
        if self.projector is not None:  # before the text model it was made for
            from llama_cpp import mtmd_cpp

            mtmd_cpp.mtmd_free(self.projector)
            self.projector = None
        if self.draft is not None:
            self.draft.close()
            self.draft = None
        with contextlib.suppress(Exception):
            self.llama.close()


def load_model(path: str | Path, settings: LoadSettings) -> LoadedModel:
    """Load a model; a bad file or a failed load raises ModelFileError with llama.cpp's reason."""
    llama_log.install()
    path = Path(path)
    header = read_header(path, keep_arrays=[TOKENS_KEY])
    pool = None
    if settings.workers:
        from workbench.engine.pool import plan_pool

        pool = plan_pool(path, header, settings)
        gpu_layers = pool.n_gpu_layers
    else:
        gpu_layers = resolve_gpu_layers(settings, header, path.stat().st_size)
    threads = settings.n_threads or default_threads()
    log_mark = llama_log.mark()
    started = time.perf_counter()
    # verbose=True keeps llama-cpp-python from redirecting the process's file descriptors;
    # its Python-level prints during the load go nowhere, and llama.cpp's log goes to ours.
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(
                io.StringIO()), safe_model_params(), file_templates_deferred(), \
                contextlib.nullcontext() if pool is None else pool.devices_set():
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=gpu_layers,
                use_mmap=settings.use_mmap,
                n_batch=settings.n_batch,
                # Sliding-window layers (Gemma 2/3, Cohere 2, gpt-oss) keep only their window
                # plus a micro-batch of cells, as llama.cpp's own tools do; the C default
                # (full size) gave gemma-3-270m 576 MiB of KV cache at 32k instead of 111.
                # The cost, per llama.cpp: a reused prefix beyond the window is recomputed.
                swa_full=SWA_FULL,
                tensor_split=None if pool is None else pool.tensor_split,
                verbose=True,
            )
    except (ValueError, RuntimeError, OSError) as error:
        reason = _failure_reason(llama_log.lines_since(log_mark)) or str(error)
        raise ModelFileError(f"{path}: llama.cpp could not load it ({reason})") from None
    finally:
        llama_log.install()
    llama.verbose = False
    load_ms = (time.perf_counter() - started) * 1000
    return LoadedModel(path, settings, llama, header, gpu_layers, load_ms,
                       split=None if pool is None else pool.report())


#: llama.cpp's last line on a failed load only says that it failed; the reason is above it.
_GENERIC = ("failed to load model", "unable to load model")
_PREFIX = re.compile(r"^(?:error loading model(?: architecture| hyperparameters| vocabulary)?"
                     r": )+", re.IGNORECASE)


def _failure_reason(lines: list[str]) -> str:
    """The reason llama.cpp logged for a failed load ("unknown model architecture:
    'llala'"), not its closing "failed to load model" (kept only when nothing says more)."""
    generic = ""
    for line in reversed(lines):
        lowered = line.lower()
        if any(word in lowered for word in ("error", "failed", "unable", "cannot")):
            reason = _PREFIX.sub("", line.strip().split(": ", 1)[-1]).strip()[:200]
            if not any(phrase in lowered for phrase in _GENERIC):
                return reason
            generic = generic or reason
    return generic
