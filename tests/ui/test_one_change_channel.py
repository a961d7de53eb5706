"""One change channel in the window: a change made on one page reaches every page that shows
the same data through ``events.changed`` alone (the older one-purpose signals are gone), and
no module of the window fetches a database connection itself (operations hand it in)."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from ui.views.models.widgets import select_source_row
from workbench.library import get_model

UI = Path(__file__).resolve().parents[2] / "ui"
WAIT_MS = 15_000
NEW_NAME = "Renamed for the change channel"


def chat_names(window) -> list[str]:  # type: ignore[no-untyped-def]
    picker = window.chat.model_picker
    return [picker.itemText(i) for i in range(picker.count())]


def test_a_model_renamed_on_the_models_page_is_renamed_on_every_page(
    qtbot, main_window, monkeypatch
) -> None:
    window = main_window
    services = window.services
    models_page = window.page_widgets["Models"]
    compare = window.page_widgets["Compare"]
    trials = window.page_widgets["Trials"]
    library_tab = models_page.library
    qtbot.waitUntil(lambda: library_tab.table_model.rowCount() > 0 and library_tab.busy == 0
                    and bool(compare.picker.models) and bool(trials.picker.models)
                    and trials.busy == 0, timeout=WAIT_MS)
    target = library_tab.table_model.rows()[0]
    old_name = target.name
    assert any(old_name in name for name in chat_names(window))

    heard: list[tuple[frozenset, object]] = []
    services.events.changed.connect(lambda changes, by: heard.append((changes, by)))
    window.show_models()
    models_page.tabs.setCurrentWidget(library_tab)
    select_source_row(library_tab.table, library_tab.table_model.row_of_id(target.id))
    assert library_tab.selected_model().id == target.id
    asked: list[str] = []

    def answer(_parent, _title, _label, text="", **_kwargs):  # type: ignore[no-untyped-def]
        asked.append(text)
        return NEW_NAME, True

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(answer))
    button = library_tab.details.rename_button
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert asked == [old_name]  # the dialog offered the current name

    def everywhere() -> bool:
        return (
            any(NEW_NAME in name for name in chat_names(window))
            and not any(old_name == name.split(" · ")[0] for name in chat_names(window))
            and (target.id, NEW_NAME) in compare.picker.models
            and (target.id, NEW_NAME) in trials.picker.models
            and any(m.id == target.id and m.name == NEW_NAME
                    for m in library_tab.table_model.rows())
        )

    qtbot.waitUntil(everywhere, timeout=WAIT_MS)
    assert (target.id, old_name) not in compare.picker.models
    assert (target.id, old_name) not in trials.picker.models
    assert get_model(services.workspace.db, target.id).name == NEW_NAME
    # one announcement, by the library tab, on the one channel
    assert heard == [(frozenset({"library"}), library_tab)]
    assert f"Renamed {old_name} to {NEW_NAME}." in library_tab.message.text()


def test_the_window_has_one_change_channel_and_one_connection_provider() -> None:
    """The removed ways stay removed: no page fetches a connection (``services.db()``, a
    ``db_factory``, a second ``workspace.connect()``) and none emits or follows the older
    one-purpose signals; ``events.changed`` is the only change signal."""
    from ui.services import AppEvents, Services

    gone = re.compile(r"services\.db\b|\bdb_factory\b|workspace\.connect\(|LEGACY_CHANGES|"
                      r"\b(library|conversations|settings)_changed\b|events\.announce\(")
    offenders = [f"{path.relative_to(UI)}:{number}: {line.strip()}"
                 for path in sorted(UI.rglob("*.py"))
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if gone.search(line)]
    assert offenders == []
    assert not hasattr(Services, "db")
    signals = [name for name in dir(AppEvents) if name.endswith("changed")]
    assert signals == ["changed"]
