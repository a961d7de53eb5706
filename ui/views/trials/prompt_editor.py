"""The trials page's prompt editor: a prompt's text, system prompt, reference and checks,
marked when changed, and never left with unsaved edits without a question (choosing another
prompt or suite, importing, closing the window): Save, Discard or Cancel.

A part of :class:`~ui.views.trials.page.TrialsPage`, like :mod:`.suites` (whose widgets it
edits): it reads and sets the page's state and runs its work through the page's ``_op``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from workbench.trials.suites import SuitePrompt, add_prompt, delete_prompt, update_prompt

#: How many characters of a prompt its list row shows before "· 2 checks".
PROMPT_ROW_CHARS = 40
#: The mark before a prompt whose edits are not saved yet.
CHANGED_MARK = "● "


class PromptEditorPart:
    """The editor's state and its save, add and delete operations (a part of the page)."""

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
            text = prompt_row(prompt)
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
        self.check_editor.set_tools(prompt.tools if prompt else None)
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
                                                 prompt.reference, prompt.checks, prompt_id,
                                                 prompt.tools, prompt.tool_results,
                                                 docs=prompt.docs, sources=prompt.sources)
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


def prompt_row(prompt: SuitePrompt) -> str:
    """A prompt in the list: its start and how many checks it has ("· 2 checks"), so a
    prompt without checks (never judged pass or fail) stands out."""
    count = len(prompt.checks or [])
    checks = f"{count} check{'s' if count != 1 else ''}" if count else "no checks"
    return f"{_short(prompt.prompt)}  · {checks}"


def prompt_tip(prompt: SuitePrompt) -> str:
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
