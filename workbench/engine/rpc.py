"""llama.cpp's RPC backend (``ggml-rpc``), reached through ctypes: no RPC code of our own.

A *worker* is llama.cpp's RPC server (``ggml_backend_rpc_start_server``, what its
``rpc-server`` tool runs) serving this computer's CPU or GPU memory and compute to a main host;
the main host adds each worker with ``ggml_backend_rpc_add_server`` and hands its devices to
``llama_model_params.devices``, so llama.cpp's own loader splits the layers across them
(``ggml/include/ggml-rpc.h``, ``tools/rpc/README.md``).

The library is the one the installed llama-cpp-python was built with: ``libggml-rpc`` exists only
where it was built with ``CMAKE_ARGS="-DGGML_RPC=on"``; elsewhere :func:`missing_line` says so
with the command that fixes it, and nothing else changes.

llama.cpp's RPC client ends its process (``GGML_ABORT``) when a worker refuses the connection,
speaks another protocol version or goes away mid-request. So the client side only ever runs in
a process that may die: the engine process (a worker lost mid-reply ends the reply with one
line, and the next request starts a fresh process without it) and the short-lived probe of
:mod:`workbench.engine.rpc_probe`.
"""

from __future__ import annotations

import ctypes
import functools
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

#: The port llama.cpp's rpc-server listens on by default.
DEFAULT_PORT = 50052
#: The command that installs llama-cpp-python with the RPC backend (the README's install).
FIX_COMMAND = ('CMAKE_ARGS="-DGGML_RPC=on" pip install --force-reinstall --no-cache-dir '
               '--no-binary llama-cpp-python llama-cpp-python')
#: llama.cpp's own warning (tools/rpc/rpc-server.cpp), and the advice that goes with it.
NETWORK_WARNING = (
    "WARNING: Host ('{host}') is != '127.0.0.1'\n"
    "         Never expose the RPC server to an open network!\n"
    "         This is an experimental feature and is not secure!\n"
    "llama.cpp's RPC has no authentication and no encryption: anyone who can reach this port "
    "can run computations here and read what is sent. Use it only on a private network you "
    "trust, or bind to 127.0.0.1 and reach it through an SSH tunnel "
    "(ssh -N -L 50052:127.0.0.1:50052 USER@THIS-COMPUTER on the main computer).")

#: ggml_backend_dev_type values (ggml-backend.h).
DEV_CPU, DEV_GPU, DEV_IGPU, DEV_ACCEL = 0, 1, 2, 3


def _lib_folder() -> Path:
    import llama_cpp

    return Path(llama_cpp.__file__).parent / "lib"


def _find(stem: str) -> Path | None:
    folder = _lib_folder()
    for name in (f"lib{stem}.so", f"lib{stem}.dylib", f"{stem}.dll"):
        if (folder / name).exists():
            return folder / name
    return None


@functools.cache
def _base() -> ctypes.CDLL:  # noqa: D401
    """libggml: the backend registry and device calls (loaded already by llama_cpp)."""
    path = _find("ggml")
    if path is None:
        raise OSError("llama-cpp-python ships no libggml")
    lib = ctypes.CDLL(str(path), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
    p, size = ctypes.c_void_p, ctypes.c_size_t
    for name, res, args in (
        ("ggml_backend_dev_count", size, []),
        ("ggml_backend_dev_get", p, [size]),
        ("ggml_backend_dev_name", ctypes.c_char_p, [p]),
        ("ggml_backend_dev_description", ctypes.c_char_p, [p]),
        ("ggml_backend_dev_type", ctypes.c_int, [p]),
        ("ggml_backend_dev_memory", None, [p, ctypes.POINTER(size), ctypes.POINTER(size)]),
        ("ggml_backend_dev_by_name", p, [ctypes.c_char_p]),
        ("ggml_backend_reg_dev_count", size, [p]),
        ("ggml_backend_reg_dev_get", p, [p, size]),
        ("ggml_backend_dev_backend_reg", p, [p]),
        ("ggml_backend_reg_name", ctypes.c_char_p, [p]),
    ):
        function = getattr(lib, name)
        function.restype, function.argtypes = res, args
    return lib


@functools.cache
def _rpc() -> ctypes.CDLL | None:
    """libggml-rpc, or None where this build has no RPC backend."""
    path = _find("ggml-rpc")
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    p = ctypes.c_void_p
    lib.ggml_backend_rpc_start_server.restype = None
    lib.ggml_backend_rpc_start_server.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                                  ctypes.c_size_t, ctypes.c_size_t,
                                                  ctypes.POINTER(p)]
    lib.ggml_backend_rpc_add_server.restype = p
    lib.ggml_backend_rpc_add_server.argtypes = [ctypes.c_char_p]
    lib.ggml_backend_rpc_get_device_memory.restype = None
    lib.ggml_backend_rpc_get_device_memory.argtypes = [
        ctypes.c_char_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(ctypes.c_size_t)]
    return lib


def available() -> bool:
    """Whether the installed llama.cpp was built with the RPC backend."""
    return _rpc() is not None


def missing_line() -> str:
    """The one line said where the build lacks RPC, with the command that fixes it."""
    return ("this llama.cpp build has no RPC backend (libggml-rpc); reinstall it with RPC on: "
            + FIX_COMMAND)


@functools.cache
def protocol_version() -> str | None:
    """llama.cpp's RPC protocol version of this build, as its installed header states it
    (the library does not export it); a worker whose major version differs is refused by
    llama.cpp's handshake."""
    import sysconfig

    for base in {sysconfig.get_paths()["purelib"], str(_lib_folder().parent.parent)}:
        header = Path(base) / "include" / "ggml-rpc.h"
        try:
            text = header.read_text()
        except OSError:
            continue
        parts = [re.search(rf"RPC_PROTO_{part}_VERSION\s+(\d+)", text)
                 for part in ("MAJOR", "MINOR", "PATCH")]
        if all(parts):
            return ".".join(m.group(1) for m in parts if m)
    return None


# --- addresses ---------------------------------------------------------------------------

def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; the port defaults to 50052) as host and port; a malformed
    one raises ValueError with the reason."""
    text = address.strip()
    if not text or any(c.isspace() for c in text) or len(text) > 255:
        raise ValueError("must be HOST:PORT, such as 192.168.1.20:50052")
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("an IPv6 address must be written [ADDRESS]:PORT")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError("must be [ADDRESS]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.count(":") > 1:
        raise ValueError("an IPv6 address must be written [ADDRESS]:PORT")
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-:%_]+", host):
        raise ValueError("has no usable host name")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} must be a number from 1 to 65535")
    return host, int(port_text)


def endpoint(host: str, port: int) -> str:
    """The ``HOST:PORT`` string llama.cpp parses (it splits at the last colon)."""
    return f"{host}:{port}"


def normal_address(address: str) -> str:
    """One spelling per worker (``localhost`` and ``127.0.0.1`` stay distinct: they are what
    the user typed; the port is always written)."""
    host, port = split_address(address)
    return endpoint(host, port)


def reachable(address: str, timeout: float = 2.0) -> str | None:
    """None when something accepts a TCP connection at ``address``; else why not, in a few
    words. Checked before llama.cpp's client connects, since that one ends its process on a
    refused connection."""
    try:
        host, port = split_address(address)
    except ValueError as error:
        return str(error)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "connection refused (is 'llm-workbench worker' running there?)"
    except TimeoutError:
        return f"no answer in {timeout:g} s"
    except socket.gaierror as error:
        return f"unknown host ({error.strerror or error})"
    except OSError as error:
        return error.strerror or str(error)


# --- devices -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Device:
    name: str
    description: str
    kind: int
    free: int
    total: int


def _device(handle: int) -> Device:
    lib = _base()
    free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
    lib.ggml_backend_dev_memory(handle, ctypes.byref(free), ctypes.byref(total))
    return Device((lib.ggml_backend_dev_name(handle) or b"").decode(errors="replace"),
                  (lib.ggml_backend_dev_description(handle) or b"").decode(errors="replace"),
                  int(lib.ggml_backend_dev_type(handle)), int(free.value), int(total.value))


def _registry(handle: int) -> str:
    """The name of the backend a device belongs to: "RPC" for every worker's device (the
    devices ``ggml_backend_rpc_add_server`` makes point at ``ggml_backend_rpc_reg()``, whose
    name is "RPC"; ggml-rpc.cpp), "CUDA", "Metal", "Vulkan", "CPU"... for this computer's."""
    lib = _base()
    name = lib.ggml_backend_reg_name(lib.ggml_backend_dev_backend_reg(handle))
    return (name or b"").decode(errors="replace")


def _all_devices() -> list[int]:
    import llama_cpp

    llama_cpp.llama_backend_init()
    lib = _base()
    return [lib.ggml_backend_dev_get(i) for i in range(lib.ggml_backend_dev_count())]


def local_devices() -> list[tuple[int, Device]]:
    """This process's llama.cpp devices (handle and description), RPC ones excluded."""
    return [(h, _device(h)) for h in _all_devices() if _registry(h) != "RPC"]


def local_gpus() -> list[tuple[int, Device]]:
    """This computer's GPUs that llama.cpp itself would load a model on
    (:func:`workbench.hardware.llama_gpu_choice`), with their free memory now; none on a
    build without a GPU backend (a CPU or CPU + RPC build)."""
    from workbench.hardware import llama_gpu_choice

    handles = _all_devices()
    lib = _base()
    chosen = llama_gpu_choice([(int(lib.ggml_backend_dev_type(h)), _registry(h))
                               for h in handles])
    return [(handles[i], _device(handles[i])) for i in chosen]


def add_worker(address: str) -> list[tuple[int, Device]]:
    """Add the worker at ``address`` to this process's llama.cpp (``ggml_backend_rpc_add_server``)
    and return its devices with their free and total memory. Ends the process if the worker
    is not there (llama.cpp's abort): call :func:`reachable` first, and only in a process that
    may die."""
    lib = _rpc()
    if lib is None:
        raise RuntimeError(missing_line())
    reg = lib.ggml_backend_rpc_add_server(normal_address(address).encode())
    if not reg:
        return []
    base = _base()
    return [(h, _device(h)) for h in (base.ggml_backend_reg_dev_get(reg, i)
                                      for i in range(base.ggml_backend_reg_dev_count(reg)))]


class _InitParams(ctypes.Structure):
    """``struct ggml_init_params`` (ggml.h), passed by value to ``ggml_init``."""

    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p),
                ("no_alloc", ctypes.c_bool)]


@functools.cache
def _tensors() -> ctypes.CDLL:
    """libggml's context, tensor and backend-buffer calls (ggml.h, ggml-backend.h,
    ggml-alloc.h), found through libggml's dependency on libggml-base."""
    lib = _base()
    p, size = ctypes.c_void_p, ctypes.c_size_t
    for name, res, args in (
        ("ggml_tensor_overhead", size, []),
        ("ggml_init", p, [_InitParams]),
        ("ggml_free", None, [p]),
        ("ggml_new_tensor_1d", p, [p, ctypes.c_int, ctypes.c_int64]),
        ("ggml_backend_dev_init", p, [p, ctypes.c_char_p]),
        ("ggml_backend_free", None, [p]),
        ("ggml_backend_alloc_ctx_tensors", p, [p, p]),
        ("ggml_backend_buffer_free", None, [p]),
        ("ggml_backend_tensor_set", None, [p, p, size, size]),
        ("ggml_backend_tensor_get", None, [p, p, size, size]),
    ):
        function = getattr(lib, name)
        function.restype, function.argtypes = res, args
    return lib


#: ggml_type of a plain float (ggml.h's GGML_TYPE_F32).
_F32 = 0


def transfer_rate(handle: int, size: int, *, budget_s: float,
                  rounds: int = 5) -> tuple[float, float] | None:
    """Bytes per second to and from the device ``handle`` (an RPC device from
    :func:`add_worker`), measured with ggml's own backend calls: one f32 tensor of ``size``
    bytes allocated in the device's memory, written (``ggml_backend_tensor_set``, then a
    4-byte read, so the time includes the worker taking it) and read back
    (``ggml_backend_tensor_get``), each up to ``rounds`` times within ``budget_s``; the
    medians, or None where the device gave no buffer. Everything is freed before it returns.

    Keep ``size`` under llama.cpp's 10 MiB threshold, above which its RPC client sends a
    tensor's hash first and a worker's ``--cache`` would answer without the bytes moving."""
    import statistics
    import time

    lib = _tensors()
    backend = lib.ggml_backend_dev_init(handle, None)
    if not backend:
        return None
    ctx = lib.ggml_init(_InitParams(lib.ggml_tensor_overhead() * 2, None, True))
    buffer = None
    try:
        tensor = lib.ggml_new_tensor_1d(ctx, _F32, size // 4)
        buffer = lib.ggml_backend_alloc_ctx_tensors(ctx, backend)
        if not tensor or not buffer:
            return None
        data = ctypes.create_string_buffer(bytes(range(256)) * (size // 256), size)
        tail = ctypes.create_string_buffer(4)
        ups: list[float] = []
        downs: list[float] = []
        deadline = time.perf_counter() + budget_s
        while len(ups) < rounds and (not ups or time.perf_counter() < deadline):
            started = time.perf_counter()
            lib.ggml_backend_tensor_set(tensor, data, 0, size)
            lib.ggml_backend_tensor_get(tensor, tail, size - 4, 4)
            middle = time.perf_counter()
            lib.ggml_backend_tensor_get(tensor, data, 0, size)
            ups.append(middle - started)
            downs.append(time.perf_counter() - middle)
        return (size / max(statistics.median(ups), 1e-9),
                size / max(statistics.median(downs), 1e-9))
    finally:
        if buffer:
            lib.ggml_backend_buffer_free(buffer)
        lib.ggml_free(ctx)
        lib.ggml_backend_free(backend)


def device_memory(address: str, device: int = 0) -> tuple[int, int]:
    """A worker device's free and total memory: one round trip to it."""
    lib = _rpc()
    assert lib is not None
    free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
    lib.ggml_backend_rpc_get_device_memory(normal_address(address).encode(), device,
                                           ctypes.byref(free), ctypes.byref(total))
    return int(free.value), int(total.value)


def serve(host: str, port: int, *, threads: int, devices: list[str] | None = None,
          cache_dir: str | None = None) -> None:
    """Run llama.cpp's RPC server here until the process ends (it never returns on success).

    ``devices``: llama.cpp device names (``CPU``, ``CUDA0``...); by default its own choice
    (every GPU, else the CPU), as rpc-server makes it. An unknown name raises ValueError
    listing the ones there are."""
    lib = _rpc()
    if lib is None:
        raise RuntimeError(missing_line())
    present = local_devices()
    chosen: list[int] = []
    if devices:
        for name in devices:
            match = [h for h, d in present if d.name.lower() == name.lower()]
            if not match:
                names = ", ".join(d.name for _, d in present) or "none"
                raise ValueError(f"--device {name}: no such device here (there are: {names})")
            chosen.append(match[0])
    else:
        chosen = [h for h, d in present if d.kind not in (DEV_CPU, DEV_ACCEL)]
        chosen = chosen or [h for h, d in present if d.kind == DEV_CPU][:1]
    if not chosen:
        raise ValueError("no llama.cpp device to serve")
    array = (ctypes.c_void_p * len(chosen))(*chosen)
    sys.stdout.flush()
    lib.ggml_backend_rpc_start_server(endpoint(host, port).encode(),
                                      cache_dir.encode() if cache_dir else None,
                                      threads, len(chosen), array)
