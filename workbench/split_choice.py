"""How a model is split across this computer and its workers: the ``split`` setting.

``auto`` (the default): each part's layers in proportion to its free memory, at least one
layer here, the output layer here (what Workbench has always done). ``workers``: every layer
and the output layer on the workers, in proportion to their free memory, as llama.cpp's own
``llama-server --rpc HOSTS -ngl 99`` loads a model. Proportions (``1,2,2``): this computer
first, then each worker in the order of the ``workers`` setting; a 0 for this computer puts
everything on the workers, as ``workers`` does. Pure arithmetic, used by the load
(:mod:`workbench.engine.pool`), the planned split of ``models show`` and the fit verdicts.
"""

from __future__ import annotations

import math
from typing import Any

from workbench.errors import InvalidInputError

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
    them, ``HOST:PORT`` or ``HOST:PORT#N``) for :func:`workbench.fit.pool_split`; None for
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
