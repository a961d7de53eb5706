"""Blind Compare stays blind: with two library models, Compare starts the contenders on
different models; while it runs and until the vote no widget of the window (texts, tooltips,
accessible names, the window title, the status bar) names a model, no answer shows before
all are done, and they appear together in the order the core's blind shuffle stored. After
the vote the writers are named and the status bar says what is in memory again."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QWidget

from tests.ui.conftest import make_window
from ui import theme
from workbench.library import add_model, list_models
from workbench.trials import store

SETTINGS = "temperature=0, max_tokens=8, n_ctx=512, n_threads=1, gpu_layers=0, seed=7"
OTHER = "Blindfold-Other"


def texts_of(window: QWidget) -> list[tuple[str, str]]:
    """(widget class, text) for every text the window shows or tells assistive tech. A
    combo box (the contender picker, the chat's model choice) lists the library, not who
    wrote what; the Models page is the library itself: both are left out."""
    models_page = window.page_widgets["Models"]  # type: ignore[attr-defined]
    found = [("window title", window.windowTitle()),
             ("status message", window.statusBar().currentMessage())]  # type: ignore[attr-defined]
    for widget in window.findChildren(QWidget):
        if isinstance(widget, QComboBox) or widget is models_page or models_page.isAncestorOf(
                widget) or any(isinstance(a, QComboBox) for a in _ancestors(widget)):
            continue
        kind = type(widget).__name__
        for value in (widget.toolTip(), widget.accessibleName(), widget.windowTitle(),
                      widget.accessibleDescription()):
            found.append((kind, value))
        text = getattr(widget, "full_text", None) or getattr(widget, "text", None)
        if callable(text):
            value = text()
            if isinstance(value, str):
                found.append((kind, value))
    return [(kind, value) for kind, value in found if value]


def _ancestors(widget: QWidget) -> list[QWidget]:
    out = []
    parent = widget.parentWidget()
    while parent is not None:
        out.append(parent)
        parent = parent.parentWidget()
    return out


def leaks(window: QWidget, names: list[str]) -> list[tuple[str, str]]:
    return [(kind, value) for kind, value in texts_of(window)
            if any(name.lower() in value.lower() for name in names)]


def test_blind_compare_hides_every_name_until_the_vote_and_reveals_together(
        qtbot, services, no_template_model, screenshot_dir: Path) -> None:
    db = services.workspace.db
    add_model(db, no_template_model, name=OTHER)
    models = list_models(db)
    assert len(models) == 2
    # Every way a model is named: its library name, its file's name and stem.
    names = sorted({n for m in models for n in (m.name, Path(m.path).name, Path(m.path).stem)})
    window = make_window(qtbot, services)
    qtbot.mouseClick(window.nav.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.nav.visualItemRect(window.nav.item(2)).center())
    page = window.page_widgets["Compare"]
    assert window.pages.currentWidget() is page
    qtbot.waitUntil(lambda: len(page.picker.models) == 2, timeout=10_000)
    combos = [combo for combo, _edit, _remove in page.picker.rows]
    # Two models in the library: the two contenders start on different ones.
    assert combos[0].currentData() != combos[1].currentData()
    for _combo, edit, _remove in page.picker.rows:
        edit.setText(SETTINGS)
    page.prompt.setPlainText("Say hello.")
    assert page.blind.isChecked()
    qtbot.waitUntil(lambda: not services.tasks.running, timeout=10_000)

    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(page.columns) == 2, timeout=30_000)
    shot = False
    while page.is_running:
        assert leaks(window, names) == []
        assert [c.text for c in page.columns] == ["", ""], "an answer showed before the rest"
        assert all(not c.view.plain_text() for c in page.columns)
        if not shot:
            shot = _shots(window, screenshot_dir, "running")
        qtbot.wait(20)
    qtbot.waitUntil(lambda: not services.tasks.running, timeout=10_000)
    qtbot.waitUntil(lambda: "saved" in page.status.text(), timeout=10_000)
    # Done, not voted: both answers in, in the stored (shuffled) order, still no name.
    assert all(c.text for c in page.columns)
    order = store.get_comparison_row(db, page.comparison_id)["display_order"]
    replies = {r["contender_id"]: r["content"]
               for r in store.comparison_replies(db, page.comparison_id)}
    assert [c.text for c in page.columns] == [replies[i] for i in order]
    assert leaks(window, names) == []
    assert window.model_label.full_text() == "Model hidden until you vote"
    _shots(window, screenshot_dir, "revealed")

    vote = next(b for b in page.vote_buttons if b.text() == "A is better")
    qtbot.mouseClick(vote, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Your vote" in page.status.text(), timeout=10_000)
    assert not services.events.blind
    writers = " ".join(c.writer.text() for c in page.columns)
    assert OTHER in writers and models[0].name in writers  # named after the vote
    loaded = services.engine.loaded
    assert loaded is not None and window.model_label.full_text() == f"● {loaded.path.stem}"
    _shots(window, screenshot_dir, "voted")
    window.close()


def _shots(window, folder: Path, state: str) -> bool:  # type: ignore[no-untyped-def]
    app = QApplication.instance()
    for look in ("light", "dark"):
        theme.apply_theme(app, look)
        for width, height in ((1024, 640), (1280, 800), (1920, 1080)):
            window.resize(width, height)
            QApplication.processEvents()
            window.grab().save(str(folder / f"blind-compare-{state}-{width}x{height}-{look}.png"))
    theme.apply_theme(app, "light")
    window.resize(1280, 800)
    return True


def test_status_bar_widgets_keep_their_place_as_texts_change(qtbot, services) -> None:
    """Fixed slots: a longer job, model or server text is elided (whole in its tooltip),
    never pushing the other widgets along."""
    window = make_window(qtbot, services, size=(1024, 640))
    parts = (window.jobs_label, window.server_switch, window.model_label)

    def places() -> list[int]:
        QApplication.processEvents()
        return [w.mapTo(window, w.rect().topLeft()).x() for w in parts]

    before = places()
    long_name = "A-very-long-model-name-that-would-push-everything-Q4_K_M" * 2
    window.jobs_label.setText("2 background jobs (downloading a model, comparing models)")
    services.events.model_loaded.emit(long_name)
    assert places() == before
    assert window.model_label.full_text() == f"● {long_name}"
    assert window.model_label.text() != window.model_label.full_text()  # elided
    assert long_name in window.model_label.toolTip()
    assert max(w.mapTo(window, w.rect().topRight()).x() for w in parts) <= window.width()
    # Blind: the same slot says the name is hidden, and the tooltip does not name it either.
    services.events.set_blind(True)
    assert places() == before and long_name not in window.model_label.toolTip()
    assert window.model_label.full_text() == "Model hidden until you vote"
    services.events.set_blind(False)
    assert window.model_label.full_text() == f"● {long_name}"
    window.close()
