"""How a model is split across this computer and its workers: the ``split`` setting.

``auto`` (the default): each part's layers in proportion to its free memory, at least one
layer here, the output layer here (what Workbench has always done). ``workers``: every layer
and the output layer on the workers, in proportion to their free memory, as llama.cpp's own
``llama-server --rpc HOSTS -ngl 99`` loads a model. Proportions (``1,2,2``): this computer
first, then each worker in the order of the ``workers`` setting; a 0 for this computer puts
everything on the workers, as ``workers`` does. Pure arithmetic, used by the load
(:mod:`workbench.engine.pool`), the planned split of ``models show`` and the fit verdicts.

A computer with GPUs of its own (a CUDA, Metal or Vulkan build of llama.cpp) splits as
``llama-server --rpc`` does there (:func:`pool_weights`): its GPUs join llama.cpp's device
list after the workers' devices (llama.cpp's own order, so the output layer and its logits
stay on this computer), and its CPU keeps only the layers the devices cannot hold. ``auto``:
the devices (workers and GPUs) by free memory while the model fits on them, else each device
as full as it gets and the rest on the CPU. ``workers``: the GPUs hold nothing. Proportions:
this computer's number covers its CPU and GPUs together, its GPUs filled first; so the count
stays one per worker plus one, on any computer. Without GPUs nothing changes.

Where llama.cpp puts each layer (``load_tensors`` in src/llama-model.cpp of the llama.cpp that
llama-cpp-python 0.3.36 vendors): ``i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)``,
``act_gpu_layers = min(n_gpu_layers, n_layer + 1)``; layer ``il`` (0 to ``n_layer``, the output
layer being ``n_layer``) stays on the CPU below ``i_gpu_start``, else goes to the device
``upper_bound(splits, float(il - i_gpu_start) / act_gpu_layers)``, ``splits`` being
``tensor_split``'s cumulative sums over their total. So any offload takes the output layer
with it: a plan with ``on`` layers on devices gives ``n_gpu_layers = on + 1`` and each device
its layer count, the output layer's slot added to the last device holding layers
(:attr:`workbench.fit.PoolPlan.tensor_split`), which then holds the output weights and the
logits' compute buffer too (:func:`pool_split`).
"""

from __future__ import annotations

import math
from typing import Any

from workbench.errors import InvalidInputError
from workbench.fit import LOCAL_GPU, VRAM_HEADROOM, MemoryEstimate, PoolPlan, Share
from workbench.hardware import Hardware

AUTO, WORKERS = "auto", "workers"


def parse_split(value: Any) -> str:
    """``value`` as the setting's one spelling (``auto``, ``workers`` or ``1,2,2``); one line
    naming what is wrong otherwise."""
    text = str(value if value is not None else AUTO).strip().lower()
    if text in ("", AUTO, "memory"):
        return AUTO
    if text in (WORKERS, "remote", "all-workers"):
        return WORKERS
    parts = [p.strip() for p in text.replace(":", ",").split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidInputError(f"setting split={value!r}: must be auto, workers or "
                                "proportions such as 1,2,2 (this computer first, then each "
                                "worker)") from None
    if len(numbers) < 2 or any(not math.isfinite(n) or n < 0 for n in numbers) or \
            not any(numbers[1:]):
        raise InvalidInputError(f"setting split={value!r}: proportions are this computer's, "
                                "then each worker's: two or more numbers of at least 0, one "
                                "worker's above 0")
    return ",".join(f"{n:g}" for n in numbers)


def check_split(split: str, workers: tuple[str, ...]) -> None:
    """Proportions must name this computer and each of ``workers``; one line otherwise."""
    if split in (AUTO, WORKERS) or not workers:
        return
    count = len(split.split(","))
    if count != len(workers) + 1:
        raise InvalidInputError(f"setting split={split}: {count} proportions for this computer "
                                f"and {len(workers)} worker{'s' if len(workers) != 1 else ''} "
                                f"(give {len(workers) + 1}: this computer first)")


def split_weights(split: str, local_free: int, workers: list[tuple[str, int]],
                  chosen: tuple[str, ...] = ()) -> list[float] | None:
    """The weight of each part (this computer, then each worker device as ``workers`` lists
    them, ``HOST:PORT`` or ``HOST:PORT#N``) for :func:`pool_split`; None for
    ``auto`` (free memory, as before). ``chosen``: the workers setting, in order, which
    proportions follow; a worker left out at load drops its proportion, and a worker with
    several devices shares its own among them by free memory."""
    if split == AUTO or not workers:
        return None
    if split == WORKERS:
        return [0.0] + [float(max(free, 1)) for _, free in workers]
    numbers = [float(n) for n in split.split(",")]
    own = dict(zip(chosen, numbers[1:], strict=False))
    by_worker: dict[str, int] = {}
    for where, free in workers:
        base = where.split("#")[0]
        by_worker[base] = by_worker.get(base, 0) + max(free, 1)
    weights = [numbers[0]]
    for where, free in workers:
        base = where.split("#")[0]
        weights.append(own.get(base, 0.0) * max(free, 1) / by_worker[base])
    if not any(weights[1:]):  # every worker with a share was left out: this computer alone
        return [1.0] + [0.0] * len(workers)
    return weights


def local_gpu_party(index: int, description: str) -> str:
    """How a plan names this computer's GPU ``index`` (its place among the GPUs llama.cpp
    would use): "this computer's GPU 0 (NVIDIA GeForce RTX 4090)"."""
    return f"{LOCAL_GPU} {index} ({description.strip() or 'GPU'})"


def gpu_parties(hardware: Hardware, use_gpu: bool = True) -> list[tuple[str, int]]:
    """This computer's GPUs as parts of a split (name and free memory, named as the load
    names them); none without a GPU backend or when the model is kept on the CPU."""
    if not use_gpu or not hardware.gpu_offload:
        return []
    return [(local_gpu_party(i, g.name), g.free) for i, g in enumerate(hardware.gpus)]


def pool_weights(split: str, e: MemoryEstimate, local_free: int,
                 workers: list[tuple[str, int]], gpus: list[tuple[str, int]],
                 chosen: tuple[str, ...] = ()) -> list[float] | None:
    """The weight of each part for :func:`pool_split` over this computer's CPU,
    then ``workers``' devices, then this computer's ``gpus`` (name, free bytes), in layers.
    No ``gpus``: exactly :func:`split_weights` (a computer without a GPU splits as before)."""
    base = split_weights(split, local_free, workers, chosen)
    if not gpus:
        return base
    n = e.n_layer
    per_layer = max(1, e.layer_weights + e.layer_kv)
    # the last GPU holds the output layer and the logits' compute buffer too (pool_split)
    output = e.output_weights + e.compute
    spare = [free - VRAM_HEADROOM - (output if i == len(gpus) - 1 else 0)
             for i, (_, free) in enumerate(gpus)]
    room = [float(max(0, free) // per_layer) for free in spare]
    if split == WORKERS and workers:
        return (base or []) + [0.0] * len(gpus)
    if base is None:  # auto (or every worker left out): the devices first, by free memory
        devices = workers + gpus
        rooms = [float(max(0, free - VRAM_HEADROOM) // per_layer) for _, free in workers]
        rooms += room
        if sum(rooms) >= n:
            return [0.0] + [float(max(free, 1)) for _, free in devices]
        return [float(n - sum(rooms))] + rooms
    total = sum(base) or 1.0
    here = n * base[0] / total  # this computer's layers, its GPUs filled first
    on_gpus = min(here, sum(room))
    return ([here - on_gpus] + [n * w / total for w in base[1:]]
            + [on_gpus * r / sum(room) if on_gpus else 0.0 for r in room])


def pool_split(e: MemoryEstimate, local_free: int, workers: list[tuple[str, int]],
               weights: list[float] | None = None) -> PoolPlan:
    """The split of ``e`` across this computer (``local_free`` bytes) and ``workers``
    (device, free bytes), each part's layers in proportion to its free memory (or to
    ``weights``, :func:`pool_weights`), by largest remainders as llama.cpp divides them; at
    least one layer stays here unless ``weights`` gives it none. The output layer goes with
    the last device holding layers, as llama.cpp loads it: its weights (the output matrix, or
    a copy of the tied embeddings) and a compute buffer (the logits) are counted there."""
    parties = [("this computer", max(0, local_free))] + [(a, max(0, f)) for a, f in workers]
    shares_of = weights or [float(free) for _, free in parties]
    room = sum(shares_of) or 1
    exact = [e.n_layer * w / room for w in shares_of]
    layers = [int(x) for x in exact]
    by_remainder = sorted(range(len(parties)), key=lambda i: exact[i] - layers[i], reverse=True)
    for i in by_remainder[:e.n_layer - sum(layers)]:
        layers[i] += 1
    if layers[0] == 0 and e.n_layer and len(layers) > 1 and (weights is None or weights[0]):
        donor = max(range(1, len(layers)), key=lambda i: layers[i])
        layers[donor] -= 1
        layers[0] += 1
    holding = [i for i in range(1, len(parties)) if layers[i]]
    output_at = holding[-1] if holding else 0
    other = e.weights - e.layer_weights * e.n_layer
    if output_at:  # the output layer leaves; tied embeddings stay here for the input too
        other -= e.output_weights - e.output_shared
    shares = []
    for i, (where, free) in enumerate(parties):
        weights_here = layers[i] * e.layer_weights + (other if i == 0 else 0)
        compute = e.compute if i == 0 else 0
        if i == output_at and i:
            weights_here += e.output_weights
            compute = e.compute
        shares.append(Share(where, layers[i], weights_here, layers[i] * e.layer_kv, compute,
                            free, output=i == output_at))
    return PoolPlan(e, shares)
