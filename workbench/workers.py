"""Workers: other computers (or processes) running ``llm-workbench worker``, llama.cpp's RPC
server, whose memory and compute a model can be split across.

The list lives in the one SQLite file (table ``workers``, migration ``m020_workers``): it is
also the list of addresses Workbench may contact for this. A check asks a worker, through
llama.cpp's own RPC client in a short-lived process (:mod:`workbench.engine.rpc_probe`), what
it serves: devices, free and total memory, round-trip time, the bandwidth to and from it
(timed tensor transfers), and whether its protocol version is this build's. Each way a check
can fail is one line. A device's name and type are not among them: llama.cpp's RPC protocol
does not carry them. Each worker's last check is kept with it (``workers.last_check``, JSON) so
``workers list`` shows it without asking again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlite_utils import Database

from workbench.addresses import is_loopback
from workbench.engine import rpc
from workbench.errors import InvalidInputError
from workbench.fit import PoolPlan, estimate_for_file
from workbench.split_choice import gpu_parties, pool_split, pool_weights
from workbench.units import human_ago, human_duration, human_ms, human_rate, human_size

#: A check that takes longer is "not answering" (a worker serves one main computer at a time:
#: one in use answers nobody else until that computer lets go).
CHECK_TIMEOUT_S = 10.0
#: A round trip above this is said to be slow: every generated token waits for a few of them.
SLOW_MS = 50.0
#: A bandwidth below this (bytes per second; 80 Mbit/s) is said to be slow: the layers go over
#: it at every load.
SLOW_BANDWIDTH = 10e6
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
    #: Measured bytes per second to the worker (a tensor written) and from it (read back).
    upload: float | None = None
    download: float | None = None
    checked_at: str | None = None

    @property
    def usable(self) -> bool:
        return self.state in (READY, SLOW)

    @property
    def bandwidth(self) -> float | None:
        """The slower direction, what a hand-over between parts waits on; None when not
        measured."""
        found = [b for b in (self.upload, self.download) if b]
        return min(found) if found else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bandwidth": self.bandwidth}

    def age_s(self, now: float | None = None) -> float | None:
        """Seconds since this check (None: never made, or its time unreadable)."""
        if not self.checked_at:
            return None
        try:
            made = time.mktime(time.strptime(self.checked_at, "%Y-%m-%dT%H:%M:%S"))
        except (ValueError, OverflowError):
            return None
        return max(0.0, (time.time() if now is None else now) - made)

    def shown(self, now: float | None = None) -> str:
        """The check's line with when it was made: "worker ...: ready, ... (checked 3 min
        ago)"; what a list shows before (or instead of) asking the worker again."""
        age = self.age_s(now)
        return f"{self.line} (checked {human_ago(age)})" if age is not None else self.line

    @classmethod
    def from_dict(cls, found: dict[str, Any]) -> WorkerCheck:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in found.items() if k in names})


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

#: Each worker's last check in this process, by address: what fit verdicts count (they never
#: wait on the network; the window checks in the background, the CLI before it judges).
_LAST: dict[str, WorkerCheck] = {}
_LAST_LOCK = threading.Lock()


def last_checks(addresses: list[str] | tuple[str, ...]) -> list[WorkerCheck]:
    """The last check of each of ``addresses`` that was checked in this process."""
    with _LAST_LOCK:
        return [_LAST[a] for a in addresses if a in _LAST]


def check_worker(address: str, timeout: float = CHECK_TIMEOUT_S) -> WorkerCheck:
    """What the worker at ``address`` serves, or why it cannot be used, in one line (kept as
    its last check, see :func:`last_checks`)."""
    check = _check_worker(address, timeout)
    check.checked_at = time.strftime("%Y-%m-%dT%H:%M:%S")
    with _LAST_LOCK:
        _LAST[check.address] = check
    return check


def _check_worker(address: str, timeout: float) -> WorkerCheck:
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
                        found.get("protocol"), devices, _rate(found.get("upload")),
                        _rate(found.get("download")))
    speed = f"round trip {human_ms(rtt)}" if rtt is not None else "round trip unknown"
    width = _bandwidth_words(check)
    check.line = (f"worker {address}: ready, {len(devices)} device"
                  f"{'s' if len(devices) != 1 else ''}, {human_size(free)} free of "
                  f"{human_size(total)}, {speed}, {width}, "
                  f"RPC protocol {check.protocol or 'unknown'}")
    if rtt is not None and rtt > SLOW_MS:
        check.state = SLOW
        check.line = (f"worker {address}: slow, round trip {human_ms(rtt)} (each token waits for "
                      f"a few of them), {width}; {human_size(free)} free of {human_size(total)}")
    elif check.bandwidth is not None and check.bandwidth < SLOW_BANDWIDTH:
        check.state = SLOW
        check.line = (f"worker {address}: slow link, {width} (a model's layers go over it at "
                      f"each load); round trip {human_ms(rtt)}, {human_size(free)} free of "
                      f"{human_size(total)}")
    return check


def _rate(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _bandwidth_words(check: WorkerCheck) -> str:
    if check.upload is None or check.download is None:
        return "bandwidth not measured"
    return f"bandwidth {human_rate(check.upload)} up, {human_rate(check.download)} down"


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
    record_checks(db, checks)
    return checks


def record_checks(db: Database, checks: list[WorkerCheck]) -> None:
    """Keep each added worker's check with it (``workers.last_check``): what ``workers list``
    shows later, in another process, without asking the worker again."""
    for check in checks:
        if check.checked_at is None:  # not contacted (offline mode): keep the last real one
            continue
        db.execute("UPDATE workers SET last_check = ? WHERE address = ?",
                   [json.dumps(check.to_dict()), check.address])


def recorded_checks(db: Database) -> dict[str, WorkerCheck | None]:
    """Each added worker's last recorded check (None: never checked), in the list's order."""
    if "workers" not in db.table_names():
        return {}
    found: dict[str, WorkerCheck | None] = {}
    for row in db.execute("SELECT address, last_check FROM workers ORDER BY id").fetchall():
        try:
            found[row[0]] = WorkerCheck.from_dict(json.loads(row[1])) if row[1] else None
        except (ValueError, TypeError):
            found[row[0]] = None
    return found


def planned_split(path: str, n_ctx: int, workers: tuple[str, ...],
                  timeout: float = CHECK_TIMEOUT_S, split: str = "auto",
                  use_gpu: bool = True) -> tuple[PoolPlan, list[WorkerCheck]]:
    """The split a load across ``workers`` would make now (each worker checked; those not
    usable are left out, as the load leaves them out; this computer's GPUs too unless
    ``use_gpu`` is off) as the ``split`` setting says, and the checks."""
    from workbench import hardware

    checks = [check_worker(address, timeout) for address in workers]
    parties: list[tuple[str, int]] = []
    for check in checks:
        if not check.usable:
            continue
        for device in check.per_device:
            where = check.address if check.devices == 1 else \
                f"{check.address}#{device['index']}"
            parties.append((where, int(device["free"])))
    machine = hardware.detect()
    local, gpus = machine.ram_available, gpu_parties(machine, use_gpu)
    e = estimate_for_file(path, n_ctx)
    plan = pool_split(e, local, parties + gpus, pool_weights(split, e, local, parties, gpus,
                                                             workers))
    return plan, checks
