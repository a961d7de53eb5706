"""The one way pages run background work (ui/operations.py): the worker's own connection
handed in, results on the GUI thread, a default failure display, stale results dropped, busy
counted per caller, changes announced to every page on one channel, separate workers for
quick database and slow disk work."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from workbench.errors import InvalidInputError

UI = Path(__file__).resolve().parents[2] / "ui"


def test_success_runs_on_the_gui_thread_and_counts_busy(qtbot, bare_services) -> None:
    ops, caller = bare_services.ops, object()
    where: list[int] = []
    results: list[int] = []

    def work(_db) -> int:
        where.append(threading.get_ident())
        time.sleep(0.05)
        return 42

    ops.run("db", work, name="answer", initiator=caller,
            success=lambda value: (results.append(value), where.append(threading.get_ident())))
    assert ops.busy(caller) == 1
    qtbot.waitUntil(lambda: ops.busy(caller) == 0, timeout=5000)
    assert results == [42]
    assert where[0] != threading.get_ident() and where[1] == threading.get_ident()


def test_a_failure_without_a_handler_reaches_the_window(qtbot, bare_services) -> None:
    shown: list[str] = []
    bare_services.events.error.connect(shown.append)

    def broken(_db) -> None:
        raise InvalidInputError("suite 'x': no such suite")

    bare_services.ops.run("db", broken, name="broken")
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert shown == ["suite 'x': no such suite"]


def test_a_handled_failure_is_not_shown_twice(qtbot, bare_services) -> None:
    shown: list[str] = []
    handled: list[str] = []
    bare_services.events.error.connect(shown.append)
    bare_services.ops.run("db", lambda _db: 1 / 0, name="divide", failure=handled.append)
    qtbot.waitUntil(lambda: bool(handled), timeout=5000)
    assert handled[0].startswith("Unexpected error: ZeroDivisionError") and shown == []


def test_a_newer_operation_with_the_same_key_drops_the_older_result(qtbot, bare_services):
    ops, caller = bare_services.ops, object()
    seen: list[str] = []
    ops.run("db", lambda _db: time.sleep(0.2) or "old", name="search", initiator=caller,
            key="results", success=seen.append)
    ops.run("db", lambda _db: "new", name="search", initiator=caller, key="results",
            success=seen.append)
    # another caller's operation under the same key is its own
    ops.run("db", lambda _db: "other", name="search", initiator=object(), key="results",
            success=seen.append)
    qtbot.waitUntil(lambda: ops.busy(caller) == 0 and len(seen) == 2, timeout=5000)
    qtbot.wait(50)
    assert seen == ["new", "other"]


def test_changes_are_announced_after_success_with_the_initiator(qtbot, bare_services) -> None:
    events, caller = bare_services.events, object()
    heard: list[tuple[frozenset, object]] = []
    order: list[str] = []
    events.changed.connect(lambda changes, by: (heard.append((changes, by)),
                                                order.append("announced")))
    bare_services.ops.run("db", lambda _db: None, name="add", initiator=caller,
                          changes={"library", "suites"},
                          success=lambda _r: order.append("success"))
    qtbot.waitUntil(lambda: bool(heard), timeout=5000)
    assert heard == [(frozenset({"library", "suites"}), caller)]
    assert order == ["success", "announced"]


def test_each_operation_is_handed_its_workers_own_connection(qtbot, bare_services) -> None:
    """Anki's ``CollectionOp(parent, op=lambda col: ...)``: the function receives the
    connection of the thread it runs on (one per worker, kept between operations, never the
    GUI thread's), whatever the resource, and its arguments after it."""
    ops, workspace = bare_services.ops, bare_services.workspace
    got: list[tuple[str, object, int, object]] = []

    def record(db, resource: str, *, extra: object = None) -> None:
        got.append((resource, db, threading.get_ident(), extra))
        assert db is workspace.db  # the worker's own, as the workspace hands it out

    for resource in ("db", "db", "disk", "engine"):
        ops.run(resource, record, resource, extra="kw", name="record")
    qtbot.waitUntil(lambda: len(got) == 4, timeout=5000)
    gui = workspace.db
    assert all(db is not gui and extra == "kw" for _r, db, _t, extra in got)
    by_resource = {resource: (db, thread) for resource, db, thread, _e in got}
    first, second = (db for resource, db, _t, _e in got if resource == "db")
    assert first is second  # one worker, one connection, opened once (workers finish in any order)
    assert len({id(db) for db, _t in by_resource.values()}) == 3
    assert len({thread for _db, thread in by_resource.values()}) == 3


def test_unknown_change_kinds_are_refused(bare_services) -> None:
    with pytest.raises(ValueError, match="libary"):
        bare_services.ops.run("db", lambda _db: None, name="typo", changes={"libary"})


def test_slow_disk_work_does_not_hold_up_the_database_worker(qtbot, bare_services) -> None:
    ops = bare_services.ops
    done: dict[str, float] = {}
    started = time.perf_counter()
    ops.run("disk", lambda _db: time.sleep(1.0), name="hashing",
            success=lambda _r: done.setdefault("disk", time.perf_counter() - started))
    ops.run("db", lambda _db: None, name="open chat",
            success=lambda _r: done.setdefault("db", time.perf_counter() - started))
    qtbot.waitUntil(lambda: len(done) == 2, timeout=5000)
    assert done["db"] < 0.5 < done["disk"]


def test_the_status_bar_names_background_work_in_words(qtbot, main_window) -> None:
    gate = threading.Event()
    main_window.services.ops.run("hub", lambda _db: gate.wait(5), name="searching the Hub")
    try:
        # one job is named whole in its fixed slot, not cut to "1 background job (sear…"
        qtbot.waitUntil(lambda: main_window.jobs_label.text() == "Searching the Hub…",
                        timeout=5000)
        assert "search_job" not in main_window.jobs_label.full_text()
    finally:
        gate.set()
    qtbot.waitUntil(lambda: main_window.jobs_label.text() == "", timeout=5000)


def test_pages_run_work_only_through_the_operations_layer() -> None:
    """No page calls the task manager directly (it would skip the failure display, the
    stale-result check and the busy count)."""
    direct = re.compile(r"\.tasks\.run\(")
    offenders = [str(path.relative_to(UI)) for path in sorted(UI.rglob("*.py"))
                 if path.name not in ("tasks.py", "operations.py")
                 and direct.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_compare_picker_follows_the_library(qtbot, services, model_path, tmp_path) -> None:
    from ui.views.compare.page import ComparePage
    from workbench.library import add_model

    page = ComparePage(services)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: bool(page.picker.models), timeout=10_000)
    before = len(page.picker.models)
    copy = tmp_path / "another.gguf"
    copy.write_bytes(model_path.read_bytes() + b"\0" * 16)  # a model of its own
    add_model(services.workspace.db, copy)
    services.events.changed.emit(frozenset({"library"}), object())  # the Models page's add
    qtbot.waitUntil(lambda: len(page.picker.models) == before + 1, timeout=10_000)


def test_garbage_is_collected_on_the_gui_thread_only(qtbot, bare_services) -> None:
    """A cycle dropped by a worker is freed on the GUI thread (a QObject destroyed by a worker's
    collection deadlocked the window: see ui.tasks.GuiThreadCollector)."""
    import gc

    freed: list[int] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            freed.append(threading.get_ident())

    def drop_and_allocate(_db) -> list[dict]:
        Cycle()
        # more live containers than the first generation's threshold: an automatic
        # collection would run right here, in this worker
        return [{} for _ in range(3 * gc.get_threshold()[0])]

    kept: list[list[dict]] = []
    assert not gc.isenabled()
    bare_services.ops.run("db", drop_and_allocate, name="garbage", success=kept.append)
    qtbot.waitUntil(lambda: bool(freed), timeout=5000)
    assert freed == [threading.get_ident()]


def test_batched_progress_comes_in_order_once_a_frame_and_before_the_outcome(
    qtbot, bare_services
) -> None:
    """A reply's tokens: 300 values over ~0.3 s arrive as a few lists at most every 50 ms,
    every value once and in order, all of them before the success callback."""
    seen: list[list[int]] = []
    at: list[float] = []
    done: list[int] = []

    def tokens(_db):  # type: ignore[no-untyped-def]
        for number in range(300):
            time.sleep(0.001)
            yield number

    bare_services.ops.run("engine", tokens, name="tokens", batch_ms=50,
                          progress=lambda values: (seen.append(values),
                                                   at.append(time.perf_counter())),
                          success=lambda _result: done.append(sum(map(len, seen))))
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)
    assert [v for values in seen for v in values] == list(range(300))
    assert done == [300]
    assert 1 < len(seen) < 60
    # One batch a frame at most (a timer may fire a ms early); the last one comes with the
    # outcome, whenever that is.
    gaps = [b - a for a, b in zip(at, at[1:-1], strict=False)]
    assert min(gaps) >= 0.045
