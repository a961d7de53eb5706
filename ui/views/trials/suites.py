"""The trials page's left side: prompt suites and their prompts, listed, edited, imported.

A part of :class:`~ui.views.trials.page.TrialsPage`, not a widget of its own: it builds its
widgets on the page and reads and sets the page's state (``suite_id``, ``counts``), runs its
work through the page's operations (``_op``) and reports in the page's status line, so the
page (and its tests) reach the suite list and the editor as before.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
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


class SuitesPart:
    """Suites and prompts: the list, the editor and their operations (a part of the page)."""

    def _build_suites(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(4, 4, 8, 4)
        layout.addWidget(Label("<h3>Prompt suites</h3>", rich=True))
        self.suites = QListWidget()
        self.suites.setAccessibleName("Prompt suites")
        self.suites.setMinimumHeight(72)
        self.suites.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.suites.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.suites.currentItemChanged.connect(self._suite_chosen)
        layout.addWidget(self.suites, 1)
        buttons = QHBoxLayout()
        for text, slot in (("New…", self.new_suite), ("Import…", self.import_dialog),
                           ("Rename…", self.rename_suite), ("Delete", self.delete_suite)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        layout.addWidget(Label("Prompts"))
        self.prompts = QListWidget()
        self.prompts.setAccessibleName("Prompts")
        self.prompts.setMinimumHeight(72)
        self.prompts.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.prompts.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.prompts.currentItemChanged.connect(self._prompt_chosen)
        layout.addWidget(self.prompts, 1)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # labels above: narrow
        self.prompt_text = QPlainTextEdit()
        self.prompt_text.setPlaceholderText("What the models are asked")
        self.prompt_text.setMaximumHeight(70)
        self.prompt_system = QLineEdit()
        self.prompt_system.setPlaceholderText("Optional system prompt")
        self.prompt_reference = QLineEdit()
        self.prompt_reference.setPlaceholderText("Optional: the answer you expect")
        self.prompt_reference.textChanged.connect(self._reference_changed)
        self.check_editor = CheckEditor()
        form.addRow("Prompt", self.prompt_text)
        form.addRow("System", self.prompt_system)
        form.addRow("Reference", self.prompt_reference)
        form.addRow("Checks", self.check_editor)
        layout.addLayout(form)
        edit = QHBoxLayout()
        for text, slot in (("Add prompt", self.add_prompt), ("Save prompt", self.save_prompt),
                           ("Delete prompt", self.delete_prompt)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            edit.addWidget(button)
        layout.addLayout(edit)
        # The editor scrolls rather than squeezing its fields on a short screen.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(box)
        # as wide as its fields need (the splitter never squeezes them behind the edge)
        scroll.setMinimumWidth(box.minimumSizeHint().width()
                               + scroll.verticalScrollBar().sizeHint().width())
        return scroll

    def _suite_chosen(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        self.suite_id = item.data(Qt.ItemDataRole.UserRole)
        suite_id = self.suite_id
        self._op(lambda db: get_suite(db, suite_id), self._show_suite,
                 "loading a suite", key="suite")

    def _show_suite(self, suite: Any) -> None:
        current = self.prompts.currentItem()
        keep = current.data(Qt.ItemDataRole.UserRole).id if current is not None else None
        self.prompts.blockSignals(True)
        self.prompts.clear()
        for prompt in suite.prompts:
            item = QListWidgetItem(" ".join(prompt.prompt.split())[:70])
            item.setToolTip(prompt.prompt[:1000])
            item.setData(Qt.ItemDataRole.UserRole, prompt)
            self.prompts.addItem(item)
            if prompt.id == keep:
                self.prompts.setCurrentItem(item)
        self.prompts.blockSignals(False)
        self.counts["prompts"] = len(suite.prompts)
        self._update_guide()

    def _prompt_chosen(self, item: QListWidgetItem | None) -> None:
        prompt: SuitePrompt | None = item.data(Qt.ItemDataRole.UserRole) if item else None
        self.prompt_text.setPlainText(prompt.prompt if prompt else "")
        self.prompt_system.setText(prompt.system or "" if prompt else "")
        self.prompt_reference.setText(prompt.reference or "" if prompt else "")
        self.check_editor.set_checks(prompt.checks if prompt else [])

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
        if name is None:
            name, ok = QInputDialog.getText(self, "New suite", "Name")
            if not ok:
                return
        if not name.strip():
            self.show_error("A suite needs a name.")
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
            self.show_error("A suite needs a name.")
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

        self._op(lambda db: delete_suite(db, chosen[0]), removed,
                 "deleting a suite", changes=("suites",))

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a suite", "",
                                              "Suites (*.jsonl *.csv *.txt);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        self._op(lambda db: import_suite(db, path).id, self._suite_made,
                 "importing a suite", changes=("suites",), resource="disk")

    def add_prompt(self) -> None:
        suite_id, prompt = self.suite_id, self._edited_prompt()
        if suite_id is None:
            self.show_error("Choose or create a suite first.")
            return
        if not prompt.prompt:
            self.show_error("Type the prompt first.")
            return
        self._op(lambda db: add_prompt(db, suite_id, _normalized(prompt)),
                 None, "adding a prompt", changes=("suites",))

    def save_prompt(self) -> None:
        item = self.prompts.currentItem()
        if item is None:
            return
        prompt_id = item.data(Qt.ItemDataRole.UserRole).id
        prompt = self._edited_prompt()
        self._op(lambda db: update_prompt(db, prompt_id, _normalized(prompt)),
                 None, "saving a prompt", changes=("suites",))

    def delete_prompt(self) -> None:
        item = self.prompts.currentItem()
        if item is None:
            return
        prompt_id = item.data(Qt.ItemDataRole.UserRole).id
        self._op(lambda db: delete_prompt(db, prompt_id), None,
                 "deleting a prompt", changes=("suites",))


def _normalized(prompt: SuitePrompt) -> SuitePrompt:
    """The editor's checks in the core's stored form (raises the core's one-line error)."""
    from workbench.trials.checks import normalize_checks

    prompt.checks = normalize_checks(prompt.checks or None, prompt.reference)
    return prompt
