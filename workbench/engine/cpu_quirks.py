"""Load parameters that keep llama.cpp's CPU backend away from its known crashes.

pip builds llama.cpp with ``-march=native``; on an Intel CPU with AMX (Sapphire Rapids and
later, common on cloud and workstation Xeons) the build then repacks quantized weights into an
"AMX" buffer and multiplies them with AMX tiles. That path segfaults on the first reply on some
of these machines (ggml-org/llama.cpp#20824, open upstream; reproduced with SmolLM2 Q4_1 on this
project's test machines), which would take the whole app down. With ``use_extra_bufts`` off the
weights stay in the ordinary CPU buffer and the AVX-512 kernels do the work: no crash, and no
second copy of the weights (the AMX buffer held one next to the memory-mapped file).

llama-cpp-python has no argument for ``use_extra_bufts``: it fills ``llama_model_params`` from
``llama_model_default_params()`` inside ``Llama.__init__``, so that function is swapped for one
that clears the flag, only while a model loads, under a lock.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Iterator

import llama_cpp
import llama_cpp.llama_cpp as llama_api

logger = logging.getLogger(__name__)

#: Set to 1 to let llama.cpp use its AMX/repack buffers anyway (for measuring, at one's risk).
ALLOW_ENV = "LLM_WORKBENCH_CPU_REPACK"

_lock = threading.Lock()


@functools.cache
def build_uses_amx() -> bool:
    """Whether this llama.cpp build was compiled with AMX kernels (it says so in its system
    info; the AMX buffer is then used wherever the operating system allows the tiles)."""
    info = llama_cpp.llama_print_system_info()
    text = info.decode(errors="replace") if isinstance(info, bytes) else str(info)
    return "AMX_INT8 = 1" in text


def weight_repacking_allowed() -> bool:
    """False where the crash-prone AMX path would be taken, unless the user insists."""
    if os.environ.get(ALLOW_ENV) == "1":
        return True
    return not build_uses_amx()


@contextlib.contextmanager
def safe_model_params() -> Iterator[None]:
    """Around ``llama_cpp.Llama(...)``: loads without the AMX/repack buffers where they are
    unsafe."""
    field_names = {name for name, *_ in llama_api.llama_model_params._fields_}
    if weight_repacking_allowed() or "use_extra_bufts" not in field_names:
        yield
        return
    with _lock:
        original = llama_api.llama_model_default_params

        def without_extra_buffers() -> llama_api.llama_model_params:
            params = original()
            params.use_extra_bufts = False
            return params

        llama_api.llama_model_default_params = without_extra_buffers
        logger.info("llama.cpp build has AMX: loading without weight repacking (llama.cpp#20824)")
        try:
            yield
        finally:
            llama_api.llama_model_default_params = original
