"""The download queue against the stand-in: a bar that moves, the model in the library at the
end, cancel and resume from the partial file, a refusal when the file will not fit, and the
engine's worker left free while a download runs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hub_standin import MODEL_FILE, REPO
from models_page_fixtures import WAIT_MS, hub_services, models_page  # noqa: F401

pytest_plugins = ["hub_fixtures"]

from PySide6.QtCore import Qt  # noqa: E402

from ui.tablemodels.downloads import PROGRESS_ROLE, DownloadItem, DownloadsTableModel  # noqa: E402
from ui.views.models import downloads as models_downloads  # noqa: E402
from ui.views.models.page import ModelsPage  # noqa: E402
from workbench import library  # noqa: E402
from workbench.hardware import Hardware  # noqa: E402
from workbench.hub.download import partial_paths  # noqa: E402


def progress_values(page: ModelsPage) -> list[int]:
    """Every value the Progress cell of row 0 shows, recorded as the table repaints it."""
    table = page.queue.table_model
    column = table.column_index("Progress")
    seen: list[int] = []

    def changed(top_left, bottom_right, _roles=()):
        if top_left.row() <= 0 <= bottom_right.row():
            seen.append(table.index(0, column).data(PROGRESS_ROLE))

    table.dataChanged.connect(changed)
    return seen


def test_table_model_formats_progress_without_widgets():
    table = DownloadsTableModel()
    item = DownloadItem(
        "o/r",
        "dir/model.Q4_K_M.gguf",
        state="downloading",
        done=25_000_000,
        total=100_000_000,
        rate=5_000_000,
        eta=15,
    )
    table.add(item)
    assert table.cell(0, "Model") == "model.Q4_K_M.gguf"
    assert table.cell(0, "Progress") == "25%"
    assert table.cell(0, "Downloaded") == "25.0 MB of 100.0 MB"
    assert table.cell(0, "Speed") == "5.0 MB/s"
    assert table.cell(0, "Time left") == "15 s"
    assert table.index(0, table.column_index("Progress")).data(PROGRESS_ROLE) == 250
    item.state, item.total = "checking", 0
    assert table.index(0, table.column_index("Progress")).data(PROGRESS_ROLE) == -1


def test_download_moves_and_lands_in_the_library(qtbot, page, hub, services):  # noqa: F811
    hub.faults.throttle = 40_000_000  # ~2.5 s for the 98 MB test model
    seen = progress_values(page)
    page.download(REPO, MODEL_FILE)
    item = page.queue.items[0]
    assert page.tabs.currentWidget() is page.downloads
    qtbot.waitUntil(lambda: item.state == "done", timeout=WAIT_MS)
    moving = [v for v in seen if v is not None and 0 < v < 1000]
    assert len(set(moving)) >= 3, seen  # the bar moved through several values
    assert moving == sorted(moving)  # and never went back
    assert seen[-1] == 1000
    # The finished file is in the library, with where it came from.
    qtbot.waitUntil(lambda: page.library.table_model.rowCount() == 1, timeout=WAIT_MS)
    model = page.library.table_model.rows()[0]
    assert model.id == item.model_id and model.source == "hub"
    assert model.provenance["repo"] == REPO
    assert page.library.table_model.cell(0, "Source") == f"Hugging Face · {REPO}"
    assert Path(model.path).is_file()
    assert page.tabs.tabText(page.tabs.indexOf(page.downloads)) == "Downloads"


def test_cancel_keeps_the_partial_and_resume_finishes(qtbot, page, hub, services):  # noqa: F811
    hub.faults.throttle = 8_000_000
    page.download(REPO, MODEL_FILE)
    item = page.queue.items[0]
    qtbot.waitUntil(lambda: item.state == "downloading" and item.done > 10_000_000, timeout=WAIT_MS)
    page.downloads.cancel_button.click()
    qtbot.waitUntil(lambda: item.state == "cancelled", timeout=WAIT_MS)
    stopped_at = item.done
    assert page.downloads.resume_button.isEnabled()
    partial, _record = partial_paths(models_downloads.models_dir_for(services), REPO, MODEL_FILE)
    assert partial.exists() and partial.stat().st_size >= stopped_at
    assert library.list_models(services.workspace.db) == []
    # Resume: the next progress starts where the partial file ends, not at zero.
    hub.faults.throttle = 60_000_000
    firsts: list[int] = []
    page.queue.table_model.dataChanged.connect(
        lambda *_: item.state in ("resuming", "downloading") and firsts.append(item.done)
    )
    page.downloads.resume_button.click()
    qtbot.waitUntil(lambda: item.state == "done", timeout=WAIT_MS)
    assert firsts and min(firsts) >= stopped_at
    assert not partial.exists()
    assert [m.file_name for m in library.list_models(services.workspace.db)] == [MODEL_FILE]


def test_a_file_that_will_not_fit_asks_first(qtbot, page, monkeypatch):
    from workbench import hardware

    monkeypatch.setattr(hardware, "detect", lambda: Hardware(2**30, 2**20, False))
    asked: list[str] = []

    def decline(parent, plan):
        asked.append(plan.verdict.kind)
        return False

    monkeypatch.setattr(models_downloads, "ask_download_anyway", decline)
    page.download(REPO, MODEL_FILE)
    item = page.queue.items[0]
    qtbot.waitUntil(lambda: item.state == "skipped", timeout=WAIT_MS)
    assert asked == ["no"]
    assert "would not fit" in page.queue.table_model.cell(0, "Status")


def test_engine_worker_stays_free_during_a_download(qtbot, page, hub, services):  # noqa: F811
    """A download runs on its own worker: an engine job (a chat reply) does not wait for it."""
    hub.faults.throttle = 10_000_000
    page.download(REPO, MODEL_FILE)
    item = page.queue.items[0]
    qtbot.waitUntil(lambda: item.state == "downloading", timeout=WAIT_MS)
    threads: list[str] = []
    results: list[object] = []
    services.tasks.run(
        "engine",
        lambda: threads.append(threading.current_thread().name) or 42,
        on_done=results.append,
    )
    qtbot.waitUntil(lambda: results == [42], timeout=5_000)
    assert item.state == "downloading" and threads[0].startswith("wb-engine")
    page.queue.cancel(item)
    qtbot.waitUntil(lambda: item.state == "cancelled", timeout=WAIT_MS)


def _open_page(qtbot, services) -> ModelsPage:  # type: ignore[no-untyped-def]
    widget = ModelsPage(services)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    return widget


def test_an_interrupted_download_comes_back_after_a_restart(qtbot, hub, services,
                                                            test_model_file, screenshot_dir):
    first = _open_page(qtbot, services)
    hub.faults.throttle = 8_000_000
    first.download(REPO, MODEL_FILE)
    item = first.queue.items[0]
    qtbot.waitUntil(lambda: item.state == "downloading" and item.done > 5_000_000,
                    timeout=WAIT_MS)
    first.shutdown()  # the window closes: the transfer stops between two chunks
    qtbot.waitUntil(lambda: not services.tasks.running, timeout=WAIT_MS)
    first.close()
    hub.faults.throttle = 60_000_000

    second = _open_page(qtbot, services)  # the next start
    qtbot.waitUntil(lambda: len(second.queue.items) == 1, timeout=WAIT_MS)
    again = second.queue.items[0]
    assert (again.repo_id, again.file, again.state) == (REPO, MODEL_FILE, "interrupted")
    assert again.done >= 5_000_000 and again.total == test_model_file.stat().st_size
    tabs = second.tabs
    assert tabs.tabText(tabs.indexOf(second.downloads)) == "Downloads (1 interrupted)"
    assert second.downloads.selected_item() is again
    assert second.downloads.resume_button.isEnabled()
    second.tabs.setCurrentWidget(second.downloads)
    qtbot.wait(100)
    second.grab().save(str(screenshot_dir / "downloads-interrupted.png"))
    second.downloads.resume_button.click()
    qtbot.waitUntil(lambda: again.state == "done", timeout=WAIT_MS)
    assert [m.file_name for m in library.list_models(services.workspace.db)] == [MODEL_FILE]


def test_removing_an_interrupted_download_asks_about_its_bytes(qtbot, hub, services,
                                                               monkeypatch):
    from workbench.errors import DownloadError
    from workbench.hub.client import HubClient
    from workbench.hub.download import pull

    hub.faults.cut_after, hub.faults.cut_times = 3 << 20, 10
    client = HubClient(endpoint=hub.endpoint, timeout=2.0, retries=0, backoff=0.01)
    models_dir = models_downloads.models_dir_for(services)
    with pytest.raises(DownloadError):  # the cut connection leaves an unfinished download
        list(pull(client, services.workspace.db, models_dir, REPO, MODEL_FILE, force=True))
    partial, record = partial_paths(models_dir, REPO, MODEL_FILE)
    assert partial.stat().st_size == 3 << 20
    page = _open_page(qtbot, services)
    qtbot.waitUntil(lambda: len(page.queue.items) == 1, timeout=WAIT_MS)
    answers = iter([None, True])
    monkeypatch.setattr(models_downloads, "ask_delete_partial",
                        lambda parent, item: next(answers))
    page.downloads.remove_button.click()  # Cancel: nothing happens
    assert len(page.queue.items) == 1 and partial.exists()
    page.downloads.remove_button.click()  # Delete
    qtbot.waitUntil(lambda: not partial.exists() and not record.exists(), timeout=WAIT_MS)
    assert page.queue.items == []
    qtbot.waitUntil(lambda: "Deleted 3.1 MB" in page.downloads.message.text(), timeout=WAIT_MS)


def _no_network(monkeypatch, host: str = "huggingface.co") -> None:
    """What a machine without a network answers: the name does not resolve (``[Errno -2]``)."""
    import socket

    from workbench.hub import reachability

    real = socket.getaddrinfo

    def lookup(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    reachability.forget()


def test_offline_discover_says_so_at_once_and_a_failed_download_says_why(
        qtbot, page, services, monkeypatch, screenshot_dir):
    """No network: Discover answers within 2 s (not 25 s of huggingface_hub's retries) that
    local models still work; a download that fails shows its whole reason, not "Failed: bart…"."""
    import time

    from workbench.settings import set_setting

    _no_network(monkeypatch)
    set_setting(services.workspace.db, "hub_endpoint", "https://huggingface.co")
    started = time.perf_counter()
    page.hub.query.setText("qwen")
    page.hub.search()
    qtbot.waitUntil(lambda: bool(page.hub.message.text()), timeout=WAIT_MS)
    took = time.perf_counter() - started
    assert page.hub.message.text().startswith(
        "No internet connection: your local models still work"), page.hub.message.text()
    assert took < 2.0, took
    assert page.hub.busy == 0 and page.hub.results_note.text() == ""
    page.tabs.setCurrentWidget(page.hub)
    qtbot.wait(50)
    page.grab().save(str(screenshot_dir / "discover-offline.png"))

    page.download(REPO, MODEL_FILE)
    item = page.queue.items[-1]
    qtbot.waitUntil(lambda: item.state == "failed", timeout=WAIT_MS)
    whole = f"{MODEL_FILE} failed: {item.message}"
    assert item.message.startswith("No internet connection")
    assert page.downloads.message.text() == whole  # wrapped in the bar, not cut in a cell
    status = page.queue.table_model.column_index("Status")
    tip = page.queue.table_model.index(0, status).data(Qt.ItemDataRole.ToolTipRole)
    assert tip == item.message
    page.grab().save(str(screenshot_dir / "download-failed.png"))
