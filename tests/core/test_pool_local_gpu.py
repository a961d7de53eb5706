"""A split across workers on a computer with GPUs of its own: pure planning on lists of
(name, free bytes), as llama.cpp would be handed them (its GPUs join the device list after the
workers' devices, the CPU keeps only what the devices cannot hold), and the enumeration on
this machine, which has no GPU: it finds none, also beside a real worker's RPC device, so the
CPU-only split is the one it always was. Nothing here runs on a GPU (none here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_workers import GB, ROOT, WorkerProc, made_estimate, needs_rpc

from workbench import hardware
from workbench.fit import VRAM_HEADROOM
from workbench.hardware import Gpu, Hardware, llama_gpu_choice
from workbench.pool_fit import POOL, Member, placement_line, pool_fit
from workbench.split_choice import local_gpu_party, pool_split, pool_weights, split_weights

W1, W2 = ("10.0.0.2:50052", 24 * GB), ("10.0.0.3:50052", 24 * GB)
GPU = local_gpu_party(0, "NVIDIA Test 24GB")


def layers(plan) -> list[int]:  # noqa: ANN001
    return [s.layers for s in plan.shares]


def test_without_a_gpu_the_weights_are_exactly_as_before() -> None:
    e = made_estimate()
    for split, chosen in (("auto", ()), ("workers", ()), ("1,1,2", (W1[0], W2[0]))):
        assert pool_weights(split, e, 31 * GB, [W1, W2], [], chosen) == \
            split_weights(split, 31 * GB, [W1, W2], chosen)


def test_auto_puts_every_layer_on_the_devices_when_they_hold_it() -> None:
    e = made_estimate()  # 80 layers of ~0.5 GB
    gpus = [(GPU, 24 * GB)]
    plan = pool_split(e, 31 * GB, [W1, W2] + gpus,
                      pool_weights("auto", e, 31 * GB, [W1, W2], gpus))
    assert [s.where for s in plan.shares] == ["this computer", W1[0], W2[0], GPU]
    assert layers(plan)[0] == 0 and sum(layers(plan)) == 80
    assert all(n > 0 for n in layers(plan)[1:]), layers(plan)
    # one tensor_split entry per device, in the devices' order; the output layer too
    assert len(plan.tensor_split) == 3 and plan.offloaded == 81
    assert plan.fits and [s.where for s in plan.workers] == [W1[0], W2[0]]
    assert "this computer's GPU 0 (NVIDIA Test 24GB):" in plan.summary()


def test_auto_fills_a_small_gpu_and_the_cpu_keeps_the_rest() -> None:
    e = made_estimate()  # a layer and its cache: 0.5 GB + 25 MB
    gpus = [(GPU, 8 * GB)]
    workers = [("10.0.0.2:50052", 8 * GB)]
    plan = pool_split(e, 31 * GB, workers + gpus,
                      pool_weights("auto", e, 31 * GB, workers, gpus))
    per_layer = e.layer_weights + e.layer_kv
    room = (8 * GB - VRAM_HEADROOM) // per_layer
    # the GPU, last in llama.cpp's list, keeps room for the output layer and the logits
    on_gpu = (8 * GB - VRAM_HEADROOM - e.output_weights - e.compute) // per_layer
    assert layers(plan) == [80 - room - on_gpu, room, on_gpu]
    assert plan.fits and plan.offloaded == room + on_gpu + 1  # and the output layer
    assert plan.shares[2].output and plan.tensor_split == [room, on_gpu + 1]


def test_split_workers_leaves_the_gpu_empty_and_proportions_fill_it_first() -> None:
    e = made_estimate()
    gpus = [(GPU, 8 * GB)]
    on_workers = pool_split(e, 31 * GB, [W1] + gpus,
                            pool_weights("workers", e, 31 * GB, [W1], gpus, (W1[0],)))
    assert layers(on_workers) == [0, 80, 0]
    assert [s.output for s in on_workers.shares] == [False, True, False]
    assert on_workers.offloaded == 81 and on_workers.tensor_split == [81.0, 0.0]
    # "1,1": this computer (CPU and GPU together) half, the worker half; the GPU first
    halves = pool_split(e, 31 * GB, [W1] + gpus,
                        pool_weights("1,1", e, 31 * GB, [W1], gpus, (W1[0],)))
    # less the GPU's room for the output layer and the logits, which it holds
    room = (8 * GB - VRAM_HEADROOM - e.output_weights - e.compute) // (
        e.layer_weights + e.layer_kv)
    assert layers(halves) == [40 - room, 40, room] and halves.shares[2].output
    # every worker left out: the CPU and the GPU alone, the GPU first
    alone = pool_split(e, 60 * GB, gpus, pool_weights("workers", e, 60 * GB, [], gpus))
    assert layers(alone) == [80 - room, room]


def test_fit_verdict_counts_the_gpu_and_the_placement_names_it() -> None:
    e = made_estimate()  # 41 GB: too large for 31 GB of RAM and a 12 GB GPU alone
    gpu_box = Hardware(ram_total=64 * GB, ram_available=31 * GB, gpu_offload=True,
                       gpus=[Gpu("NVIDIA Test 12GB", 12 * GB, 12 * GB)])
    members = [Member(W1[0], 24 * GB, rtt_ms=0.8)]
    verdict = pool_fit(e, gpu_box, members, rate=20e9)
    assert verdict.kind == POOL, verdict.summary()
    assert verdict.label().startswith("✓ Fits across this computer (CPU + 1 GPU) and 1 worker")
    assert "this computer's GPU 0 (NVIDIA Test 12GB):" in verdict.summary()
    assert verdict.plan is not None and len(verdict.plan.tensor_split) == 2
    line = placement_line(verdict.plan.to_dict())
    assert "here" in line and f"on {W1[0]}" in line and \
        "on this computer's GPU 0 (NVIDIA Test 12GB)" in line, line
    # the model kept on the CPU (gpu_layers 0): the GPU is not part of the pool
    on_cpu = pool_fit(e, gpu_box, members, rate=20e9, use_gpu=False)
    assert on_cpu.plan is not None and len(on_cpu.plan.shares) == 2
    assert on_cpu.label().startswith("✓ Fits across this computer and 1 worker")


def test_the_gpus_llama_cpp_would_use() -> None:
    cpu, rpc_dev, cuda, vulkan_igpu = (0, "CPU"), (1, "RPC"), (1, "CUDA"), (2, "Vulkan")
    assert llama_gpu_choice([cpu, rpc_dev, cuda, vulkan_igpu]) == [2]  # no worker, no iGPU
    assert llama_gpu_choice([cpu, rpc_dev, vulkan_igpu]) == [2]  # an iGPU beside workers
    assert llama_gpu_choice([cpu, rpc_dev, (2, "Vulkan"), (2, "Metal")]) == [2]
    assert llama_gpu_choice([cpu, rpc_dev]) == []


def gpu_backend_libraries() -> list[str]:
    import llama_cpp

    folder = Path(llama_cpp.__file__).parent / "lib"
    return sorted(p.name for p in folder.glob("*ggml-*") if any(
        kind in p.name for kind in ("cuda", "metal", "vulkan", "hip", "sycl", "opencl")))


@pytest.mark.skipif(bool(gpu_backend_libraries()), reason="a GPU build of llama.cpp")
def test_a_build_without_a_gpu_backend_has_no_gpu_for_a_split() -> None:
    from workbench.engine import rpc

    assert rpc.local_gpus() == []
    assert not hardware.detect().gpus


#: In a child process (llama.cpp's RPC client may end it): a worker added and registered
#: with ggml as llama-server --rpc does (common/arg.cpp: ggml_backend_rpc_add_server, then
#: ggml_backend_register), so its device is in ggml's own device list, a GPU to ggml.
CHILD = """
import ctypes
from workbench import hardware
from workbench.engine import rpc
base = rpc._base()
base.ggml_backend_register.argtypes = [ctypes.c_void_p]
reg = rpc._rpc().ggml_backend_rpc_add_server(rpc.normal_address(ADDRESS).encode())
base.ggml_backend_register(reg)
every = [(rpc._registry(h), rpc._device(h).kind) for h in rpc._all_devices()]
print(every, len(rpc.local_gpus()), len(hardware.gpus_from_llama() or []),
      len(rpc.local_devices()), sep="|")
"""


@needs_rpc
def test_a_workers_device_is_not_taken_for_a_gpu_of_this_computer(tmp_path: Path) -> None:
    """Beside a real worker's device in ggml's device list the enumeration still finds no
    GPU of this computer."""
    worker = WorkerProc(tmp_path / "home")
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD.replace("ADDRESS", repr(worker.address))],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    finally:
        worker.stop()
    assert out.returncode == 0, out.stderr[-2000:]
    every, gpus, llama_gpus, local = out.stdout.strip().splitlines()[-1].split("|")
    assert "('RPC', 1)" in every, every  # the worker's device: a GPU of the RPC backend
    if not gpu_backend_libraries():
        assert gpus == "0" and llama_gpus == "0", out.stdout
    assert int(local) == every.count("(") - every.count("'RPC'")


@pytest.mark.parametrize("description", ["", "  "])
def test_a_gpu_without_a_description_is_still_named(description: str) -> None:
    assert local_gpu_party(1, description) == "this computer's GPU 1 (GPU)"
