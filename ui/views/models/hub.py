"""The Discover tab: search the Hub, open a repository, see which files fit, download one.

Searches and file listings run on the "hub" worker; a download goes to the download queue
(its own worker), so browsing never waits for a download and a download never waits for a
search. Each request supersedes the one before it (one operation key), so a late answer to an
old request (the user clicked on) is dropped rather than shown over the new one. With no
network a search ends within two seconds with "No internet connection: your local models
still work" (the core looks at the host once before asking huggingface_hub).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from sqlite_utils import Database

from ui.services import Services
from ui.tablemodels.format import human_date
from ui.tablemodels.hub import HubResultsTableModel, RepoFilesTableModel
from ui.views.models.widgets import MessageBar, heading, make_table, muted, selected_row
from ui.widgets.plain_label import Label
from workbench import fit, hardware
from workbench.errors import WorkbenchError
from workbench.gguf_header import GGUFHeader
from workbench.hub.client import HubClient
from workbench.hub.files import HubModelFile, RepoFiles, list_files
from workbench.hub.projectors import ProjectorChoice, choose_projector
from workbench.hub.remote_header import read_remote_header
from workbench.hub.search import SORTS, RepoResult, search_models
from workbench.pool_fit import (
    Member,
    PoolFit,
    check_unchecked,
    last_members,
    measured_rate,
    pool_fit,
)
from workbench.units import human_count, human_size
from workbench.workers import list_workers

CONTEXTS = (2048, 4096, 8192, 16384, 32768, 65536, 131072)


def search_job(db: Database, query: str, sort: str) -> list[RepoResult]:
    """On the hub worker. Each job makes its Hub client from the current settings, so a
    change of endpoint, token or offline mode applies to the very next request."""
    return search_models(HubClient.from_settings(db), query, sort=sort, limit=40)


def files_job(db: Database, repo_id: str) -> RepoFiles:
    return list_files(HubClient.from_settings(db), repo_id)


@dataclass
class FitInputs:
    """What the verdicts need, fetched once per repository on the hub worker: the smallest
    model's GGUF header (read over HTTP Range, a few hundred KB) and this machine's memory.
    With them, changing the context is arithmetic on the GUI thread."""

    header: GGUFHeader | None
    header_size: int | None
    machine: hardware.Hardware
    #: The usable workers (their last check) and this computer's measured weights rate:
    #: a file too large here alone is judged across the pool.
    members: list[Member] = field(default_factory=list)
    rate: float | None = None
    #: The repository's vision projector a download brings along (the smallest that fits,
    #: :func:`workbench.hub.projectors.choose_projector`): every verdict counts it.
    projector: HubModelFile | None = None
    projector_header: GGUFHeader | None = None


def fit_inputs_job(db: Database, repo: RepoFiles) -> FitInputs:
    """No readable header (a mirror without Range support, a broken file) is not an error:
    the verdicts fall back to an estimate from the file size and say so (``~``)."""
    machine = hardware.detect()
    members, rate = pool_members(db), measured_rate(db)
    models = [m for m in repo.files if not m.projector and m.size]
    if not models:
        return FitInputs(None, None, machine, members, rate)
    smallest = min(models, key=lambda m: m.size)
    client = HubClient.from_settings(db)
    try:
        remote = read_remote_header(client, repo.repo_id, smallest.parts[0].path,
                                    revision=repo.commit)
    except WorkbenchError:
        return FitInputs(None, None, machine, members, rate)
    try:
        chosen = choose_projector(client, repo, smallest, remote.header)
    except WorkbenchError:
        chosen = ProjectorChoice()
    return FitInputs(remote.header, smallest.size, machine, members, rate, chosen.file,
                     chosen.header)


def pool_members(db: Database) -> list[Member]:
    """The added workers as their last checks found them; on this (hub) worker, checked now
    when none was checked yet in this run."""
    check_unchecked(db)
    return last_members(list_workers(db))


def verdicts_for(repo: RepoFiles, inputs: FitInputs, n_ctx: int) -> dict[str, PoolFit]:
    """Each model file's fit verdict at ``n_ctx`` on this machine, or across it and the
    workers when it is too large alone (pure arithmetic)."""
    verdicts = {}
    for model in repo.files:
        if model.projector or not model.size:
            continue
        estimate = fit.estimate_for_header(inputs.header, model.size, n_ctx,
                                           parameters=repo.parameters,
                                           header_file_size=inputs.header_size)
        if inputs.projector is not None:
            estimate = fit.with_projector(estimate, inputs.projector.size,
                                          inputs.projector_header)
        verdicts[model.name] = pool_fit(estimate, inputs.machine, inputs.members,
                                        rate=inputs.rate)
    return verdicts


class HubTab(QWidget):
    """Search on the left, the chosen repository's files and their fit on the right."""

    download_requested = Signal(str, str, object)  # repo id, file name, commit (or None)

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.results_model = HubResultsTableModel(self)
        self.files_model = RepoFilesTableModel(self)
        self.repo: RepoFiles | None = None
        self.fit_inputs: FitInputs | None = None

        self.message = MessageBar()
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search GGUF models on the Hugging Face Hub…  "
                                      "(e.g. qwen, llama 3.2, gemma)")
        self.query.setClearButtonEnabled(True)
        self.sort = QComboBox()
        for label in SORTS:
            self.sort.addItem(f"Most {label}" if label in ("downloads", "likes") else
                              label.capitalize(), label)
        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("Primary")
        bar = QHBoxLayout()
        bar.addWidget(self.query, 1)
        bar.addWidget(self.sort)
        bar.addWidget(self.search_button)

        self.results = make_table(self.results_model, stretch="Repository")
        self.results_note = muted("Type a name and press Enter.")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.results, 1)
        left_layout.addWidget(self.results_note)

        self.repo_title = heading("Pick a repository", 14)
        self.repo_title.setWordWrap(True)
        self.repo_facts = muted("Its files, their size and whether they fit this machine "
                                "appear here.")
        self.context = QComboBox()
        for n_ctx in CONTEXTS:
            self.context.addItem(f"{n_ctx:,} tokens", n_ctx)
        self.context.setCurrentIndex(CONTEXTS.index(4096))
        self.context.setToolTip("The verdicts count the KV cache for this much context")
        self.files = make_table(self.files_model, stretch="File")
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("Primary")
        self.download_button.setEnabled(False)
        context_row = QHBoxLayout()
        context_row.addWidget(Label("Fit at context"))
        context_row.addWidget(self.context)
        context_row.addStretch(1)
        context_row.addWidget(self.download_button)

        right = QFrame()
        right.setObjectName("Card")
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(14, 12, 14, 12)
        right_layout.addWidget(self.repo_title)
        right_layout.addWidget(self.repo_facts)
        right_layout.addLayout(context_row)
        right_layout.addWidget(self.files, 1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([620, 620])
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.addLayout(bar)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        self.query.returnPressed.connect(self.search)
        self.search_button.clicked.connect(self.search)
        self.sort.currentIndexChanged.connect(lambda _i: self.query.text() and self.search())
        self.results.selectionModel().selectionChanged.connect(self._repo_chosen)
        self.files.selectionModel().selectionChanged.connect(self._file_chosen)
        self.files.doubleClicked.connect(lambda _index: self.download_selected())
        self.context.currentIndexChanged.connect(lambda _i: self._judge())
        self.download_button.clicked.connect(self.download_selected)

    # -- jobs -------------------------------------------------------------------------------
    @property
    def busy(self) -> int:
        """This tab's Hub operations in flight (tests wait for 0)."""
        return self.services.ops.busy(self)

    def _run(self, func: Any, *args: Any, name: str, on_done: Any) -> None:
        """Run on the hub worker; a newer request supersedes an older one, whose late answer
        (the user clicked on) is dropped rather than shown over the new one."""
        self.services.ops.run("hub", func, *args, name=name, initiator=self, key="request",
                              success=on_done, failure=self._failed)

    def _failed(self, message: str) -> None:
        self.message.show_error(message)
        self.results_note.setText("")

    # -- search -----------------------------------------------------------------------------
    def search(self) -> None:
        query = self.query.text().strip()
        self.message.clear()
        self.results_note.setText(f"Searching for “{query}”…" if query else "Listing the most "
                                  "popular GGUF repositories…")
        self._run(search_job, query, self.sort.currentData(),
                  name="searching the Hub", on_done=self._show_results)

    def _show_results(self, results: list[RepoResult]) -> None:
        self.results_model.set_rows(results)
        self.results_note.setText(f"{len(results)} repositories" if results else
                                  "Nothing found. Try a shorter name.")
        if results:
            self.results.selectRow(0)

    # -- one repository ---------------------------------------------------------------------
    def _repo_chosen(self, *_args: object) -> None:
        result = selected_row(self.results)
        if not isinstance(result, RepoResult):
            return
        self.open_repo(result.repo_id)

    def open_repo(self, repo_id: str) -> None:
        self.repo = None
        self.fit_inputs = None
        self.files_model.set_rows([])
        self.download_button.setEnabled(False)
        self.repo_title.setText(repo_id)
        self.repo_facts.setText("Listing files…")
        self._run(files_job, repo_id, name=f"listing {repo_id}",
                  on_done=self._show_files)

    def _show_files(self, repo: RepoFiles) -> None:
        self.repo = repo
        facts = [repo.license or "license not stated",
                 repo.architecture, f"{human_count(repo.parameters)} parameters"
                 if repo.parameters else None,
                 f"trained for {repo.context_length:,} tokens" if repo.context_length else None,
                 f"updated {human_date(repo.last_modified)}" if repo.last_modified else None,
                 "gated: accept the terms on the Hub first" if repo.gated else None]
        self.repo_facts.setText(" · ".join(f for f in facts if f))
        self.files_model.set_rows(repo.files)
        if not repo.files:
            self.message.show_info(f"{repo.repo_id} has no .gguf files.")
            return
        first = next((i for i, f in enumerate(repo.files) if not f.projector), 0)
        self.files.selectRow(self.files.model().mapFromSource(
            self.files_model.index(first, 0)).row())
        self._run(fit_inputs_job, repo, name="checking what fits",
                  on_done=self._got_fit_inputs)

    def _got_fit_inputs(self, inputs: FitInputs) -> None:
        self.fit_inputs = inputs
        self._judge()

    def _judge(self) -> None:
        """Verdicts at the chosen context: pure arithmetic once the header is here."""
        if self.repo is None or self.fit_inputs is None:
            return
        try:
            verdicts = verdicts_for(self.repo, self.fit_inputs, int(self.context.currentData()))
        except WorkbenchError as error:
            self.message.show_error(str(error))
            return
        projector = self.fit_inputs.projector
        self.files_model.chosen_projector = projector.name if projector else None
        self.files_model.set_verdicts(verdicts)
        self._file_chosen()

    def selected_file(self) -> HubModelFile | None:
        row = selected_row(self.files)
        return row if isinstance(row, HubModelFile) else None

    def _file_chosen(self, *_args: object) -> None:
        file = self.selected_file()
        self.download_button.setEnabled(file is not None and not file.missing_parts)
        if file is not None:
            projector = self.fit_inputs.projector if self.fit_inputs else None
            size = file.size + (projector.size if projector and not file.projector else 0)
            seen = " + projector" if projector and not file.projector else ""
            self.download_button.setText(f"Download {file.quantization or ''}".strip() + seen
                                         + (f" ({human_size(size)})" if size else ""))

    def download_selected(self) -> None:
        file = self.selected_file()
        if self.repo is None or file is None or file.missing_parts:
            return
        self.download_requested.emit(self.repo.repo_id, file.name, self.repo.commit)
