"""Hub search results and a repository's files, as tables.

Files carry a fit verdict for this machine at the chosen context; the verdict is computed on the
hub worker (it may read a remote header) and handed to :meth:`RepoFilesTableModel.set_verdicts`,
so the table only formats what it is given.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from ui import theme
from workbench.fit import Verdict
from workbench.hub.files import HubModelFile
from workbench.hub.search import RepoResult
from workbench.pool_fit import PoolFit
from workbench.units import human_count, human_size

from .base import Column, RowTableModel
from .format import human_date

#: Verdict kind (:mod:`workbench.fit`) -> theme role of its text; the order is the sort order.
VERDICT_COLOURS = {"gpu": "ok", "cpu": "ok", "pool": "ok", "partial": "warn", "no": "error_text",
                   "unknown": "muted"}


def verdict_label(verdict: Verdict | PoolFit | None) -> str:
    """A few words for the table; the tooltip carries :meth:`Verdict.summary`'s numbers."""
    if verdict is None:
        return "unknown"
    if isinstance(verdict, PoolFit):  # the pool counted: "Fits across this computer and..."
        return verdict.label()
    need = human_size(verdict.estimate.total)
    approx = "~" if verdict.estimate.source == "estimate" else ""
    if verdict.kind == "gpu":
        return f"✓ Fits on GPU · {approx}{need}"
    if verdict.kind == "partial":
        return (f"◐ Partial GPU ({verdict.gpu_layers}/{verdict.estimate.n_layer} layers) · "
                f"{approx}{need}")
    if verdict.kind == "cpu":
        return f"✓ Fits in RAM · {approx}{need}"
    return f"✕ Too large · {approx}{need}"


class HubResultsTableModel(RowTableModel[RepoResult]):
    """:func:`workbench.hub.search.search_models` results."""

    columns = (
        Column("Repository", lambda r: r.repo_id,
               tooltip=lambda r: "Gated: accept its terms on the Hub first" if r.gated else None),
        Column("Downloads", lambda r: human_count(r.downloads), lambda r: r.downloads or 0,
               numeric=True),
        Column("Likes", lambda r: human_count(r.likes), lambda r: r.likes or 0, numeric=True),
        Column("License", lambda r: r.license or "-"),
        Column("Updated", lambda r: human_date(r.last_modified), lambda r: r.last_modified or ""),
    )


class RepoFilesTableModel(RowTableModel[HubModelFile]):
    """One repository's models (split files joined, projectors marked) with fit verdicts."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.verdicts: dict[str, Any] = {}
        #: The projector a download brings along (the smallest that fits the models).
        self.chosen_projector: str | None = None
        self.columns = (
            Column("File", self.file_text, lambda f: f.name.lower()),
            Column("Quantization", lambda f: f.quantization or "-"),
            Column("Size", lambda f: human_size(f.size) if f.size else "-", lambda f: f.size,
                   numeric=True),
            Column("Fit on this machine", self.verdict_text, self.verdict_rank,
                   tooltip=self.verdict_detail),
        )

    def set_rows(self, rows: Any) -> None:
        self.verdicts = {}
        self.chosen_projector = None
        super().set_rows(rows)

    def set_verdicts(self, verdicts: dict[str, Any]) -> None:
        """Verdicts by file name (from :mod:`workbench.fit`), shown in the last column."""
        self.verdicts = dict(verdicts)
        if self._rows:
            column = self.column_index("Fit on this machine")
            self.dataChanged.emit(self.index(0, column),
                                  self.index(len(self._rows) - 1, column))

    @staticmethod
    def file_text(file: HubModelFile) -> str:
        name = file.name.rsplit("/", 1)[-1]
        notes = []
        if file.is_split:
            notes.append(f"{len(file.parts)} parts")
        if file.projector:
            notes.append("vision projector")
        if file.missing_parts:
            notes.append(f"{file.missing_parts} parts missing")
        return f"{name}  ({', '.join(notes)})" if notes else name

    def verdict_of(self, file: HubModelFile) -> Verdict | PoolFit | None:
        return self.verdicts.get(file.name)

    def verdict_text(self, file: HubModelFile) -> str:
        if file.projector:
            if file.name == self.chosen_projector:
                return "— comes with the models"
            return "— (loaded beside a model)"
        if not self.verdicts:
            return "checking…"
        return verdict_label(self.verdict_of(file))

    def verdict_rank(self, file: HubModelFile) -> int:
        verdict = self.verdict_of(file)
        kinds = list(VERDICT_COLOURS)
        kind = verdict.kind if verdict else "unknown"
        return kinds.index(kind) if kind in kinds else len(kinds)

    def verdict_detail(self, file: HubModelFile) -> str | None:
        verdict = self.verdict_of(file)
        return verdict.summary() if verdict is not None else None

    def extra(self, row: HubModelFile, column: Column[Any], role: int) -> Any:
        if column.title == "Fit on this machine" and role == Qt.ItemDataRole.ForegroundRole:
            verdict = self.verdict_of(row)
            kind = verdict.kind if verdict is not None and not row.projector else "unknown"
            return theme.role_color(VERDICT_COLOURS.get(kind, VERDICT_COLOURS["unknown"]))
        return None
