"""Fit verdicts that count the pool (issue 24): pure arithmetic on a fake pool of free-memory
figures, the expected speed's model, where a loaded model's parts sit, and one real
``llm-workbench worker`` on 127.0.0.1 counted from its last check (the library's verdict and
the CLI chat's lines about the split and a worker left out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_workers import GB, WorkerProc, free_port, made_estimate, needs_rpc, run_cli

from workbench import library
from workbench.fit import CPU, NO
from workbench.hardware import Hardware
from workbench.pool_fit import (
    POOL,
    Member,
    dropped_lines,
    expected_tokens_per_s,
    last_members,
    model_fit,
    placement_line,
    pool_fit,
)
from workbench.settings import set_setting
from workbench.workers import add_worker, check_worker, last_checks
from workbench.workspace import Workspace


@pytest.fixture
def space(make_space) -> Workspace:
    return make_space("poolfit")


def machine(free_gb: float) -> Hardware:
    return Hardware(ram_total=int(64 * GB), ram_available=int(free_gb * GB), gpu_offload=False)


def test_too_large_alone_fits_across_the_pool_with_split_cache_and_speed() -> None:
    e = made_estimate()  # 41 GB of weights + 2 GB KV cache + compute
    alone = pool_fit(e, machine(31), [])
    assert alone.kind == NO and alone.label().startswith("✕ Too large")
    pool = [Member("10.0.0.2:50052", 24 * GB, rtt_ms=0.8),
            Member("10.0.0.3:50052", 24 * GB, rtt_ms=0.8)]
    verdict = pool_fit(e, machine(31), pool, rate=20e9)
    assert verdict.kind == POOL and verdict.fits
    label = verdict.label()
    assert label.startswith("✓ Fits across this computer and 2 workers (") and " + " in label
    assert "tok/s" in label
    summary = verdict.summary()
    assert "10.0.0.2:50052: 24 of 80 layers" in summary and "KV cache" in summary
    assert "expected ~" in summary and "round trip" in summary
    assert verdict.to_dict()["pool"]["fits"] and verdict.tokens_per_s
    # "too large" only when the whole pool is too small
    small = pool_fit(e, machine(8), [Member("10.0.0.2:50052", 8 * GB)])
    assert small.kind == NO and small.label().startswith("✕ Too large for this computer and 1")
    assert "too large" in small.summary()
    lopsided = pool_fit(made_estimate(layers=4, layer_gb=5), machine(60),
                        [Member("10.0.0.2:50052", 10 * GB)])
    if not lopsided.fits:
        assert "Too large" not in lopsided.label() and "as split" in lopsided.label()


def test_fits_here_alone_is_this_computers_verdict_unless_the_model_uses_workers() -> None:
    e = made_estimate(layers=8, layer_gb=0.25)  # 3 GB
    pool = [Member("10.0.0.2:50052", 24 * GB, rtt_ms=1.0)]
    assert pool_fit(e, machine(31), pool).kind == CPU
    assert pool_fit(e, machine(31), pool, use_pool=True).kind == POOL


def test_expected_speed_follows_compute_and_round_trips() -> None:
    e = made_estimate()
    near = [Member("a:1", 24 * GB, rtt_ms=0.1), Member("b:1", 24 * GB, rtt_ms=0.1)]
    far = [Member("a:1", 24 * GB, rtt_ms=40.0), Member("b:1", 24 * GB, rtt_ms=40.0)]
    fast = pool_fit(e, machine(31), near, rate=20e9).tokens_per_s
    slow = pool_fit(e, machine(31), far, rate=20e9).tokens_per_s
    assert fast and slow and slow < fast
    # compute bound on a fast link: about rate / weights (41 GB at 20 GB/s: ~0.49 tok/s)
    assert fast == pytest.approx(20e9 / e.weights, rel=0.05)
    # round-trip bound on a slow one: 2 workers x 2 trips x 40 ms = 160 ms more per token
    assert 1 / slow == pytest.approx(e.weights / 20e9 + 0.160, rel=0.05)
    plan = pool_fit(e, machine(31), far, rate=20e9).plan
    assert plan is not None
    assert expected_tokens_per_s(plan, far, 40e9) > expected_tokens_per_s(plan, far, 20e9)


def test_expected_speed_uses_the_measured_bandwidth_and_says_which() -> None:
    e = made_estimate()
    assumed = [Member("a:1", 24 * GB, rtt_ms=0.1), Member("b:1", 24 * GB, rtt_ms=0.1)]
    thin = [Member("a:1", 24 * GB, rtt_ms=0.1, bandwidth=50e3),
            Member("b:1", 24 * GB, rtt_ms=0.1, bandwidth=50e3)]
    guess = pool_fit(e, machine(31), assumed, rate=20e9)
    slow = pool_fit(e, machine(31), thin, rate=20e9)
    assert guess.tokens_per_s and slow.tokens_per_s and slow.tokens_per_s < guess.tokens_per_s
    # the measured figure is the one used: 2 workers x 2 x activations / 50 kB/s
    plan = slow.plan
    assert plan is not None
    activations = 4 * (e.layer_weights * 8 / 4.5 / 12) ** 0.5
    extra = 2 * (2 * 0.0001 + 2 * activations / 50e3)
    assert 1 / slow.tokens_per_s == pytest.approx(e.weights / 20e9 + extra, rel=0.05)
    assert "bandwidth assumed 125.0 MB/s (a gigabit network)" in guess.summary()
    assert "bandwidth measured: a:1 50.0 KB/s, b:1 50.0 KB/s" in slow.summary()
    assert "assumed" not in slow.summary()
    assert slow.to_dict()["bandwidth_measured"] is True
    assert guess.to_dict()["bandwidth_measured"] is False
    mixed = pool_fit(e, machine(31), [thin[0], assumed[1]], rate=20e9).summary()
    assert "measured: a:1 50.0 KB/s" in mixed and "a gigabit network) for b:1" in mixed


def test_placement_line_and_dropped_workers() -> None:
    split = {"split": [{"where": "this computer", "layers": 10},
                       {"where": "192.168.1.5:50052", "layers": 11}],
             "missing": {"192.168.1.6:50052": "connection refused"}}
    assert placement_line(split) == "layers 0-9 here, 10-20 on 192.168.1.5:50052"
    assert dropped_lines(split) == ["worker 192.168.1.6:50052 left out: connection refused; "
                                    "loaded without it"]
    assert placement_line(None) == "" and dropped_lines(None) == []
    # the output layer goes with the last layers on the devices (as a reply records it)
    split["split"][1]["output"] = True
    assert placement_line(split) == \
        "layers 0-9 here, 10-20 and the output layer on 192.168.1.5:50052"


@needs_rpc
def test_a_real_worker_counts_from_its_last_check(space: Workspace, tmp_path: Path) -> None:
    db = space.db
    worker = WorkerProc(tmp_path)
    dead = f"127.0.0.1:{free_port()}"  # added, but nothing listens there
    try:
        add_worker(db, worker.address)
        add_worker(db, dead)
        assert last_members([worker.address]) == []  # never checked: nothing counted
        check = check_worker(worker.address, timeout=30)
        assert last_checks([worker.address]) == [check]
        members = last_members([worker.address, dead])
        assert [m.address for m in members] == [worker.address]
        assert members[0].free == check.free and members[0].rtt_ms == check.rtt_ms
        model = library.get_model(db, "smollm2")
        assert model_fit(db, model).kind == CPU  # fits here, uses no workers: this computer
        library.update_settings(db, model.id, {"workers": worker.address})
        verdict = model_fit(db, library.get_model(db, "smollm2"))
        assert verdict.kind == POOL, verdict.summary()
        assert verdict.label().startswith("✓ Fits across this computer and 1 worker (")
        assert f"{worker.address}:" in verdict.summary() and verdict.tokens_per_s
        # The CLI chat says where the parts sit and which worker was left out, one line each.
        library.update_settings(db, model.id, {})
        set_setting(db, "context_length", 256)
        code, output = run_cli(space, "chat", "smollm2", "Hi", "--max-tokens", "4",
                               "--workers", f"{worker.address},{dead}")
        assert code == 0, output
        assert f"note: worker {dead} left out: " in output
        assert "note: split: layers 0-" in output and f"on {worker.address}" in output
    finally:
        worker.stop()
