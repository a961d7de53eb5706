"""The Models page against the loopback Hub stand-in and the real test model.

Each test builds the page on a fresh workspace whose ``hub_endpoint`` is the stand-in, drives it
the way a user would (or calls the slot a button calls, where a modal dialog would stand in the
way), and waits on the page's own state, never on sleeps.
"""

from __future__ import annotations

import re
import time

from hub_standin import MODEL_FILE, REPO
from models_page_fixtures import WAIT_MS, hub_services, models_page  # noqa: F401

pytest_plugins = ["hub_fixtures"]
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from ui.tablemodels.library import LibraryTableModel  # noqa: E402
from ui.views.models import library as models_library  # noqa: E402
from ui.views.models.page import ModelsPage  # noqa: E402
from workbench import library  # noqa: E402
from workbench.settings import set_setting  # noqa: E402


def test_library_table_model_without_widgets(db, model_path):
    """The table reads Model rows only: no widget, no database."""
    model = library.add_model(db, model_path)
    table = LibraryTableModel()
    table.set_rows([model])
    assert table.rowCount() == 1
    assert table.cell(0, "Name") == model_path.stem
    assert table.cell(0, "Architecture") == "llama"
    assert table.cell(0, "Parameters") == "134.5M"
    assert table.cell(0, "Quantization") == model.quantization
    assert table.cell(0, "Context") == "8,192"
    assert table.cell(0, "Source") == "Added by hand"
    assert table.cell(0, "Kind") == "chat"


def test_a_base_model_says_so_in_the_table(db, no_template_model):
    table = LibraryTableModel()
    table.set_rows([library.add_model(db, no_template_model)])
    assert table.cell(0, "Kind") == "base model (not tuned for chat)"


def test_search_shows_results_and_files_show_fit_verdicts(qtbot, page, hub):  # noqa: F811
    tab = page.hub
    tab.query.setText("SmolLM2")
    tab.search()
    qtbot.waitUntil(lambda: tab.results_model.rowCount() > 0, timeout=WAIT_MS)
    results = tab.results_model
    assert results.cell(0, "Repository") == REPO
    assert results.cell(0, "Downloads") == "5.0K"
    assert results.cell(0, "Likes") == "40"
    assert results.cell(0, "License") == "apache-2.0"
    assert results.cell(0, "Updated") == "2024-11-01"
    # Selecting the first result lists its files, then their verdicts arrive.
    qtbot.waitUntil(lambda: bool(tab.files_model.verdicts), timeout=WAIT_MS)
    files = {f.name: row for row, f in enumerate(tab.files_model.rows())}
    row = files[MODEL_FILE]
    assert tab.files_model.cell(row, "Quantization") == "Q4_1"
    assert tab.files_model.cell(row, "Size") == "98.4 MB"
    verdict = tab.files_model.cell(row, "Fit on this machine")
    assert "Fits" in verdict and re.search(r"\d \w?B\b", verdict), verdict  # a human_size
    split = next(r for n, r in files.items() if n.startswith("split/"))
    assert "2 parts" in tab.files_model.cell(split, "File")
    projector = next(r for n, r in files.items() if "mmproj" in n)
    assert tab.files_model.cell(projector, "Fit on this machine").startswith("—")
    # The projector comes with a download, so every verdict counts it.
    assert "comes with the models" in tab.files_model.cell(projector, "Fit on this machine")
    assert "image tokens a picture" in tab.files_model.verdicts[MODEL_FILE].summary()
    # A bigger context changes the estimate without another request.
    before = len(hub.requests())
    tab.context.setCurrentIndex(tab.context.findData(131072))
    assert tab.files_model.verdicts[MODEL_FILE].estimate.n_ctx == 131072
    assert len(hub.requests()) == before
    assert not tab.message.text()


def test_hub_error_is_one_line_in_the_page(qtbot, page, hub):  # noqa: F811
    hub.faults.status["/api/models"] = 500
    page.hub.query.setText("anything")
    page.hub.search()
    qtbot.waitUntil(lambda: bool(page.hub.message.text()), timeout=WAIT_MS)
    text = page.hub.message.text()
    assert "server error (HTTP 500)" in text and "\n" not in text
    assert "Traceback" not in text and page.hub.message.kind == "error"


def test_offline_mode_refuses_with_the_core_message(qtbot, page, hub, services):  # noqa: F811
    set_setting(services.workspace.db, "offline", True)
    before = len(hub.requests())
    page.hub.query.setText("SmolLM2")
    page.hub.search()
    qtbot.waitUntil(lambda: bool(page.hub.message.text()), timeout=WAIT_MS)
    assert page.hub.message.text().startswith("Workbench is offline")
    page.download(REPO, MODEL_FILE)
    item = page.queue.items[-1]
    qtbot.waitUntil(lambda: item.state == "failed", timeout=WAIT_MS)
    assert item.message.startswith("Workbench is offline")
    assert len(hub.requests()) == before  # not one connection


def test_recommended_filters_by_task_and_fit(qtbot, page):
    tab = page.recommended
    tab.fits_only.setChecked(False)
    everything = tab.table_model.rowCount()
    tab.task.setCurrentIndex(tab.task.findData("code"))
    assert 0 < tab.table_model.rowCount() < everything
    assert all("code" in e.tasks for e in tab.table_model.rows())
    tab.task.setCurrentIndex(0)
    tab.memory_bytes = tab.table_model.memory_bytes = 1_000_000_000
    tab.fits_only.setChecked(True)
    assert all(e.min_memory_bytes <= 1_000_000_000 for e in tab.table_model.rows())
    assert {tab.table_model.fit_text(e) for e in tab.table_model.rows()} <= {"Fits", "In library"}
    requested = []
    tab.download_requested.connect(lambda *args: requested.append(args))
    tab.download_selected()
    entry = tab.table_model.rows()[0]
    assert requested == [(entry.repo, entry.file, None)]


def test_add_by_path_and_by_drop_then_remove(qtbot, page, model_path, tmp_path, monkeypatch):
    tab = page.library
    tab.add_paths([str(model_path)])
    qtbot.waitUntil(lambda: tab.busy == 0 and tab.table_model.rowCount() == 1, timeout=WAIT_MS)
    assert tab.message.kind == "ok"
    # The same contents under another name are refused: one entry per file.
    twin = tmp_path / "twin.gguf"
    twin.write_bytes(model_path.read_bytes())
    tab.add_paths([str(twin)])
    qtbot.waitUntil(lambda: tab.busy == 0 and tab.message.kind == "error", timeout=WAIT_MS)
    assert "twin.gguf: already in the library as" in tab.message.text()
    assert tab.table_model.rowCount() == 1
    # A drop of a .gguf (and a file that is not one, which is ignored); 16 bytes more make
    # it another file.
    copy = tmp_path / "dropped-copy.gguf"
    copy.write_bytes(model_path.read_bytes() + b"\0" * 16)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(copy)), QUrl.fromLocalFile(str(tmp_path / "x.txt"))])
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    page.dropEvent(drop)
    assert drop.isAccepted()
    qtbot.waitUntil(lambda: tab.busy == 0 and tab.table_model.rowCount() == 2, timeout=WAIT_MS)
    assert tab.selected_model().path == str(copy.resolve())
    # Remove, deleting the file, after the confirmation says so.
    monkeypatch.setattr(models_library, "ask_remove", lambda parent, model: True)
    tab.remove_selected()
    qtbot.waitUntil(lambda: tab.busy == 0 and tab.table_model.rowCount() == 1, timeout=WAIT_MS)
    assert not copy.exists() and model_path.exists()
    assert "deleted its file" in tab.message.text()
    # Cancelling the confirmation changes nothing.
    monkeypatch.setattr(models_library, "ask_remove", lambda parent, model: None)
    tab.remove_selected()
    assert tab.busy == 0 and tab.table_model.rowCount() == 1


def test_a_bad_file_is_one_line(qtbot, page, tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file at all")
    page.library.add_paths([str(bad)])
    qtbot.waitUntil(lambda: page.library.message.kind == "error", timeout=WAIT_MS)
    assert "broken.gguf" in page.library.message.text()
    assert "Traceback" not in page.library.message.text()


def test_scan_finds_planted_files_and_adds_one(qtbot, page, model_path, tmp_path):
    lmstudio = tmp_path / "lmstudio"
    target = lmstudio / "bartowski" / "SmolLM2-GGUF" / "SmolLM2-planted.gguf"
    target.parent.mkdir(parents=True)
    target.write_bytes(model_path.read_bytes())
    gpt4all = tmp_path / "gpt4all"
    gpt4all.mkdir()
    (gpt4all / "other-planted.gguf").write_bytes(model_path.read_bytes())
    (gpt4all / "notes.gguf").write_bytes(b"not gguf")
    page.scan_roots = {"lmstudio": [lmstudio], "gpt4all": [gpt4all]}
    page.open_scan()
    dialog = page.scan_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: not dialog.scanning, timeout=WAIT_MS)
    found = {f.path.name: row for row, f in enumerate(dialog.table_model.rows())}
    assert set(found) == {"SmolLM2-planted.gguf", "other-planted.gguf"}
    assert dialog.table_model.cell(found["SmolLM2-planted.gguf"], "Found in") == "LM Studio"
    dialog.table_model.set_checked(found["other-planted.gguf"], False)
    dialog.add_selected()
    tab = page.library
    qtbot.waitUntil(lambda: tab.busy == 0 and tab.table_model.rowCount() == 1, timeout=WAIT_MS)
    model = tab.table_model.rows()[0]
    assert model.path == str(target.resolve()) and model.source == "lmstudio"
    assert model.provenance["repo"] == "bartowski/SmolLM2-GGUF"
    assert tab.table_model.cell(0, "Source") == "LM Studio"


def test_per_model_settings_are_saved(qtbot, page, model_path, services):
    tab = page.library
    tab.add_paths([str(model_path)])
    qtbot.waitUntil(lambda: tab.busy == 0 and tab.table_model.rowCount() == 1, timeout=WAIT_MS)
    tab.open_settings()
    dialog = tab.settings_dialog
    assert dialog is not None
    dialog.n_ctx.setValue(2048)
    dialog.gpu_mode.setCurrentIndex(dialog.gpu_mode.findData("n"))
    dialog.gpu_count.setValue(12)
    dialog.n_threads.setValue(2)
    dialog.template.setCurrentIndex(dialog.template.findData("chatml"))
    dialog.sampling_box.setChecked(True)
    dialog.temperature.setValue(0.3)
    dialog.top_p.setValue(0.8)
    dialog.top_k.setValue(30)
    dialog.max_tokens.setValue(256)
    dialog.seed.setValue(42)
    dialog.accept()
    qtbot.waitUntil(lambda: tab.busy == 0 and tab.message.kind == "ok", timeout=WAIT_MS)
    saved = library.list_models(services.workspace.db)[0].settings
    assert saved == {
        "n_ctx": 2048,
        "gpu_layers": 12,
        "n_threads": 2,
        "template": "chatml",
        "temperature": 0.3,
        "top_p": 0.8,
        "top_k": 30,
        "max_tokens": 256,
        "seed": 42,
    }
    # The keys are the ones the engine reads.
    from workbench.model_settings import resolve_settings

    load, sampling = resolve_settings(
        services.workspace.db, library.list_models(services.workspace.db)[0]
    )
    assert (load.n_ctx, load.gpu_layers, load.n_threads) == (2048, 12, 2)
    assert (sampling.temperature, sampling.top_k, sampling.seed) == (0.3, 30, 42)
    # "Restore defaults" writes nothing for those keys.
    tab.open_settings()
    tab.settings_dialog.restore_defaults()
    tab.settings_dialog.accept()
    qtbot.waitUntil(lambda: tab.busy == 0, timeout=WAIT_MS)
    deadline = time.monotonic() + 10
    while library.list_models(services.workspace.db)[0].settings and time.monotonic() < deadline:
        qtbot.wait(20)
    assert library.list_models(services.workspace.db)[0].settings == {}


def test_chat_with_this_model_asks_the_window(qtbot, services, model_path, monkeypatch):
    from PySide6.QtWidgets import QMainWindow

    asked: list[int] = []

    class Window(QMainWindow):
        def show_chat_with_model(self, model_id: int) -> None:
            asked.append(model_id)

    window = Window()
    qtbot.addWidget(window)
    page = ModelsPage(services)
    window.setCentralWidget(page)
    page.library.add_paths([str(model_path)])
    qtbot.waitUntil(
        lambda: page.library.busy == 0 and page.library.table_model.rowCount() == 1, timeout=WAIT_MS
    )
    page.library.chat_with_selected()
    assert asked == [page.library.selected_model().id]
    opened: list[str] = []
    monkeypatch.setattr(
        models_library.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile())
    )
    page.library.show_in_folder()
    assert opened == [str(model_path.resolve().parent)]


def test_catalog_entry_and_library_events(qtbot, page, services, model_path):
    """The window's first-run page opens one catalog entry; other pages hear of changes."""
    page.recommended.task.setCurrentIndex(page.recommended.task.findData("code"))
    page.show_catalog_entry("smollm2-135m")
    assert page.tabs.currentWidget() is page.recommended
    assert page.recommended.selected_entry().id == "smollm2-135m"
    heard: list[bool] = []
    services.events.changed.connect(lambda kinds, _by: "library" in kinds and heard.append(True))
    page.library.add_paths([str(model_path)])
    qtbot.waitUntil(lambda: bool(heard) and page.library.busy == 0, timeout=WAIT_MS)
    # A change made elsewhere (the chat's first run adds the demo model) reloads this page.
    library.remove_model(services.workspace.db, page.library.table_model.rows()[0].id)
    services.events.changed.emit(frozenset({"library"}), None)
    qtbot.waitUntil(
        lambda: page.library.busy == 0 and page.library.table_model.rowCount() == 0, timeout=WAIT_MS
    )
    assert page.recommended.table_model.in_library == set()
