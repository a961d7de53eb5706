"""The trials page's left side: prompt suites and their prompts, listed, edited, imported.

A part of :class:`~ui.views.trials.page.TrialsPage`, not a widget of its own: it builds its
widgets on the page and reads and sets the page's state (``suite_id``, ``counts``), runs its
work through the page's operations (``_op``) and reports in the page's status line, so the
page (and its tests) reach the suite list and the editor as before.
"""

from __future__ import annotations

from collections.abc import Callable
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
from ui.widgets.plain_label import Label
from workbench.trials.suites import (
    SuitePrompt,
    add_prompt,
    create_suite,
    delete_prompt,
    delete_suite,
    get_suite,
    import_suite,
    rename_suite,
    update_prompt,
)

SUITE_NAME_ROLE = Qt.ItemDataRole.UserRole + 1
#: How many characters of a prompt its list row shows before "· 2 checks".
PROMPT_ROW_CHARS = 40
#: The mark before a prompt whose edits are not saved yet.
CHANGED_MARK = "● "


class SuitesPart:
    """Suites and prompts: the list, the editor and their operations (a part of the page)."""

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

    def editor_changed(self) -> bool:
        """Whether the editor holds edits not saved: unlike the selected prompt as stored,
        or, with none selected, anything typed (a prompt being composed)."""
        edited = self._edited_prompt()
        shown = self._shown_prompt
        if shown is None:
            return bool(edited.prompt or edited.system or edited.reference or edited.checks)
        try:
            checks = _normal_checks(edited.checks, edited.reference)
        except Exception:  # a check the core refuses is a change, not a crash
            return True
        return (edited.prompt, edited.system, edited.reference, checks) != (
            shown.prompt.strip(), shown.system or None, shown.reference or None,
            shown.checks or [])

    def _editor_edited(self) -> None:
        self._note("")  # "Saved." or a refusal is old news once the user types
        self._update_editor_state()

    def _update_editor_state(self) -> None:
        """The selected prompt marked while its edits are unsaved; Save prompt enabled then."""
        changed = self.editor_changed()
        item = self.prompts.currentItem()
        for row in range(self.prompts.count()):
            each = self.prompts.item(row)
            prompt = each.data(Qt.ItemDataRole.UserRole)
            text = _prompt_row(prompt)
            each.setText(CHANGED_MARK + text if changed and each is item else text)
        self.prompt_buttons["Save prompt"].setEnabled(item is not None and changed)
        self.prompt_buttons["Delete prompt"].setEnabled(item is not None)
        self.prompt_buttons["Add prompt"].setEnabled(self.suite_id is not None)
        self.suite_buttons["Rename…"].setEnabled(self.suites.currentItem() is not None)
        self.suite_buttons["Delete"].setEnabled(self.suites.currentItem() is not None)
        note = self.editor_note.text()
        if changed and item is not None and not note:
            self._note("Unsaved changes")
        elif not changed and note == "Unsaved changes":
            self._note("")

    def _note(self, message: str, error: bool = False) -> None:
        """The editor's own line (plain text), coloured as an error when it is one."""
        name = "ErrorText" if error else ""
        if self.editor_note.objectName() != name:
            self.editor_note.setObjectName(name)
            self.editor_note.style().unpolish(self.editor_note)
            self.editor_note.style().polish(self.editor_note)
        self.editor_note.setText(message)
        if error:
            QTimer.singleShot(0, lambda: self.editor_scroll.ensureWidgetVisible(
                self.editor_note, 8, 8))

    def _editor_error(self, message: str) -> None:
        self._note(message, error=True)

    def _fill_editor(self, prompt: SuitePrompt | None) -> None:
        same = (prompt is not None and self._shown_prompt is not None
                and prompt.id == self._shown_prompt.id)
        self._shown_prompt = prompt
        for widget in (self.prompt_text, self.prompt_system, self.prompt_reference,
                       self.check_editor):
            widget.blockSignals(True)
        self.prompt_text.setPlainText(prompt.prompt if prompt else "")
        self.prompt_system.setText(prompt.system or "" if prompt else "")
        self.prompt_reference.setText(prompt.reference or "" if prompt else "")
        self.check_editor.reference = (prompt.reference or "").strip() if prompt else ""
        self.check_editor.set_checks(prompt.checks if prompt else [])
        for widget in (self.prompt_text, self.prompt_system, self.prompt_reference,
                       self.check_editor):
            widget.blockSignals(False)
        if not same:  # "Saved." stays when the saved prompt comes back from the database
            self._note("")
        self._update_editor_state()

    def _leave_editor(self) -> bool:
        """Before the editor shows something else: unsaved edits are saved, dropped or kept
        (Save/Discard/Cancel). False: the user chose to stay (Cancel)."""
        if self._asking or not self.editor_changed():
            return True
        answer = self._ask_save()
        if answer == QMessageBox.StandardButton.Save:
            self._save_edits()
            return True
        return answer == QMessageBox.StandardButton.Discard

    def ready_to_close(self, close_again: Callable[[], None]) -> bool:
        """The window is closing: True when nothing is left unsaved (or the user dropped it).
        Save starts the save and answers False; ``close_again`` runs once it is written, so
        quitting never cancels a save still queued on the worker."""
        if not self.editor_changed():
            return True
        answer = self._ask_save()
        if answer == QMessageBox.StandardButton.Save:
            self._save_edits(then=close_again)
            return False
        return answer == QMessageBox.StandardButton.Discard

    def _ask_save(self) -> QMessageBox.StandardButton:
        shown = self._shown_prompt
        what = (f"the prompt “{_short(shown.prompt)}”" if shown is not None
                else "the new prompt (it is not added yet)")
        self._asking = True
        try:
            return QMessageBox.question(
                self, "Unsaved changes", f"Save the changes to {what}?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        finally:
            self._asking = False

    def _save_edits(self, then: Callable[[], None] | None = None) -> None:
        """The editor's edits saved to the prompt on show, or added as a new prompt."""
        shown = self._shown_prompt
        if shown is not None and shown.id is not None:
            self._save(shown.id, self._edited_prompt(), then=then)
        else:
            self.add_prompt(select=False, then=then)

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
            item = QListWidgetItem(_prompt_row(prompt))
            item.setToolTip(_prompt_tip(prompt))
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
        return SuitePrompt(self.prompt_text.toPlainText().strip(),
                           self.prompt_system.text().strip() or None,
                           self.prompt_reference.text().strip() or None,
                           self.check_editor.checks())

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

    def add_prompt(self, select: bool = True,
                   then: Callable[[], None] | None = None) -> None:
        """The editor's content as a new prompt of the chosen suite (selected once added,
        unless the user is moving on to another prompt)."""
        suite_id, prompt = self.suite_id, self._edited_prompt()
        if suite_id is None:
            self._editor_error("Choose or create a suite first.")
            return
        if not prompt.prompt:
            self._editor_error("Type the prompt first.")
            return

        def added(prompt_id: int) -> None:
            if select:
                self._select_prompt = prompt_id
                self._shown_prompt = None
                self._note("Added.")
            if then is not None:
                then()

        self._op(lambda db: add_prompt(db, suite_id, _normalized(prompt)), added,
                 "adding a prompt", changes=("suites",), failure=self._editor_error)

    def save_prompt(self) -> None:
        item = self.prompts.currentItem()
        if item is None:
            return
        self._save(item.data(Qt.ItemDataRole.UserRole).id, self._edited_prompt())

    def _save(self, prompt_id: int, prompt: SuitePrompt,
              then: Callable[[], None] | None = None) -> None:
        """Save one prompt's edits; "Saved." beside the buttons when it is the one shown."""
        def saved(_result: object) -> None:
            if self._shown_prompt is not None and self._shown_prompt.id == prompt_id:
                self._shown_prompt = SuitePrompt(prompt.prompt, prompt.system,
                                                 prompt.reference, prompt.checks, prompt_id)
                self._note("Saved.")
                self._update_editor_state()
            self.show_status(f"Saved the prompt “{_short(prompt.prompt)}”.")
            if then is not None:
                then()

        self._op(lambda db: update_prompt(db, prompt_id, _normalized(prompt)), saved,
                 "saving a prompt", changes=("suites",), failure=self._editor_error)

    def delete_prompt(self) -> None:
        item = self.prompts.currentItem()
        if item is None:
            return
        prompt_id = item.data(Qt.ItemDataRole.UserRole).id
        self._op(lambda db: delete_prompt(db, prompt_id), None,
                 "deleting a prompt", changes=("suites",), failure=self._editor_error)


def _short(text: str, limit: int = PROMPT_ROW_CHARS) -> str:
    """A prompt's start on one line (the list's rows, a question, a confirmation)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _prompt_row(prompt: SuitePrompt) -> str:
    """A prompt in the list: its start and how many checks it has ("· 2 checks"), so a
    prompt without checks (never judged pass or fail) stands out."""
    count = len(prompt.checks or [])
    checks = f"{count} check{'s' if count != 1 else ''}" if count else "no checks"
    return f"{_short(prompt.prompt)}  · {checks}"


def _prompt_tip(prompt: SuitePrompt) -> str:
    from ui.views.trials.checks import describe

    checks = "\n".join(f"• {describe(check)}" for check in prompt.checks or [])
    return f"{prompt.prompt[:1000]}\n\n{checks or 'No checks: every reply is kept unjudged.'}"


def _normal_checks(checks: list[Any], reference: str | None) -> list[Any]:
    from workbench.trials.checks import normalize_checks

    return normalize_checks(checks or None, reference) or []


def _normalized(prompt: SuitePrompt) -> SuitePrompt:
    """The editor's checks in the core's stored form (raises the core's one-line error)."""
    from workbench.trials.checks import normalize_checks

    prompt.checks = normalize_checks(prompt.checks or None, prompt.reference)
    return prompt
