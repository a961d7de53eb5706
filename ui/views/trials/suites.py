"""The trials page's left side: prompt suites and their prompts, listed, edited, imported.

A part of :class:`~ui.views.trials.page.TrialsPage`, not a widget of its own: it builds its
widgets on the page and reads and sets the page's state (``suite_id``, ``counts``), runs its
work through the page's operations (``_op``) and reports in the page's status line, so the
page (and its tests) reach the suite list and the editor as before.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ui.views.trials.checks import CheckEditor
from ui.views.trials.prompt_editor import prompt_row, prompt_tip
from ui.widgets.plain_label import Label
from workbench.trials.suites import (
    SuitePrompt,
    create_suite,
    delete_suite,
    get_suite,
    import_suite,
    rename_suite,
)

SUITE_NAME_ROLE = Qt.ItemDataRole.UserRole + 1


class SuitesPart:
    """Suites and their prompts: the lists, the editor's widgets, and the suites' operations
    (a part of the page; the editor's state is :class:`~.prompt_editor.PromptEditorPart`)."""

    def _build_suites(self) -> QWidget:
        """The lists, then the editor. Sized for a 1024x640 window: short labels beside the
        one-line fields, the lists giving way first, so Add check and Save prompt stay in
        view; on a shorter screen the column scrolls (and a refused check's reason is
        scrolled into view)."""
        self._shown_prompt: SuitePrompt | None = None  # the stored prompt in the editor
        self._select_prompt: int | None = None  # a prompt to select once the list reloads
        self._asking = False  # the Save/Discard/Cancel question is open
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 4, 8, 4)
        layout.setSpacing(4)
        layout.addWidget(Label("<h3>Prompt suites</h3>", rich=True))
        self.suites = QListWidget()
        self.suites.setAccessibleName("Prompt suites")
        self.suites.setMinimumHeight(48)
        self.suites.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.suites.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.suites.currentItemChanged.connect(self._suite_clicked)
        layout.addWidget(self.suites, 1)
        buttons = QHBoxLayout()
        # Each button calls its slot with no argument: ``clicked(bool)`` would otherwise arrive
        # as a slot's optional first parameter (New… once got ``name=False``).
        self.suite_buttons: dict[str, QPushButton] = {}
        for text, slot in (("New…", self.new_suite), ("Import…", self.import_dialog),
                           ("Rename…", self.rename_suite), ("Delete", self.delete_suite)):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, slot=slot: slot())
            buttons.addWidget(button)
            self.suite_buttons[text] = button
        layout.addLayout(buttons)
        layout.addWidget(Label("Prompts"))
        self.prompts = QListWidget()
        self.prompts.setAccessibleName("Prompts")
        self.prompts.setMinimumHeight(64)
        self.prompts.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.prompts.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.prompts.currentItemChanged.connect(self._prompt_clicked)
        layout.addWidget(self.prompts, 2)
        self.prompt_text = QPlainTextEdit()
        self.prompt_text.setAccessibleName("Prompt")
        self.prompt_text.setPlaceholderText("What the models are asked")
        self.prompt_text.setMaximumHeight(60)
        self.prompt_system = QLineEdit()
        self.prompt_system.setAccessibleName("System prompt")
        self.prompt_system.setPlaceholderText("Optional system prompt")
        self.prompt_reference = QLineEdit()
        self.prompt_reference.setAccessibleName("Reference answer")
        self.prompt_reference.setPlaceholderText("Optional: the answer you expect")
        self.prompt_reference.textChanged.connect(self._reference_changed)
        self.check_editor = CheckEditor()
        self.check_editor.error_shown.connect(self._scroll_to_error)
        self.check_editor.changed.connect(self._editor_edited)
        self.prompt_text.textChanged.connect(self._editor_edited)
        self.prompt_system.textChanged.connect(self._editor_edited)
        self.prompt_reference.textChanged.connect(self._editor_edited)
        above = QFormLayout()  # the tall fields: their labels above them
        above.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        above.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        above.addRow("Prompt", self.prompt_text)
        beside = QFormLayout()  # the one-line fields: their short labels beside them
        beside.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        beside.addRow("System", self.prompt_system)
        beside.addRow("Reference", self.prompt_reference)
        checks = QFormLayout()
        checks.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        checks.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        checks.addRow("Checks", self.check_editor)
        for form in (above, beside, checks):
            layout.addLayout(form)
        edit = QHBoxLayout()
        self.prompt_buttons: dict[str, QPushButton] = {}
        for text, slot in (("Add prompt", self.add_prompt), ("Save prompt", self.save_prompt),
                           ("Delete prompt", self.delete_prompt)):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, slot=slot: slot())
            edit.addWidget(button)
            self.prompt_buttons[text] = button
        self.prompt_buttons["Add prompt"].setToolTip("Add what the editor holds as a new prompt")
        self.prompt_buttons["Save prompt"].setToolTip("Save the edits to the selected prompt")
        layout.addLayout(edit)
        # The editor's own line: "Unsaved changes", "Saved.", or why an edit was refused.
        self.editor_note = Label("")
        self.editor_note.setAccessibleName("Prompt editor status")
        self.editor_note.setTextFormat(Qt.TextFormat.PlainText)
        self.editor_note.setWordWrap(True)
        layout.addWidget(self.editor_note)
        # The editor scrolls rather than squeezing its fields on a short screen.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(box)
        # as wide as its fields need (the splitter never squeezes them behind the edge)
        scroll.setMinimumWidth(box.minimumSizeHint().width()
                               + scroll.verticalScrollBar().sizeHint().width())
        self.editor_scroll = scroll
        self._update_editor_state()
        return scroll

    # -- what the editor holds --------------------------------------------------------------
    def _scroll_to_error(self) -> None:
        """A refused check's reason, scrolled into view once the layout has placed it."""
        def show() -> None:
            self.editor_scroll.ensureWidgetVisible(self.check_editor.error, 8, 8)
        show()
        QTimer.singleShot(0, show)

    def _suite_clicked(self, item: QListWidgetItem | None,
                       previous: QListWidgetItem | None = None) -> None:
        """Another suite chosen: its prompts, once the editor's edits are dealt with."""
        if item is not None and previous is not None and not self._leave_editor():
            self.suites.blockSignals(True)
            self.suites.setCurrentItem(previous)
            self.suites.blockSignals(False)
            return
        if item is not None and item.data(Qt.ItemDataRole.UserRole) != self.suite_id:
            self._fill_editor(None)
            self.prompts.clear()
        self._suite_chosen(item)

    def _suite_chosen(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        self.suite_id = item.data(Qt.ItemDataRole.UserRole)
        suite_id = self.suite_id
        self._op(lambda db: get_suite(db, suite_id), self._show_suite,
                 "loading a suite", key="suite")

    def _show_suite(self, suite: Any) -> None:
        """The suite's prompts; the one selected stays selected (a new one, just added, is
        selected), and the editor keeps what the user is typing."""
        current = self.prompts.currentItem()
        keep = self._select_prompt or (
            current.data(Qt.ItemDataRole.UserRole).id if current is not None else None)
        self._select_prompt = None
        self.prompts.blockSignals(True)
        self.prompts.clear()
        chosen: SuitePrompt | None = None
        for prompt in suite.prompts:
            item = QListWidgetItem(prompt_row(prompt))
            item.setToolTip(prompt_tip(prompt))
            item.setData(Qt.ItemDataRole.UserRole, prompt)
            self.prompts.addItem(item)
            if prompt.id == keep:
                self.prompts.setCurrentItem(item)
                chosen = prompt
        self.prompts.blockSignals(False)
        if chosen is not None and (self._shown_prompt is None
                                   or self._shown_prompt.id != chosen.id
                                   or not self.editor_changed()):
            self._fill_editor(chosen)  # new, or saved: the stored prompt, unchanged
        elif chosen is not None:
            self._shown_prompt = chosen  # keep the user's edits, against the stored prompt
        elif self._shown_prompt is not None:
            self._fill_editor(None)  # it was deleted
        self.counts["prompts"] = len(suite.prompts)
        self._update_editor_state()
        self._update_guide()

    def _prompt_clicked(self, item: QListWidgetItem | None,
                        previous: QListWidgetItem | None = None) -> None:
        """Another prompt chosen: the editor's edits are saved, dropped or kept first."""
        if not self._leave_editor():
            self.prompts.blockSignals(True)
            self.prompts.setCurrentItem(previous)
            self.prompts.blockSignals(False)
            return
        self._prompt_chosen(item)

    def _prompt_chosen(self, item: QListWidgetItem | None) -> None:
        prompt: SuitePrompt | None = item.data(Qt.ItemDataRole.UserRole) if item else None
        self._fill_editor(prompt)

    def _reference_changed(self, text: str) -> None:
        self.check_editor.reference = text.strip()

    def _edited_prompt(self) -> SuitePrompt:
        """The editor's prompt with its checks as JSON objects (validated by the core in the
        worker, against the reference answer as it is now)."""
        shown = self._shown_prompt  # its tools, collections and sources are kept as they are
        return SuitePrompt(self.prompt_text.toPlainText().strip(),
                           self.prompt_system.text().strip() or None,
                           self.prompt_reference.text().strip() or None,
                           self.check_editor.checks(),
                           tools=shown.tools if shown else None,
                           tool_results=shown.tool_results if shown else None,
                           docs=list(shown.docs) if shown else [],
                           sources=list(shown.sources) if shown else [])

    def new_suite(self, name: str | None = None) -> None:
        if not self._leave_editor():
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "New suite", "Name")
            if not ok:
                return
        if not name.strip():
            self._editor_error("A suite needs a name.")
            return
        chosen = name.strip()
        self._op(lambda db: create_suite(db, chosen).id, self._suite_made,
                 "creating a suite", changes=("suites",))

    def _suite_made(self, suite_id: int) -> None:
        """Select the new suite when the list reloads (set here, on the GUI thread)."""
        self.suite_id = suite_id

    def _selected_suite(self) -> tuple[int, str] | None:
        item = self.suites.currentItem()
        if item is None:
            return None
        return item.data(Qt.ItemDataRole.UserRole), item.data(SUITE_NAME_ROLE)

    def rename_suite(self, name: str | None = None) -> None:
        chosen = self._selected_suite()
        if chosen is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename suite", "Name",
                                            QLineEdit.EchoMode.Normal, chosen[1])
            if not ok:
                return
        if not name.strip():
            self._editor_error("A suite needs a name.")
            return
        new_name = name.strip()
        self._op(lambda db: rename_suite(db, chosen[0], new_name), None,
                 "renaming a suite", changes=("suites",))

    def delete_suite(self) -> None:
        """Ask first (a suite is the user's own work); one that trials use is kept, and the
        core says so."""
        chosen = self._selected_suite()
        if chosen is None:
            return
        answer = QMessageBox.question(self, "Delete suite",
                                      f"Delete the suite “{chosen[1]}” and its prompts?")
        if answer != QMessageBox.StandardButton.Yes:
            return

        def removed(_result: object) -> None:
            if self.suite_id == chosen[0]:
                self.suite_id = None
                self.prompts.clear()
                self._fill_editor(None)

        self._op(lambda db: delete_suite(db, chosen[0]), removed,
                 "deleting a suite", changes=("suites",))

    def import_dialog(self) -> None:
        if not self._leave_editor():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import a suite", "",
                                              "Suites (*.jsonl *.csv *.txt);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        self._op(lambda db: import_suite(db, path).id, self._suite_made,
                 "importing a suite", changes=("suites",), resource="disk")
