"""Workers: other computers (or processes) running ``llm-workbench worker``, llama.cpp's RPC
server, whose memory and compute a model can be split across.

The list lives in the one SQLite file (table ``workers``, migration ``m020_workers``): it is
also the list of addresses Workbench may contact for this. A check asks a worker, through
llama.cpp's own RPC client in a short-lived process (:mod:`workbench.engine.rpc_probe`), what
it serves: devices, free and total memory, round-trip time, and whether its protocol version
is this build's. Each way a check can fail is one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlite_utils import Database

from workbench.addresses import is_loopback
from workbench.engine import rpc
from workbench.errors import InvalidInputError
from workbench.fit import PoolPlan, estimate_for_file, pool_split
from workbench.units import human_duration, human_ms, human_size

#: A check that takes longer is "not answering" (a worker serves one main computer at a time:
#: one in use answers nobody else until that computer lets go).
CHECK_TIMEOUT_S = 10.0
#: A round trip above this is said to be slow: every generated token waits for a few of them.
SLOW_MS = 50.0
READY, SLOW, REFUSED, SILENT, VERSION, NO_RPC, FAILED = (
    "ready", "slow", "refused", "not answering", "other version", "no RPC", "failed")


@dataclass
class WorkerCheck:
    address: str
    state: str
    line: str
    devices: int = 0
    free: int = 0
    total: int = 0
    rtt_ms: float | None = None
    protocol: str | None = None
    per_device: list[dict[str, int]] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.state in (READY, SLOW)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the stored list ---------------------------------------------------------------------

def _checked(address: str) -> str:
    try:
        return rpc.normal_address(address)
    except ValueError as error:
        raise InvalidInputError(f"worker {address!r}: {error}") from None


def _same_place(a: str, b: str) -> bool:
    """Two spellings of one worker: the same port on the same host (loopback names alike)."""
    (ha, pa), (hb, pb) = rpc.split_address(a), rpc.split_address(b)
    if pa != pb:
        return False
    return ha.lower() == hb.lower() or (is_loopback(ha) and is_loopback(hb))


def list_workers(db: Database) -> list[str]:
    if "workers" not in db.table_names():
        return []
    return [row["address"] for row in db.table("workers").rows_where(order_by="id")]


def add_worker(db: Database, address: str) -> str:
    """Add a worker by ``HOST:PORT``; the same place twice is refused in one line."""
    normal = _checked(address)
    for known in list_workers(db):
        if _same_place(known, normal):
            raise InvalidInputError(f"worker {normal}: already added (as {known})")
    db.table("workers").insert({"address": normal, "added_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return normal


def remove_worker(db: Database, address: str) -> str:
    normal = _checked(address)
    for known in list_workers(db):
        if _same_place(known, normal):
            db.execute("DELETE FROM workers WHERE address = ?", [known])
            return known
    raise InvalidInputError(f"worker {normal}: not in the list (see 'llm-workbench workers "
                            "list')")


def resolve_workers(db: Database, value: Any) -> tuple[str, ...]:
    """A ``workers`` setting (``all``, ``none`` or ``ADDR,ADDR``; a list too) as the added
    workers' addresses; one not added is refused in one line (the list is what Workbench may
    contact)."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        text = str(value).strip()
        if text.lower() in ("", "none", "off", "local"):
            return ()
        if text.lower() == "all":
            found = list_workers(db)
            _offline_check(db, found)
            return tuple(found)
        items = [part for part in text.split(",") if part.strip()]
    known = list_workers(db)
    chosen: list[str] = []
    for item in items:
        normal = _checked(item)
        match = next((k for k in known if _same_place(k, normal)), None)
        if match is None:
            raise InvalidInputError(f"worker {normal}: not added (first: llm-workbench workers "
                                    f"add {normal})")
        if match in chosen:
            raise InvalidInputError(f"worker {normal}: named twice")
        chosen.append(match)
    _offline_check(db, chosen)
    return tuple(chosen)


def _offline_check(db: Database, addresses: list[str] | tuple[str, ...]) -> None:
    """Offline mode contacts no other computer: a worker off loopback is refused."""
    from workbench.settings import is_offline

    if not is_offline(db):
        return
    for address in addresses:
        if not is_loopback(rpc.split_address(address)[0]):
            raise InvalidInputError(f"worker {address}: offline mode is on, and it is another "
                                    "computer (turn offline mode off to use it)")


# --- checking ----------------------------------------------------------------------------

def check_worker(address: str, timeout: float = CHECK_TIMEOUT_S) -> WorkerCheck:
    """What the worker at ``address`` serves, or why it cannot be used, in one line."""
    normal = _checked(address)
    if not rpc.available():
        return WorkerCheck(normal, NO_RPC, rpc.missing_line())
    reason = rpc.reachable(normal, timeout=min(timeout, 3.0))
    if reason is not None:
        state = REFUSED if "refused" in reason else SILENT
        return WorkerCheck(normal, state, f"worker {normal}: {reason}")
    try:
        done = subprocess.run([sys.executable, "-m", "workbench.engine.rpc_probe", normal],
                              capture_output=True, text=True, timeout=timeout,
                              env=_probe_env())
    except subprocess.TimeoutExpired:
        return WorkerCheck(normal, SILENT, f"worker {normal}: no answer in "
                           f"{human_duration(timeout)} (busy serving another computer's model, "
                           "or too slow)")
    if done.returncode == 0:
        try:
            found = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            found = None
        if isinstance(found, dict) and "devices" in found:
            return _ready(normal, found)
    return WorkerCheck(normal, *_failure(normal, done.stderr + done.stdout))


def _probe_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["GGML_NO_BACKTRACE"] = "1"
    return env


def _ready(address: str, found: dict[str, Any]) -> WorkerCheck:
    devices = found["devices"]
    free = sum(int(d["free"]) for d in devices)
    total = sum(int(d["total"]) for d in devices)
    rtt = found.get("rtt_ms")
    check = WorkerCheck(address, READY, "", len(devices), free, total, rtt,
                        found.get("protocol"), devices)
    speed = f"round trip {human_ms(rtt)}" if rtt is not None else "round trip unknown"
    check.line = (f"worker {address}: ready, {len(devices)} device"
                  f"{'s' if len(devices) != 1 else ''}, {human_size(free)} free of "
                  f"{human_size(total)}, {speed}, RPC protocol {check.protocol or 'unknown'}")
    if rtt is not None and rtt > SLOW_MS:
        check.state = SLOW
        check.line = (f"worker {address}: slow, round trip {human_ms(rtt)} (each token waits for "
                      f"a few of them); {human_size(free)} free of {human_size(total)}")
    return check


def _failure(address: str, output: str) -> tuple[str, str]:
    """The state and one line for a probe that ended badly, from llama.cpp's last words."""
    import re

    version = re.search(r"version mismatch: (\d+\.\d+\.\d+)", output)
    if version:
        return VERSION, (f"worker {address}: speaks RPC protocol {version.group(1)}, this "
                         f"computer's llama.cpp speaks {rpc.protocol_version() or 'another'}; "
                         "install the same llama-cpp-python version on both")
    if "Failed to connect" in output:
        return REFUSED, f"worker {address}: connection refused"
    if "malformed response" in output or "handshake failed" in output:
        return FAILED, (f"worker {address}: it did not answer as a llama.cpp RPC server (is "
                        "something else listening on that port?)")
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    return FAILED, f"worker {address}: the check failed ({last[:160] or 'no reason given'})"


def check_all(db: Database, timeout: float = CHECK_TIMEOUT_S) -> list[WorkerCheck]:
    """Every worker checked; in offline mode those on other computers are not contacted."""
    from workbench.settings import is_offline

    offline = is_offline(db)
    checks = []
    for address in list_workers(db):
        if offline and not is_loopback(rpc.split_address(address)[0]):
            checks.append(WorkerCheck(address, SILENT, f"worker {address}: not checked "
                                      "(offline mode is on)"))
        else:
            checks.append(check_worker(address, timeout))
    return checks


def planned_split(path: str, n_ctx: int, workers: tuple[str, ...],
                  timeout: float = CHECK_TIMEOUT_S) -> tuple[PoolPlan, list[WorkerCheck]]:
    """The split a load across ``workers`` would make now (each worker checked; those not
    usable are left out, as the load leaves them out), and the checks."""
    import psutil

    checks = [check_worker(address, timeout) for address in workers]
    parties: list[tuple[str, int]] = []
    for check in checks:
        if not check.usable:
            continue
        for device in check.per_device:
            where = check.address if check.devices == 1 else \
                f"{check.address}#{device['index']}"
            parties.append((where, int(device["free"])))
    plan = pool_split(estimate_for_file(path, n_ctx), int(psutil.virtual_memory().available),
                      parties)
    return plan, checks
