"""Fit verdicts that count the pool: this computer plus the workers that answered their last
check, the way the library, Discover and a download judge a model.

:func:`pool_fit` is pure arithmetic on :mod:`workbench.fit`'s one memory model: the local
verdict (:func:`workbench.fit.judge`) when the model fits here alone and uses no workers;
otherwise :func:`workbench.split_choice.pool_split` over this computer's available memory and each
usable worker's free memory, said as *Fits across this computer and 2 workers (31 GB +
24 GB)* with the split, the KV cache and the expected speed; *Too large* only when the whole
pool is too small. The workers' figures come from the last check (:func:`last_members`, filled
by every :func:`workbench.workers.check_worker`): a verdict never waits on the network.

:func:`placement_line` says where a loaded model's parts sit ("layers 0-9 here, 10-29 and
the output layer on 192.168.1.5:50052") and :func:`dropped_lines` which
workers the load left out, from the split a load reports
(:attr:`workbench.engine.process.RemoteModel.split`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench import fit
from workbench.hardware import Hardware
from workbench.split_choice import AUTO, gpu_parties, pool_split, pool_weights
from workbench.units import human_ms, human_rate, human_size, human_tps

#: What this computer reads of a model's weights per second while generating, when no reply
#: has been measured yet (a laptop's CPU, a few threads); :func:`measured_rate` replaces it.
DEFAULT_RATE = 4e9
#: Network bandwidth when none was measured (a worker checked by an older version, or one
#: whose transfers failed): a gigabit LAN, in bytes per second. Each check measures it.
DEFAULT_BANDWIDTH = 125e6
#: Round trips per hand-over between parts, per token: the activations sent with the graph
#: to compute, and the result read back (llama.cpp's RPC ``SET_TENSOR`` + ``GRAPH_COMPUTE``
#: then ``GET_TENSOR``).
TRIPS_PER_BOUNDARY = 2
POOL = "pool"


@dataclass
class Member:
    """One worker device as a verdict sees it: where, its free memory, and the measured round
    trip (milliseconds) and bandwidth (bytes per second) to it, None when not measured."""

    address: str
    free: int
    rtt_ms: float | None = None
    bandwidth: float | None = None


def members_from_checks(checks: list[Any]) -> list[Member]:
    """The usable workers of :func:`workbench.workers.check_all`'s checks, one member per
    device (as the load adds them)."""
    members = []
    for check in checks:
        if not check.usable:
            continue
        for device in check.per_device or [{"index": 0, "free": check.free}]:
            where = check.address if check.devices <= 1 else \
                f"{check.address}#{device['index']}"
            members.append(Member(where, int(device["free"]), check.rtt_ms,
                                  getattr(check, "bandwidth", None)))
    return members


def checked_members(db: Database) -> list[Member]:
    """Every added worker checked now (the CLI's way: it may wait; offline mode checks only
    those on this computer), as members; none added: none, and nothing contacted."""
    from workbench.workers import check_all, list_workers

    return members_from_checks(check_all(db)) if list_workers(db) else []


def check_unchecked(db: Database) -> bool:
    """Check every added worker when none was checked yet in this process (the window, once,
    in the background); whether it checked."""
    from workbench.workers import check_all, last_checks, list_workers

    addresses = list_workers(db)
    if not addresses or last_checks(addresses):
        return False
    check_all(db)
    return True


def last_members(addresses: list[str] | tuple[str, ...]) -> list[Member]:
    """The members the last checks of ``addresses`` found usable (none checked yet: none)."""
    from workbench.workers import last_checks

    return members_from_checks(last_checks(addresses))


def expected_tokens_per_s(plan: fit.PoolPlan, members: list[Member],
                          rate: float = DEFAULT_RATE) -> float:
    """Tokens per second a split model is expected to generate, by a simple model:

    per-token time = each part's weights / ``rate`` (every part reads its layers' weights
    once per token, one part after the other) + for each hand-over between parts (to each
    worker holding layers, and back here with the logits) ``TRIPS_PER_BOUNDARY`` round
    trips plus the activations (``n_embd`` floats, estimated from a layer's size) over the
    link's bandwidth: the one the worker's check measured, :data:`DEFAULT_BANDWIDTH` only
    where none was (:meth:`PoolFit.bandwidth_words` says which).

    It ignores: the prompt (evaluated in batches, not token by token), attention's cost
    growing with the context, workers computing faster or slower than this computer (a GPU
    worker is counted at this computer's rate), llama.cpp overlapping transfers with compute,
    a network shared with other traffic, and that only one row of the token-embedding table
    is read per token (it is counted whole: small models are predicted slow). Good to a
    factor of about two; it says whether the round trips or the compute bound the speed.
    """
    by_place = {m.address: m for m in members}
    seconds = sum(s.weights for s in plan.shares) / max(rate, 1.0)
    activations = _activation_bytes(plan.estimate)
    for share in plan.workers:
        if share.layers <= 0:
            continue
        member = by_place.get(share.where)
        rtt = (member.rtt_ms if member and member.rtt_ms is not None else 1.0) / 1000
        bandwidth = member.bandwidth if member and member.bandwidth else DEFAULT_BANDWIDTH
        # there and back: to this worker, and from it to the next part
        seconds += TRIPS_PER_BOUNDARY * rtt + 2 * activations / bandwidth
    return 1.0 / seconds if seconds > 0 else 0.0


def _activation_bytes(e: fit.MemoryEstimate) -> int:
    """One token's hidden state (f32); the embedding width is about sqrt(layer bytes / 12) at
    ~4.5 bits per weight, which is close enough for a transfer time."""
    params_per_layer = e.layer_weights * 8 / 4.5
    return int(4 * max(512.0, (params_per_layer / 12) ** 0.5))


def measured_rate(db: Database) -> float | None:
    """This computer's weights read per second while generating, from its last replies made
    here alone (speed x file size, the median of up to 20; split replies left out); None
    before any reply was measured."""
    if "messages" not in db.table_names():
        return None
    rows = db.execute(
        "SELECT messages.gen_tps * models.file_size FROM messages JOIN models ON "
        "models.id = messages.model_id WHERE messages.gen_tps > 0 AND models.file_size > 0 "
        "AND COALESCE(messages.settings, '') NOT LIKE '%\"split\"%' "
        "ORDER BY messages.id DESC LIMIT 20").fetchall()
    rates = [float(r[0]) for r in rows if r[0]]
    return statistics.median(rates) if rates else None


@dataclass
class PoolFit:
    """A verdict that counts the pool: ``kind`` is :mod:`workbench.fit`'s (gpu, partial, cpu,
    no) or ``pool`` (fits only across this computer and workers)."""

    kind: str
    local: fit.Verdict
    plan: fit.PoolPlan | None = None
    tokens_per_s: float | None = None
    members: tuple[Member, ...] = ()

    @property
    def fits(self) -> bool:
        return self.kind != fit.NO

    @property
    def estimate(self) -> fit.MemoryEstimate:
        return self.local.estimate

    def pool_words(self) -> str:
        n = len(self.plan.workers) if self.plan else 0
        gpus = len(self.plan.shares) - 1 - n if self.plan else 0
        here = f"this computer (CPU + {gpus} GPU{'s' if gpus != 1 else ''})" if gpus else \
            "this computer"
        return f"{here} and {n} worker{'s' if n != 1 else ''}"

    def label(self) -> str:
        """A few words for a table cell: *Fits across this computer and 2 workers (31 GB +
        24 GB)*; the other kinds as :mod:`workbench.fit` says them."""
        e = self.estimate
        approx = "~" if e.source == "estimate" else ""
        if self.plan is None:
            return _local_label(self.local)
        sizes = " + ".join(human_size(s.total) for s in self.plan.shares)
        if self.kind == POOL:
            speed = f" · ~{human_tps(self.tokens_per_s)}" if self.tokens_per_s else ""
            return f"✓ Fits across {self.pool_words()} ({approx}{sizes}){speed}"
        if self.plan.pool_too_small:
            return f"✕ Too large for {self.pool_words()} · {approx}{human_size(e.total)}"
        return f"✕ Does not fit as split across {self.pool_words()} ({approx}{sizes})"

    def summary(self) -> str:
        """The whole verdict: the split, the KV cache and the expected speed."""
        if self.plan is None:
            return self.local.summary()
        text = self.plan.summary()
        if self.kind == POOL and self.tokens_per_s:
            trips = ", ".join(f"{m.address} {human_ms(m.rtt_ms)}" for m in self.members
                              if m.rtt_ms is not None)
            text += (f"; expected ~{human_tps(self.tokens_per_s)} (compute here and on the "
                     f"workers, plus {TRIPS_PER_BOUNDARY} round trips per worker per token"
                     + (f": round trip {trips}" if trips else "") + f"; {self.bandwidth_words()})")
        return text

    def bandwidth_words(self) -> str:
        """Which bandwidth the speed estimate used: each worker's measured one, or the
        assumed gigabit LAN for those not measured."""
        measured = [f"{m.address} {human_rate(m.bandwidth)}" for m in self.members
                    if m.bandwidth]
        assumed = [m.address for m in self.members if not m.bandwidth]
        parts = []
        if measured:
            parts.append("bandwidth measured: " + ", ".join(measured))
        if assumed:
            parts.append(f"bandwidth assumed {human_rate(DEFAULT_BANDWIDTH)} (a gigabit "
                         "network)" + (f" for {', '.join(assumed)}" if measured else ""))
        return "; ".join(parts)

    @property
    def bandwidth_measured(self) -> bool:
        return bool(self.members) and all(m.bandwidth for m in self.members)

    def to_dict(self) -> dict[str, Any]:
        return {**self.local.to_dict(),  # this computer's figures, as fit.Verdict gives them
                "kind": self.kind, "fits": self.fits, "label": self.label(),
                "summary": self.summary(), "tokens_per_s": self.tokens_per_s,
                "bandwidth": ({m.address: m.bandwidth for m in self.members}
                              if self.members else None),
                "bandwidth_measured": self.bandwidth_measured if self.members else None,
                "local": self.local.to_dict(),
                "pool": self.plan.to_dict() if self.plan else None}


def _local_label(verdict: fit.Verdict) -> str:
    need = human_size(verdict.estimate.total)
    approx = "~" if verdict.estimate.source == "estimate" else ""
    if verdict.kind == fit.GPU:
        return f"✓ Fits on GPU · {approx}{need}"
    if verdict.kind == fit.PARTIAL:
        return (f"◐ Partial GPU ({verdict.gpu_layers}/{verdict.estimate.n_layer} layers) · "
                f"{approx}{need}")
    if verdict.kind == fit.CPU:
        return f"✓ Fits in RAM · {approx}{need}"
    return f"✕ Too large · {approx}{need}"


def pool_fit(e: fit.MemoryEstimate, hardware: Hardware, members: list[Member], *,
             use_pool: bool = False, rate: float | None = None, split: str = AUTO,
             chosen: tuple[str, ...] = (), use_gpu: bool = True) -> PoolFit:
    """The verdict for ``e`` on this computer and ``members`` (the usable workers).

    With no members, or when the model fits here and ``use_pool`` is off (a model set to use
    no workers), it is this computer's verdict. Otherwise the pool's, split as the model's
    ``split`` setting says (``chosen``: its workers, in order, which proportions follow)
    across this computer's CPU, the workers and this computer's GPUs (``use_gpu`` off: a model
    kept on the CPU, none): *pool* when the split fits, *no* when it does not (too large only
    when the whole pool is too small).
    """
    local = fit.judge(e, hardware)
    if not members or (local.fits and not use_pool):
        return PoolFit(local.kind, local)
    parties = [(m.address, m.free) for m in members]
    gpus = gpu_parties(hardware, use_gpu)
    plan = pool_split(e, hardware.ram_available, parties + gpus,
                          pool_weights(split, e, hardware.ram_available, parties, gpus, chosen))
    if not plan.fits:
        return PoolFit(fit.NO, local, plan, None, tuple(members))
    speed = expected_tokens_per_s(plan, members, rate or DEFAULT_RATE)
    return PoolFit(POOL, local, plan, speed, tuple(members))


# --- where a loaded model's parts sit ------------------------------------------------------

def placement_line(split: dict[str, Any] | None) -> str:
    """"layers 0-9 here, 10-29 and the output layer on 192.168.1.5:50052" from a load's
    split (where llama.cpp puts each layer, :mod:`workbench.split_choice`); "" when the model
    is on this computer only. A split saved before the output layer was recorded says
    nothing of it."""
    if not split or not split.get("split"):
        return ""
    parts, first, output = [], 0, ""
    for share in split["split"]:
        layers = int(share["layers"])
        where = "here" if share["where"] == "this computer" else f"on {share['where']}"
        if share.get("output"):
            output = f", output layer {where}"
        if layers <= 0:
            continue
        span = f"{first}-{first + layers - 1}" if layers > 1 else f"{first}"
        if share.get("output"):  # with the last layers, as llama.cpp offloads it
            span, output = f"{span} and the output layer", ""
        parts.append(f"{span} {where}")
        first += layers
    if len(parts) <= 1 and not split.get("missing"):
        return ""
    return "layers " + ", ".join(parts) + output


def dropped_lines(split: dict[str, Any] | None) -> list[str]:
    """One line per worker a load left out, and why."""
    missing = (split or {}).get("missing") or {}
    return [f"worker {address} left out: {reason}; loaded without it"
            for address, reason in missing.items()]


# --- a library model's verdict ------------------------------------------------------------

def model_fit(db: Database, model: Any, hardware: Hardware | None = None,
              rate: float | None = None) -> PoolFit:
    """A library model's verdict at its own context: across its own workers when it has
    some (their last checks), else this computer's, and the pool's (every added worker)
    when it does not fit here alone. A file that cannot be read is one line
    (:class:`~workbench.errors.ModelFileError`)."""
    from workbench import hardware as hw
    from workbench.errors import WorkbenchError
    from workbench.model_settings import resolve_settings
    from workbench.workers import list_workers

    try:
        load, _ = resolve_settings(db, model, {})
        n_ctx, chosen, split = load.n_ctx, tuple(load.workers), load.split
        use_gpu = str(load.gpu_layers).strip() != "0"
    except WorkbenchError:  # a setting refused now (offline mode and a worker elsewhere)
        n_ctx, chosen, split, use_gpu = int(model.context_length or 4096), (), AUTO, True
    machine = hardware or hw.detect()
    e = with_paired_projector(
        fit.estimate_for_file(model.path, n_ctx, file_size=model.file_size or None), model)
    members = last_members(chosen or tuple(list_workers(db)))
    return pool_fit(e, machine, members, use_pool=bool(chosen), rate=rate, split=split,
                    chosen=chosen, use_gpu=use_gpu)


def with_paired_projector(e: fit.MemoryEstimate, model: Any) -> fit.MemoryEstimate:
    """``e`` plus the model's paired projector (its size and image tokens) while its file is
    there; a projector whose header cannot be read counts by size alone."""
    from workbench.errors import ModelFileError
    from workbench.gguf_header import read_header
    from workbench.vision_models import usable_projector

    path = usable_projector(getattr(model, "mmproj", None))
    if path is None:
        return e
    try:
        header = read_header(path)
    except (ModelFileError, OSError, ValueError):
        header = None
    return fit.with_projector(e, Path(path).stat().st_size, header)


def library_fits(db: Database, models: list[Any]) -> dict[int, PoolFit]:
    """Each library model's verdict (by id); one whose file cannot be read is left out."""
    from workbench import hardware as hw
    from workbench.errors import WorkbenchError

    machine, rate = hw.detect(), measured_rate(db)
    fits = {}
    for model in models:
        try:
            fits[model.id] = model_fit(db, model, machine, rate)
        except (WorkbenchError, OSError, ValueError):
            continue
    return fits
