"""The planned split is where llama.cpp puts the layers.

:func:`llama_cpp_devices` reimplements llama.cpp's own choice, from ``llama_model::load_tensors``
in src/llama-model.cpp of the llama.cpp vendored by llama-cpp-python 0.3.36 (lines 1556-1614
there), in float32 as C++ computes it:

    float split_sum = 0.0f;                              // splits: tensor_split, cumulative
    for (i) { split_sum += splits[i]; splits[i] = split_sum; }
    for (i) { splits[i] /= split_sum; }
    const int i_gpu_start = std::max(n_layer_all + 1 - n_gpu_layers, 0);
    const int act_gpu_layers = devices.empty() ? 0 : std::min(n_gpu_layers, n_layer_all + 1);
    if (il < i_gpu_start || (il - i_gpu_start) >= act_gpu_layers) -> the CPU
    layer_gpu = std::upper_bound(splits, splits + n_devices,
                                 float(il - i_gpu_start)/act_gpu_layers) - splits;
    dev_layer[il] for il < n_layer_all; dev_output = get_layer_buft_list(n_layer_all)

The plan (:func:`workbench.split_choice.pool_split`) must give every layer, and the output
layer, exactly that device, over many layer counts and splits, including float rounding at
the boundaries (a device's last layer against the next one's first).
"""

from __future__ import annotations

import bisect
import random

import numpy as np

from workbench.fit import MemoryEstimate
from workbench.pool_fit import placement_line
from workbench.split_choice import pool_split

CPU = -1
GB = 10**9


def llama_cpp_devices(n_layer: int, n_gpu_layers: int, tensor_split: list[float],
                      ) -> list[int]:
    """The device index llama.cpp gives layers 0..n_layer (n_layer: the output layer);
    :data:`CPU` for the CPU. ``tensor_split`` is not all zero (the plans never give that
    with layers offloaded)."""
    if n_gpu_layers <= 0:  # nothing offloaded: the split is never read
        return [CPU] * (n_layer + 1)
    f32 = np.float32
    split_sum = f32(0.0)
    splits = []
    for x in tensor_split:
        split_sum = f32(split_sum + f32(x))
        splits.append(split_sum)
    splits = [f32(s / split_sum) for s in splits]
    i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)
    act_gpu_layers = min(n_gpu_layers, n_layer + 1) if tensor_split else 0
    devices = []
    for il in range(n_layer + 1):
        if il < i_gpu_start or (il - i_gpu_start) >= act_gpu_layers:
            devices.append(CPU)
            continue
        point = f32(f32(il - i_gpu_start) / f32(act_gpu_layers))
        devices.append(bisect.bisect_right(splits, point))  # std::upper_bound
    return devices


def planned_devices(plan) -> list[int]:
    """Where the plan says layers 0..n_layer sit, as llama_cpp_devices numbers them."""
    devices: list[int] = []
    output = CPU
    for index, share in enumerate(plan.shares):
        devices += [index - 1] * share.layers
        if share.output:
            output = index - 1
    return devices + [output]


def estimate(n_layer: int, output: int = 0, shared: int = 0) -> MemoryEstimate:
    layer = GB // 10
    return MemoryEstimate(n_ctx=4096, weights=n_layer * layer + 3 * GB, kv_cache=n_layer * 1000,
                          compute=GB // 4, n_layer=n_layer, layer_weights=layer,
                          layer_kv=1000, source="header", output_weights=output,
                          output_shared=shared)


def test_the_plan_is_where_llama_cpp_puts_every_layer() -> None:
    rng = random.Random(20261206)
    cases = 0
    for n_layer in list(range(1, 130)) + [160, 200, 255, 256, 400, 511]:
        for _ in range(12):
            devices = rng.randint(1, 5)
            weights = [float(rng.choice([0, 0, 1, 2, 3, 7, 10, 33]) * rng.random())
                       for _ in range(devices + 1)]
            if not any(weights[1:]):
                weights[rng.randint(1, devices)] = 1.0
            plan = pool_split(estimate(n_layer), 30 * GB,
                              [(f"10.0.0.{i}:50052", 24 * GB) for i in range(devices)],
                              weights)
            placed = llama_cpp_devices(n_layer, plan.offloaded, plan.tensor_split)
            assert placed == planned_devices(plan), (n_layer, weights, plan.tensor_split)
            cases += 1
    assert cases > 1500


def test_every_split_of_small_models_exhaustively() -> None:
    """Every way of giving up to 12 layers to the CPU and three devices."""
    for n_layer in range(1, 13):
        for here in range(n_layer + 1):
            for first in range(n_layer - here + 1):
                for second in range(n_layer - here - first + 1):
                    third = n_layer - here - first - second
                    weights = [float(here), float(first), float(second), float(third)]
                    if not any(weights[1:]):
                        continue
                    plan = pool_split(estimate(n_layer), GB,
                                      [("a:1", GB), ("b:1", GB), ("c:1", GB)], weights)
                    assert [s.layers for s in plan.shares] == [here, first, second, third]
                    placed = llama_cpp_devices(n_layer, plan.offloaded, plan.tensor_split)
                    assert placed == planned_devices(plan), weights


def test_the_output_layer_and_its_memory_go_with_the_last_device_holding_layers() -> None:
    e = estimate(30, output=GB // 2)
    plan = pool_split(e, 30 * GB, [("a:1", 24 * GB), ("b:1", 24 * GB)], [1.0, 1.0, 0.0])
    assert [s.layers for s in plan.shares] == [15, 15, 0]
    assert plan.offloaded == 16 and plan.tensor_split == [16.0, 0.0]
    assert [s.output for s in plan.shares] == [False, True, False]
    here, worker, idle = plan.shares
    assert worker.weights == 15 * e.layer_weights + e.output_weights
    assert worker.compute == e.compute and idle.compute == 0 and idle.weights == 0
    assert here.weights == 15 * e.layer_weights + 3 * GB - e.output_weights
    # the weights are all counted once: nothing lost, nothing twice
    assert sum(s.weights for s in plan.shares) == e.weights
    # tied embeddings: the output device holds a copy, and this computer keeps them too
    tied = pool_split(estimate(30, output=GB // 2, shared=GB // 2), 30 * GB,
                      [("a:1", 24 * GB)], [1.0, 1.0])
    assert tied.shares[0].weights == 15 * e.layer_weights + 3 * GB
    assert tied.shares[1].weights == 15 * e.layer_weights + GB // 2
    line = placement_line(plan.to_dict())
    assert line == "layers 0-14 here, 15-29 and the output layer on a:1", line


def test_nothing_offloaded_changes_nothing() -> None:
    e = estimate(30, output=GB // 2)
    alone = pool_split(e, 30 * GB, [])
    assert alone.offloaded == 0 and alone.tensor_split == []
    assert alone.shares[0].weights == e.weights and alone.shares[0].output
    assert llama_cpp_devices(30, alone.offloaded, [1.0]) == [CPU] * 31
    # split=workers: every layer and the output layer on the workers, -ngl n_layer + 1
    remote = pool_split(e, 30 * GB, [("a:1", 24 * GB), ("b:1", 24 * GB)], [0.0, 1.0, 1.0])
    assert remote.offloaded == 31 and remote.shares[0].layers == 0
    assert llama_cpp_devices(30, remote.offloaded, remote.tensor_split) == \
        [0] * 15 + [1] * 16
    assert remote.shares[0].weights == 3 * GB - e.output_weights
