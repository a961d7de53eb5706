"""A model split across this computer and workers, planned and handed to llama.cpp's loader.

Runs in the engine process (llama.cpp's RPC client ends its process when a worker is lost).
Each worker is first checked with a plain TCP connection: one that is gone is left out with a
line in the log, so the request after a worker died mid-reply loads on what remains. The rest
are added with ``ggml_backend_rpc_add_server``; their devices, then this computer's GPUs
(where llama.cpp has a GPU backend and the model's ``gpu_layers`` is not 0, which keeps it on
the CPU), go to ``llama_model_params.devices``, in the order llama.cpp itself lists them for
``llama-server --rpc``; the layers are split by :func:`workbench.split_choice.pool_split` as the
model's ``split`` setting says (:func:`workbench.split_choice.pool_weights`: by free memory,
all on the workers, or given proportions; the same plan ``models show --json`` prints), given
to llama.cpp as ``n_gpu_layers`` and ``tensor_split``, one entry per device in that order.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from workbench.engine import rpc
from workbench.engine.settings import LoadSettings
from workbench.fit import PoolPlan, estimate_for_header
from workbench.gguf_header import GGUFHeader
from workbench.split_choice import local_gpu_party, pool_split, pool_weights

log = logging.getLogger(__name__)


@dataclass
class Pool:
    plan: PoolPlan
    handles: list[int]
    #: Workers left out, with the reason (not answering).
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def n_gpu_layers(self) -> int:
        return self.plan.offloaded if self.handles else 0

    @property
    def tensor_split(self) -> list[float] | None:
        return self.plan.tensor_split if self.handles else None

    @contextlib.contextmanager
    def devices_set(self) -> Iterator[None]:
        """Around ``llama_cpp.Llama(...)``: the load uses exactly the planned devices (a
        NULL-terminated list in ``llama_model_params.devices``; llama-cpp-python has no
        argument for it, so its default-params call is wrapped, as in cpu_quirks)."""
        import llama_cpp.llama_cpp as llama_api

        if not self.handles:
            yield
            return
        array = (ctypes.c_void_p * (len(self.handles) + 1))(*self.handles, None)
        original = llama_api.llama_model_default_params

        def with_devices() -> Any:
            params = original()
            params.devices = ctypes.cast(array, ctypes.c_void_p)
            return params

        llama_api.llama_model_default_params = with_devices
        try:
            yield
        finally:
            llama_api.llama_model_default_params = original

    def report(self) -> dict[str, Any]:
        return {**self.plan.to_dict(), "missing": dict(self.missing)}


def plan_pool(path: Path, header: GGUFHeader, settings: LoadSettings) -> Pool:
    """Add the reachable workers to llama.cpp and plan the split across them and here."""
    if not rpc.available():
        raise RuntimeError(rpc.missing_line())
    missing: dict[str, str] = {}
    parties: list[tuple[str, int]] = []
    handles: list[int] = []
    for address in settings.workers:
        reason = rpc.reachable(address)
        if reason is not None:
            missing[address] = reason
            log.warning("worker %s: %s; loading without it", address, reason)
            continue
        devices = rpc.add_worker(address)
        for index, (handle, device) in enumerate(devices):
            where = address if len(devices) == 1 else f"{address}#{index}"
            parties.append((where, device.free))
            handles.append(handle)
    gpus: list[tuple[str, int]] = []
    for index, (handle, device) in enumerate(local_gpus(settings)):
        gpus.append((local_gpu_party(index, device.description or device.name), device.free))
        handles.append(handle)
    estimate = estimate_for_header(header, path.stat().st_size, settings.n_ctx)
    local = int(psutil.virtual_memory().available)
    weights = pool_weights(settings.split, estimate, local, parties, gpus, settings.workers)
    plan = pool_split(estimate, local, parties + gpus, weights)
    log.info("split across this computer and workers: %s", plan.summary())
    return Pool(plan, handles, missing)


def local_gpus(settings: LoadSettings) -> list[tuple[int, rpc.Device]]:
    """This computer's GPUs for a split (llama.cpp's own choice of them); none when the
    model's ``gpu_layers`` is 0 (the user's way of keeping a model on the CPU)."""
    if str(settings.gpu_layers).strip() == "0":
        return []
    return rpc.local_gpus()
