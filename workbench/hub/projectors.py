"""Which vision projector (mmproj) comes with a model pulled from the Hub.

A repository of a vision model publishes its projector beside the model files, often in
several precisions (``mmproj-model-f16.gguf``, ``mmproj-...-Q8_0.gguf``). Choosing a model
file brings the projector along, as llama-server's ``-hf`` does: the user's choice when they
name one, else the smallest that fits the model. "Fits" is decided before any download from
both headers, read over HTTP Range (:func:`workbench.vision_models.pair_problem`): the
projector's output width must be the model's embedding width, and a family projector
(gemma3, Qwen-VL...) must feed that family. A projector whose header cannot be read is still
offered by size (the pair is checked again when the files are on disk).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.errors import DownloadError, HubError, ModelFileError
from workbench.gguf_header import GGUFHeader
from workbench.hub.client import HubClient
from workbench.hub.files import HubModelFile, RepoFiles
from workbench.hub.remote_header import read_remote_header
from workbench.vision_models import pair_problem


@dataclass
class ProjectorChoice:
    """The projector a pull brings along (None: the model comes alone), its header when it
    could be read, and one line for each projector left out and why."""

    file: HubModelFile | None = None
    header: GGUFHeader | None = None
    skipped: list[str] = field(default_factory=list)


def projectors_of(repo: RepoFiles) -> list[HubModelFile]:
    """The repository's projectors that can be downloaded, smallest first."""
    found = [m for m in repo.files if m.projector and not m.missing_parts]
    return sorted(found, key=lambda m: (m.size, m.name))


def choose_projector(client: HubClient, repo: RepoFiles, model: HubModelFile,
                     model_header: GGUFHeader | None, choice: str | None = None,
                     ) -> ProjectorChoice:
    """The projector for ``model``: ``choice`` (a projector's name in the repository) or the
    smallest that fits. A chosen projector that does not fit is refused, naming both."""
    candidates = projectors_of(repo)
    if choice is not None:
        chosen = repo.find(choice)
        if chosen is None or not chosen.projector:
            names = ", ".join(m.name for m in candidates) or "none"
            raise DownloadError(f"{repo.repo_id}: no projector '{choice}' (its projectors: "
                                f"{names})")
        candidates = [chosen]
    result = ProjectorChoice()
    for candidate in candidates:
        header = None
        try:
            header = read_remote_header(client, repo.repo_id, candidate.parts[0].path,
                                        repo.commit).header
        except (HubError, ModelFileError) as error:
            if isinstance(error, HubError) and "token" in str(error):
                raise
        if header is not None:
            problem = pair_problem(model_header, header, model.name, candidate.name)
            if problem:
                if choice is not None:
                    raise DownloadError(problem)
                result.skipped.append(problem)
                continue
        result.file, result.header = candidate, header
        return result
    return result
