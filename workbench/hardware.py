"""What this machine can hold: RAM, and free VRAM where llama.cpp can offload to a GPU.

VRAM is asked of llama.cpp's own device list (ggml's backend registry), so the answer is
about the devices this build of llama.cpp would actually use; ``nvidia-smi`` is the fallback
for builds whose library does not export the device functions.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)

#: ggml_backend_dev_type values (ggml-backend.h): a discrete GPU, an integrated one.
_DEV_GPU, _DEV_IGPU = 1, 2


def llama_gpu_choice(devices: list[tuple[int, str]]) -> list[int]:
    """Which of ggml's devices (each its type and its backend's registry name, in registry
    order) llama.cpp itself would use as this computer's GPUs when it picks the devices
    (``llama_prepare_model_devices``, src/llama.cpp): every GPU but those of the RPC backend
    (workers, ``ggml_backend_rpc_add_server``), and integrated GPUs only where there is no
    discrete one (those of the first integrated GPU's backend); their indexes."""
    gpus = [i for i, (kind, reg) in enumerate(devices) if kind == _DEV_GPU and reg != "RPC"]
    if gpus:
        return gpus
    igpus = [i for i, (kind, _) in enumerate(devices) if kind == _DEV_IGPU]
    return [i for i in igpus if devices[i][1] == devices[igpus[0]][1]]


@dataclass
class Gpu:
    name: str
    free: int
    total: int


@dataclass
class Hardware:
    ram_total: int
    ram_available: int
    #: This llama.cpp build can offload layers to a GPU (CUDA, Metal, Vulkan...).
    gpu_offload: bool
    gpus: list[Gpu] = field(default_factory=list)

    @property
    def vram_free(self) -> int:
        return sum(g.free for g in self.gpus)

    @property
    def vram_total(self) -> int:
        return sum(g.total for g in self.gpus)


def gpu_offload_supported() -> bool:
    """A GPU backend in this build. llama.cpp also answers yes for a build with only the RPC
    backend (``llama_supports_rpc``), which offloads to workers, not to a GPU here: such a
    build counts only when llama.cpp lists a GPU device."""
    try:
        import llama_cpp

        if not llama_cpp.llama_supports_gpu_offload():
            return False
        if llama_cpp.llama_supports_rpc():
            return bool(gpus_from_llama())
        return True
    except Exception as error:  # no llama.cpp, or a broken build: then no GPU either
        logger.debug("llama_supports_gpu_offload failed: %s", error)
        return False


@functools.lru_cache(maxsize=1)
def _ggml() -> ctypes.CDLL | None:
    try:
        import llama_cpp
    except ImportError:
        return None
    folder = Path(llama_cpp.__file__).parent / "lib"
    for name in ("libggml.so", "libggml.dylib", "ggml.dll", "libllama.so", "libllama.dylib",
                 "llama.dll"):
        path = folder / name
        if not path.exists():
            continue
        try:
            lib = ctypes.CDLL(str(path))
            lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        except (OSError, AttributeError):
            continue
        lib.ggml_backend_dev_get.restype = ctypes.c_void_p
        lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        lib.ggml_backend_dev_description.restype = ctypes.c_char_p
        lib.ggml_backend_dev_description.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_type.restype = ctypes.c_int
        lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
        lib.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_reg_name.restype = ctypes.c_char_p
        lib.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_memory.restype = None
        lib.ggml_backend_dev_memory.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t),
        ]
        return lib
    return None


def gpus_from_llama() -> list[Gpu] | None:
    """GPUs as llama.cpp sees them, or None when the library cannot be asked."""
    lib = _ggml()
    if lib is None:
        return None
    found = []
    try:
        handles = [lib.ggml_backend_dev_get(i) for i in range(lib.ggml_backend_dev_count())]
        kinds = [(int(lib.ggml_backend_dev_type(h)), (lib.ggml_backend_reg_name(
            lib.ggml_backend_dev_backend_reg(h)) or b"").decode(errors="replace"))
            for h in handles]
        for index in llama_gpu_choice(kinds):
            device = handles[index]
            free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
            lib.ggml_backend_dev_memory(device, ctypes.byref(free), ctypes.byref(total))
            name = (lib.ggml_backend_dev_description(device) or b"GPU").decode(errors="replace")
            found.append(Gpu(name, int(free.value), int(total.value)))
    except Exception as error:
        logger.debug("ggml device query failed: %s", error)
        return None
    return found


def gpus_from_nvidia_smi() -> list[Gpu]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.free,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        try:
            name, free, total = (part.strip() for part in line.rsplit(",", 2))
            gpus.append(Gpu(name, int(float(free)) * 2**20, int(float(total)) * 2**20))
        except ValueError:
            continue
    return gpus


def detect() -> Hardware:
    """This machine now (RAM changes as other programs run, so nothing is cached)."""
    memory = psutil.virtual_memory()
    offload = gpu_offload_supported()
    gpus: list[Gpu] = []
    if offload:
        gpus = gpus_from_llama() or gpus_from_nvidia_smi()
    return Hardware(int(memory.total), int(memory.available), offload, gpus)
