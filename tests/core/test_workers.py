"""Workers (issue 24): llama.cpp's RPC server run by ``llm-workbench worker``, the stored list,
checks, and a model split across two workers and this process, all on loopback with the real
llama.cpp.

The workers are real ``llm-workbench worker`` processes on 127.0.0.1, stopped by the tests.
Tests that need the RPC backend are skipped, with the command that fixes it, where the
installed llama.cpp was built without it (the README's install and .ci/run build it with)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.engine import Engine, SamplingSettings, rpc
from workbench.errors import EngineCrashed, InvalidInputError
from workbench.fit import MemoryEstimate
from workbench.hardware import Hardware
from workbench.model_settings import runnable
from workbench.split_choice import pool_split
from workbench.workers import (
    FAILED,
    READY,
    REFUSED,
    SILENT,
    WorkerCheck,
    add_worker,
    check_worker,
    list_workers,
    remove_worker,
    resolve_workers,
)
from workbench.workspace import Workspace

needs_rpc = pytest.mark.skipif(not rpc.available(), reason=rpc.missing_line())
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli(space: Workspace, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--data-dir", str(space.root), *args])
    return result.exit_code, result.output


class WorkerProc:
    """One ``llm-workbench worker`` subprocess on 127.0.0.1."""

    def __init__(self, home: Path, port: int | None = None, *extra: str) -> None:
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workbench", "--data-dir", str(home), "worker",
             "--port", str(self.port), "--threads", "1", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, text=True)
        deadline = time.monotonic() + 60
        while rpc.reachable(self.address, timeout=1) is not None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                output = self.process.stdout.read() if self.process.stdout else ""
                raise RuntimeError(f"worker did not start: {output}")
            time.sleep(0.2)
        # Its output is read on a thread so its pipe never fills.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def space(make_space) -> Workspace:
    return make_space("workers")


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[list[WorkerProc]]:
    started: list[WorkerProc] = []
    try:
        for _ in range(2):
            started.append(WorkerProc(tmp_path / "worker-home"))
        yield started
    finally:
        for worker in started:
            worker.stop()


# --- the worker command -------------------------------------------------------------------

def test_worker_on_a_network_address_needs_allow_network(space: Workspace) -> None:
    code, output = run_cli(space, "worker", "--host", "0.0.0.0", "--port", str(free_port()))
    assert code == 1
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--allow-network" in lines[0], output
    assert "authentication" in lines[0]


@pytest.mark.skipif(rpc.available(), reason="this build has the RPC backend")
def test_without_rpc_the_worker_says_how_to_fix_it(space: Workspace) -> None:
    code, output = run_cli(space, "worker", "--port", str(free_port()))
    assert code == 1 and "GGML_RPC=on" in output and output.count("\n") == 1


@needs_rpc
def test_worker_on_a_port_in_use_is_one_line(space: Workspace) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        code, output = run_cli(space, "worker", "--port", str(taken.getsockname()[1]))
    assert code == 1 and "cannot listen" in output and output.count("\n") == 1, output


@needs_rpc
def test_worker_with_an_unknown_device_is_one_line(space: Workspace, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no such device here"):
        WorkerProc(tmp_path, None, "--device", "NOSUCH0")


# --- the list -----------------------------------------------------------------------------

def test_workers_add_list_rm_and_their_bad_inputs(space: Workspace) -> None:
    db = space.db
    assert add_worker(db, "127.0.0.1:50100") == "127.0.0.1:50100"
    assert add_worker(db, "192.168.1.20") == "192.168.1.20:50052"
    with pytest.raises(InvalidInputError, match="already added"):
        add_worker(db, "127.0.0.1:50100")
    with pytest.raises(InvalidInputError, match="already added"):
        add_worker(db, "localhost:50100")  # the same place, spelt otherwise
    for bad, reason in (("host:99999", "port"), ("a b:1", "HOST:PORT"), ("::1:5", "IPv6"),
                        ("", "HOST:PORT")):
        with pytest.raises(InvalidInputError, match=reason):
            add_worker(db, bad)
    assert list_workers(db) == ["127.0.0.1:50100", "192.168.1.20:50052"]
    assert resolve_workers(db, "all") == ("127.0.0.1:50100", "192.168.1.20:50052")
    assert resolve_workers(db, "none") == ()
    with pytest.raises(InvalidInputError, match="not added"):
        resolve_workers(db, "10.0.0.9:1")
    with pytest.raises(InvalidInputError, match="named twice"):
        resolve_workers(db, "127.0.0.1:50100,localhost:50100")
    code, output = run_cli(space, "workers", "list", "--json")
    assert code == 0 and "192.168.1.20:50052" in output
    code, output = run_cli(space, "workers", "add", "127.0.0.1:50100")
    assert code == 1 and output.startswith("Error: worker 127.0.0.1:50100: already added")
    assert remove_worker(db, "localhost:50100") == "127.0.0.1:50100"
    code, output = run_cli(space, "workers", "rm", "127.0.0.1:50100")
    assert code == 1 and "not in the list" in output
    # Offline mode: another computer is refused, loopback stays allowed.
    from workbench.settings import set_setting

    add_worker(db, "127.0.0.1:50100")
    set_setting(db, "offline", True)
    with pytest.raises(InvalidInputError, match="offline mode"):
        resolve_workers(db, "all")
    assert resolve_workers(db, "localhost:50100") == ("127.0.0.1:50100",)
    set_setting(db, "offline", False)
    # A model's setting names the workers; one not added is refused where it is resolved.
    with pytest.raises(InvalidInputError, match="not added"):
        runnable(db, "smollm2", {"workers": "127.0.0.1:1"})


# --- checks -------------------------------------------------------------------------------

def test_check_of_a_refused_connection_is_one_line() -> None:
    check = check_worker(f"127.0.0.1:{free_port()}", timeout=3)
    assert check.state in (REFUSED,) or not rpc.available()
    assert check.line.count("\n") == 0 and ("refused" in check.line or "RPC" in check.line)


def test_a_recorded_check_says_when_it_was_made() -> None:
    """What the Workers panel and ``workers list`` show before asking again."""
    check = check_worker(f"127.0.0.1:{free_port()}", timeout=3)
    assert check.checked_at is not None
    made = time.mktime(time.strptime(check.checked_at, "%Y-%m-%dT%H:%M:%S"))
    assert check.shown(made + 5).endswith(" (checked just now)")
    assert check.shown(made + 185) == f"{check.line} (checked 3 min ago)"
    assert check.shown(made - 30).endswith("(checked just now)")  # clock skew: not negative
    never = WorkerCheck(check.address, SILENT, "worker x: not checked")
    assert never.age_s() is None and never.shown() == never.line
    odd = WorkerCheck(check.address, SILENT, "worker x", checked_at="yesterday")
    assert odd.shown() == "worker x"


@needs_rpc
def test_check_of_something_else_or_a_silent_port_is_one_line() -> None:
    """A port whose listener closes at once (not llama.cpp), and one that never answers."""
    closing, silent = socket.socket(), socket.socket()
    for sock in (closing, silent):
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
    stop = threading.Event()

    def close_each() -> None:
        closing.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = closing.accept()
                conn.close()
            except OSError:
                continue

    threading.Thread(target=close_each, daemon=True).start()
    try:
        other = check_worker(f"127.0.0.1:{closing.getsockname()[1]}", timeout=20)
        assert other.state in (FAILED, REFUSED), other
        assert "\n" not in other.line
        quiet = check_worker(f"127.0.0.1:{silent.getsockname()[1]}", timeout=2)
        assert quiet.state == SILENT and "no answer" in quiet.line, quiet
    finally:
        stop.set()
        closing.close()
        silent.close()


@needs_rpc
def test_check_of_a_running_worker(space: Workspace, tmp_path: Path) -> None:
    worker = WorkerProc(tmp_path)
    try:
        check = check_worker(worker.address, timeout=30)
        assert check.state == READY, check.line
        assert check.devices == 1 and 0 < check.free <= check.total
        assert check.rtt_ms is not None and check.rtt_ms > 0
        assert check.protocol and check.protocol.count(".") == 2
        add_worker(space.db, worker.address)
        code, output = run_cli(space, "workers", "check", "--json")
        assert code == 0 and '"state": "ready"' in output
    finally:
        worker.stop()


@needs_rpc
def test_check_measures_the_bandwidth_of_two_workers_and_the_estimate_uses_it(
        space: Workspace, two_workers: list[WorkerProc]) -> None:
    from workbench import pool_fit

    for worker in two_workers:
        add_worker(space.db, worker.address)
    started = time.monotonic()
    code, output = run_cli(space, "workers", "check")
    assert code == 0, output
    assert time.monotonic() - started < 20  # a few seconds each on a loaded machine
    for worker in two_workers:
        line = next(x for x in output.splitlines() if worker.address in x)
        assert " up, " in line and " down" in line and "bandwidth" in line, line
    # kept with the worker: the list shows it later, in another process, without asking
    code, listed = run_cli(space, "workers", "list", "--json")
    assert code == 0, listed
    rows = json.loads(listed)
    assert [r["address"] for r in rows] == [w.address for w in two_workers]
    for row in rows:
        check = row["last_check"]
        assert check["state"] == READY, check
        assert check["upload"] > 1e6 and check["download"] > 1e6  # loopback: far above 1 MB/s
        assert check["bandwidth"] == min(check["upload"], check["download"])
    code, text = run_cli(space, "workers", "list")
    assert code == 0 and text.count("bandwidth ") == 2, text
    # the speed estimate uses the measured figure, and says so
    checks = [check_worker(w.address, timeout=30) for w in two_workers]
    members = pool_fit.members_from_checks(checks)
    assert [m.bandwidth for m in members] == [c.bandwidth for c in checks]
    assert all(m.bandwidth and m.bandwidth > 1e6 for m in members)
    e = made_estimate()
    hardware = Hardware(ram_total=int(64 * GB), ram_available=int(31 * GB), gpu_offload=False)
    big = [pool_fit.Member(m.address, 24 * GB, m.rtt_ms, m.bandwidth) for m in members]
    measured = pool_fit.pool_fit(e, hardware, big, rate=20e9)
    assert measured.kind == pool_fit.POOL and measured.bandwidth_measured
    assert "bandwidth measured: " in measured.summary()
    assert "assumed" not in measured.summary()
    unmeasured = [pool_fit.Member(m.address, m.free, m.rtt_ms) for m in big]
    assumed = pool_fit.pool_fit(e, hardware, unmeasured, rate=20e9)
    assert "bandwidth assumed" in assumed.summary()
    plan = measured.plan
    assert plan is not None
    thin = [pool_fit.Member(m.address, m.free, m.rtt_ms, 1e3) for m in big]
    assert pool_fit.expected_tokens_per_s(plan, thin, 20e9) < measured.tokens_per_s


# --- a model split across two workers and this process --------------------------------------

GREEDY = SamplingSettings(temperature=0.0, top_k=1, seed=42, max_tokens=24)
PROMPT = [{"role": "user", "content": "Name three colours."}]


@needs_rpc
def test_split_across_two_workers_gives_the_local_tokens(
        space: Workspace, two_workers: list[WorkerProc]) -> None:
    db = space.db
    for worker in two_workers:
        add_worker(db, worker.address)
    local = runnable(db, "smollm2", {})
    pooled = runnable(db, "smollm2", {"workers": "all"})
    assert pooled.load.workers == tuple(w.address for w in two_workers)
    remote = runnable(db, "smollm2", {"workers": "all", "split": "workers"})
    engine = Engine()
    try:
        reply = engine.reply(local.model.path, PROMPT, load=local.load, sampling=GREEDY,
                             fresh=True)
        local_text = "".join(reply)
        reply = engine.reply(pooled.model.path, PROMPT, load=pooled.load, sampling=GREEDY,
                             fresh=True)
        pooled_text = "".join(reply)
        split = engine.loaded.split if engine.loaded else None
        # split=workers: every layer and the output layer on the workers, like llama-server
        reply = engine.reply(remote.model.path, PROMPT, load=remote.load, sampling=GREEDY,
                             fresh=True)
        remote_text = "".join(reply)
        on_workers = engine.loaded.split if engine.loaded else None
    finally:
        engine.unload()
    assert local_text and pooled_text == local_text and remote_text == local_text
    assert on_workers is not None and on_workers["fits"]
    n_layer = on_workers["estimate"]["n_layer"]
    assert [s["layers"] for s in on_workers["split"]][0] == 0
    assert all(s["layers"] > 0 for s in on_workers["split"][1:])
    assert on_workers["n_gpu_layers"] == n_layer + 1  # the output layer too, as -ngl 99
    assert split is not None and split["fits"] and not split["missing"]
    where = [share["where"] for share in split["split"]]
    assert where == ["this computer", *(w.address for w in two_workers)]
    assert all(share["layers"] > 0 for share in split["split"])
    assert sum(share["layers"] for share in split["split"]) == split["estimate"]["n_layer"]
    # The same split is what models show --json plans.
    code, output = run_cli(space, "models", "show", "smollm2", "--json", "--workers", "all")
    assert code == 0 and '"split"' in output and "fits across this computer and 2 workers" \
        in output, output
    assert json.loads(output)["split"]["choice"] == "auto"
    # Proportions, this computer first, as the model's own setting.
    from workbench import library

    model = library.get_model(db, "smollm2")
    library.update_settings(db, model.id, {"split": "1,1,2"})
    code, output = run_cli(space, "models", "show", "smollm2", "--json", "--workers", "all")
    assert code == 0, output
    planned = json.loads(output)["split"]
    layers = [s["layers"] for s in planned["split"]]
    assert planned["choice"] == "1,1,2" and sum(layers) == n_layer
    assert abs(layers[2] - 2 * layers[1]) <= 1 and abs(layers[0] - layers[1]) <= 1, layers
    code, output = run_cli(space, "chat", "smollm2", "Hi", "--workers", "all", "--set",
                           "split=1,2")
    assert code != 0 and "split=1,2: 2 proportions for this computer and 2 workers (give 3" \
        in output, output


@needs_rpc
def test_a_worker_killed_mid_reply_ends_it_in_one_line_and_the_next_works(
        space: Workspace, two_workers: list[WorkerProc]) -> None:
    db = space.db
    for worker in two_workers:
        add_worker(db, worker.address)
    pooled = runnable(db, "smollm2", {"workers": "all"})
    long = SamplingSettings(temperature=0.0, top_k=1, seed=1, max_tokens=400)
    engine = Engine()
    try:
        reply = engine.reply(pooled.model.path, PROMPT, load=pooled.load, sampling=long)
        pieces = iter(reply)
        next(pieces)
        two_workers[0].kill()
        with pytest.raises(EngineCrashed) as caught:
            for _ in pieces:
                pass
        message = str(caught.value)
        assert "worker stopped answering" in message and "\n" not in message, message
        assert reply.stats.finish_reason == "interrupted" and reply.text
        # The next request loads on what remains: this computer and the other worker.
        again = engine.reply(pooled.model.path, PROMPT, load=pooled.load, sampling=GREEDY)
        assert "".join(again)
        split = engine.loaded.split if engine.loaded else None
        assert split is not None and two_workers[0].address in split["missing"]
        assert [s["where"] for s in split["split"]] == ["this computer",
                                                        two_workers[1].address]
    finally:
        engine.unload()


# --- fit verdicts count the pool --------------------------------------------------------------

GB = 10**9


def made_estimate(layers: int = 80, layer_gb: float = 0.5, kv_gb: float = 2.0
                  ) -> MemoryEstimate:
    weights = int(layers * layer_gb * GB + GB)
    return MemoryEstimate(n_ctx=8192, weights=weights, kv_cache=int(kv_gb * GB),
                          compute=GB // 2, n_layer=layers, layer_weights=int(layer_gb * GB),
                          layer_kv=int(kv_gb * GB) // layers, source="header")


def test_fit_verdict_counts_the_pool() -> None:
    e = made_estimate()  # a 70B-like 41 GB + 2 GB KV: too much for a 31 GB computer alone
    alone = pool_split(e, 31 * GB, [])
    assert not alone.fits and "too large for this computer and 0 workers" in alone.summary()
    plan = pool_split(e, 31 * GB, [("10.0.0.2:50052", 24 * GB), ("10.0.0.3:50052", 24 * GB)])
    assert plan.fits, plan.summary()
    text = plan.summary()
    assert text.startswith("fits across this computer and 2 workers (")
    assert "KV cache" in text and "10.0.0.2:50052:" in text
    assert [s.layers for s in plan.shares] == [32, 24, 24]
    # 48 layers and the output layer, which goes with the last worker (as llama.cpp loads)
    assert plan.offloaded == 49 and plan.tensor_split == [24.0, 25.0]
    small = pool_split(e, 8 * GB, [("10.0.0.2:50052", 8 * GB)])
    assert not small.fits and small.pool_too_small and "too large" in small.summary()
    # Room in the pool, but one part too small for its share: not "too large".
    lopsided = pool_split(made_estimate(layers=4, layer_gb=5), 60 * GB,
                          [("10.0.0.2:50052", 10 * GB)])
    if not lopsided.fits:
        assert not lopsided.pool_too_small and "too large" not in lopsided.summary()


#: Loads a model with workers in a process of its own (llama.cpp's RPC client ends the
#: process that loses a worker) and prints the planned split and llama.cpp's own log of the
#: load, where debug lines say which device each layer went to.
PLACE = """
import json, logging, pickle, sys
from workbench.engine.loaded import load_model
path, settings = pickle.loads(bytes.fromhex(sys.argv[1]))
lines = []
class Keep(logging.Handler):
    def emit(self, record):
        text = record.getMessage()
        if "load_tensors:" in text:
            lines.append(text)
logger = logging.getLogger("workbench.llama")
logger.setLevel(logging.DEBUG)
logger.addHandler(Keep())
loaded = load_model(path, settings)
print(json.dumps({"split": loaded.split, "log": lines}))
loaded.close()
"""

ASSIGNED = re.compile(r"layer\s+(\d+) assigned to device (\S+?),")


def loaded_placement(model: Path, settings: Any) -> tuple[dict[str, Any], dict[int, str]]:
    """The split a real load planned, and the device llama.cpp gave each layer (the output
    layer is number n_layer), from its "load_tensors: layer N assigned to device X" lines."""
    import pickle

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", PLACE, pickle.dumps((model, settings)).hex()],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    devices = {int(m.group(1)): m.group(2)
               for m in map(ASSIGNED.search, report["log"]) if m}
    buffers = [line for line in report["log"] if "model buffer size" in line]
    assert devices, report["log"][-40:]
    return {**report["split"], "buffers": buffers}, devices


@needs_rpc
def test_llama_cpp_puts_the_layers_where_the_split_plans_them(
        space: Workspace, two_workers: list[WorkerProc]) -> None:
    db = space.db
    for worker in two_workers:
        add_worker(db, worker.address)
    for chosen in ([two_workers[0].address], [w.address for w in two_workers]):
        ready = runnable(db, "smollm2", {"workers": ",".join(chosen)})
        split, devices = loaded_placement(ready.model.path, ready.load)
        n_layer = split["estimate"]["n_layer"]
        assert sorted(devices) == list(range(n_layer + 1)), devices
        planned: list[str] = []
        output = ""
        for share in split["split"]:
            planned += [share["where"]] * share["layers"]
            output = share["where"] if share["output"] else output
        planned.append(output)
        # llama.cpp names a worker's device RPC0, RPC1... in the order they were added
        names = {"this computer": "CPU",
                 **{address: f"RPC{i}" for i, address in enumerate(chosen)}}
        assert [devices[il] for il in range(n_layer + 1)] == [names[w] for w in planned], \
            (split["split"], devices)
        assert output == chosen[-1] and all(s["layers"] > 0 for s in split["split"])
        # each worker holds the weights the plan counts for it (the last one the output
        # layer's too): llama.cpp's own "RPC0[HOST:PORT] model buffer size = 49.83 MiB"
        for share in split["split"][1:]:
            line = next(b for b in split["buffers"] if f"[{share['where']}] model buffer" in b)
            mib = float(line.split("=")[1].split()[0])
            assert abs(mib * 2**20 - share["weights"]) < 0.05 * share["weights"], \
                (line, share)
