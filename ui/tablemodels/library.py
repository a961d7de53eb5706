"""The local library as a table: one row per GGUF file the user has."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from ui import theme
from workbench.library import Model
from workbench.pool_fit import PoolFit
from workbench.units import human_count, human_size

from .base import Column, RowTableModel

SOURCE_LABELS = {
    "local": "Added by hand",
    "hub": "Hugging Face",
    "demo": "Bundled demo",
    # workbench.scan's sources: the app whose folder the file was found in.
    "hf-cache": "Hugging Face cache",
    "lmstudio": "LM Studio",
    "gpt4all": "GPT4All",
    "jan": "Jan",
    "ollama": "Ollama",
}


#: A verdict's kind -> the theme role of its text (as Discover's, plus "pool").
VERDICT_COLOURS = {"gpu": "ok", "cpu": "ok", "pool": "ok", "partial": "warn", "no": "error_text"}


def source_label(model: Model) -> str:
    """Where the file came from, in words; a Hub download names its repository."""
    label = SOURCE_LABELS.get(model.source, model.source.title())
    repo = model.provenance.get("repo")
    return f"{label} · {repo}" if repo and model.source == "hub" else label


class LibraryTableModel(RowTableModel[Model]):
    """Models from :func:`workbench.library.list_models`, fetched on the database worker."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        #: Verdicts by model id (:func:`workbench.pool_fit.library_fits`, made on a worker).
        self.fits: dict[int, PoolFit] = {}
        self.columns = (*self.columns, Column("Fit", self.fit_text, self.fit_rank,
                                              tooltip=self.fit_detail))

    def set_fits(self, fits: dict[int, PoolFit]) -> None:
        self.fits = dict(fits)
        if self._rows:
            self.dataChanged.emit(self.index(0, len(self.columns) - 1),
                                  self.index(len(self._rows) - 1, len(self.columns) - 1))

    def fit_text(self, model: Model) -> str:
        verdict = self.fits.get(model.id)
        return verdict.label() if verdict else "-"

    def fit_rank(self, model: Model) -> int:
        verdict = self.fits.get(model.id)
        return ["gpu", "cpu", "partial", "pool", "no"].index(verdict.kind) if verdict else 9

    def fit_detail(self, model: Model) -> str | None:
        verdict = self.fits.get(model.id)
        return verdict.summary() if verdict else None

    def extra(self, row: Model, column: Column[Any], role: int) -> Any:
        if column.title == "Fit" and role == Qt.ItemDataRole.ForegroundRole:
            verdict = self.fits.get(row.id)
            if verdict is not None:
                return theme.role_color(VERDICT_COLOURS.get(verdict.kind, "ok"))
        return None

    columns = (
        Column("Name", lambda m: m.name, tooltip=lambda m: m.path),
        Column("Kind", lambda m: (m.kind_label or "chat") + (" · vision" if m.sees else ""),
               tooltip=lambda m: f"Sees images through {m.mmproj}" if m.sees else ""),
        Column("Architecture", lambda m: m.architecture),
        Column("Parameters", lambda m: human_count(m.parameters), lambda m: m.parameters,
               numeric=True),
        Column("Quantization", lambda m: m.quantization),
        Column("Size", lambda m: human_size(m.file_size), lambda m: m.file_size, numeric=True),
        Column("Context", lambda m: f"{m.context_length:,}" if m.context_length else "-",
               lambda m: m.context_length or 0, numeric=True),
        Column("License", lambda m: m.license or "-"),
        Column("Source", source_label),
    )

    def row_of_id(self, model_id: int) -> int:
        """The row showing the model with this id, or -1."""
        for number, model in enumerate(self._rows):
            if model.id == model_id:
                return number
        return -1
