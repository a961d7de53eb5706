"""How much memory a contender needs, to decide whether contenders may run together.

Weights (the file size) plus the KV cache at the contender's context length, from the GGUF
header (layers, KV heads, head size) with f16 entries, plus a fixed allowance for llama.cpp's
compute buffers. An estimate, not a promise: running together is only offered when the sum
leaves a margin of the memory available now.
"""

from __future__ import annotations

import psutil

from workbench.errors import ModelFileError
from workbench.gguf_header import read_header
from workbench.trials.contenders import Contender

OVERHEAD = 150_000_000  # compute buffers and the runtime, per loaded model
MARGIN = 0.8  # use at most this share of the memory available


def estimate_bytes(contender: Contender) -> int:
    n_ctx = int(contender.settings.get("n_ctx") or 4096)
    try:
        header = read_header(contender.model_path)
        layers = int(header.arch_value("block_count", 32))
        embed = int(header.arch_value("embedding_length", 4096))
        heads = int(header.arch_value("attention.head_count", 32)) or 1
        kv_heads = int(header.arch_value("attention.head_count_kv", heads))
        kv_bytes = 2 * layers * n_ctx * (embed // heads) * kv_heads * 2
    except (ModelFileError, OSError, ValueError, TypeError):
        kv_bytes = n_ctx * 512_000  # a 7B-class guess when the header cannot be read
    return contender.file_size + kv_bytes + OVERHEAD


def can_run_together(contenders: list[Contender]) -> tuple[bool, str]:
    """Whether all contenders fit in memory at once, and the figures behind the answer."""
    needed = sum(estimate_bytes(c) for c in contenders)
    available = psutil.virtual_memory().available
    fits = needed <= available * MARGIN
    verdict = "fits" if fits else "does not fit"
    return fits, (f"together they need about {needed / 1e9:.1f} GB; "
                  f"{available / 1e9:.1f} GB is available ({verdict})")
