"""Quantizations made in the test from the test model by llama.cpp's own quantizer."""

from __future__ import annotations

import ctypes
from pathlib import Path


def requantize(source: Path, target: Path, ftype_name: str = "LLAMA_FTYPE_MOSTLY_Q2_K") -> Path:
    """``source`` requantized (allow_requantize: the test model is Q4_1), about a second."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, ftype_name)
    params.allow_requantize = True
    params.nthread = 1
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(),
                                          ctypes.byref(params))
    if code != 0 or not target.exists():
        raise RuntimeError(f"llama_model_quantize returned {code}")
    return target
