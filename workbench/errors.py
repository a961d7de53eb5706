"""User-facing errors.

Everything a user can cause (a bad file, a Hub refusal, a full disk, a database from a newer
version) is raised as a subclass of :class:`WorkbenchError` with a one-line message that names
the thing and the reason. The CLI and the window show that line, never a traceback.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


class WorkbenchError(Exception):
    """Root of every error meant for the user: ``str(error)`` is the whole message."""


class ModelFileError(WorkbenchError):
    """A model file is missing, empty, not GGUF, truncated, or cannot be loaded."""


class ModelNotFound(WorkbenchError):
    """No model (or more than one) in the library matches what the user typed."""


class EngineCrashed(WorkbenchError):
    """llama.cpp ended the engine process (an abort, a memory fault, a model file truncated
    while in use); the app goes on, the reply keeps its text, the next request reloads."""

    reason: str = ""


class ContextOverflowError(WorkbenchError):
    """A single prompt is too long for the model's context window."""


class StoreError(WorkbenchError):
    """The database cannot be opened, migrated or written."""


class NewerDatabaseError(StoreError):
    """The database was written by a newer Workbench; it is left untouched."""


class NotFoundError(WorkbenchError):
    """A conversation, trial or other stored record does not exist."""


class HubError(WorkbenchError):
    """The Hugging Face Hub (or the configured mirror) refused or failed a request."""


class OfflineError(HubError):
    """Workbench is in offline mode, so it makes no network connection at all."""


class DownloadError(WorkbenchError):
    """A download could not be completed or verified; nothing half-written was kept."""


class InvalidInputError(WorkbenchError):
    """A value the user gave (an option, a file to import) is not usable."""


def refuse_unknown_keys(value: Iterable[str], known: Collection[str], where: str) -> None:
    """One line for the first key of VALUE (a dict's keys) not in KNOWN, naming the known ones:
    ``check judge: unknown key 'rubrik' (known: model, rubric)``."""
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise InvalidInputError(f"{where}: unknown key '{unknown[0]}' "
                                f"(known: {', '.join(sorted(known))})")


class TemplateError(WorkbenchError):
    """A model's chat template cannot be parsed or rendered, or ran past its budget."""


class AlreadyInLibraryError(WorkbenchError):
    """The file being added has the same contents (sha256) as a model already in the library.

    ``model_id`` names that entry, so a caller adding many files (``scan --add``) can count
    the copy as present rather than failed."""

    def __init__(self, message: str, model_id: int | None = None) -> None:
        super().__init__(message)
        self.model_id = model_id


class NoConnectionError(HubError):
    """The Hub's host cannot be reached at all (no network, no DNS): local work still goes on."""


class McpError(WorkbenchError):
    """An MCP server could not be started or reached, broke the protocol, or failed a call;
    the chat goes on without it (or with the call's failure as the tool's result)."""
