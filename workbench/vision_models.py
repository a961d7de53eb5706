"""Models that see: a model paired with its vision projector (an ``mmproj`` GGUF).

A projector is built for one text model: its last layer writes vectors of that model's
embedding width (``clip.vision.projection_dim``), and llama.cpp refuses a mismatch only when
the first image arrives ("mismatch between text model (n_embd = ...)"). So the pair is checked
from both headers when it is made, and a projector for another size or architecture is refused
then, naming both files. A projector in the model's folder is paired when the model is added
(as LM Studio and llama-server's ``-hf`` do); ``models add MODEL --mmproj FILE`` pairs one
chosen by the user.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench.errors import InvalidInputError, ModelFileError
from workbench.gguf_header import GGUFHeader, read_header

#: Projector types made for one family of text models (clip.cpp's names), and the text
#: architectures they feed. Types not listed (mlp, ldp, ...: LLaVA-style) pair with any.
FAMILY_PROJECTORS: dict[str, tuple[str, ...]] = {
    "gemma3": ("gemma3",), "gemma3nv": ("gemma3n",), "qwen2vl_merger": ("qwen2vl",),
    "qwen2.5vl_merger": ("qwen2vl",), "qwen3vl_merger": ("qwen3vl", "qwen3vlmoe"),
    "llama4": ("llama4",), "pixtral": ("llama", "mistral3"), "lfm2": ("lfm2",),
    "kimivl": ("deepseek2",), "cogvlm": ("cogvlm",), "internvl": ("qwen2", "qwen3", "llama"),
    "idefics3": ("llama",),
}


def is_projector_name(name: str) -> bool:
    """The naming convention every converter and the Hub use for projectors."""
    lowered = name.lower()
    return "mmproj" in lowered and lowered.endswith(".gguf")


def projector_facts(header: GGUFHeader) -> dict[str, Any]:
    """What a projector says about itself: its type and the embedding width it writes."""
    kind = header.get("clip.projector_type") or header.get("clip.vision.projector_type")
    width = header.get("clip.vision.projection_dim")
    return {"type": str(kind) if kind else "mlp", "width": int(width) if width else None,
            "vision": bool(header.get("clip.has_vision_encoder", True))}


def check_pair(model_path: str | Path, mmproj_path: str | Path) -> None:
    """One line unless the projector at ``mmproj_path`` fits the model at ``model_path``."""
    model_path, mmproj_path = Path(model_path), Path(mmproj_path)
    header = read_header(mmproj_path)
    problem = pair_problem(None, header, model_path.name, mmproj_path.name)
    if problem is None:  # the projector itself first, then against the model
        problem = pair_problem(read_header(model_path), header, model_path.name,
                               mmproj_path.name)
    if problem:
        raise InvalidInputError(problem)


def pair_problem(model: GGUFHeader | None, projector: GGUFHeader, model_name: str,
                 mmproj_name: str) -> str | None:
    """Why the projector does not fit the model, in one line, or None when it does; from
    the two headers alone, so a download checks a pair (over HTTP Range) before it starts.
    ``model`` None checks the projector only."""
    if projector.architecture != "clip":
        return (f"{mmproj_name}: not a vision projector (its architecture is "
                f"{projector.architecture}, not clip)")
    facts = projector_facts(projector)
    if not facts["vision"]:
        return f"{mmproj_name}: this projector has no image encoder"
    if model is None:
        return None
    width = model.arch_value("embedding_length")
    if facts["width"] and width and int(width) != facts["width"]:
        return (f"{mmproj_name} does not fit {model_name}: the projector writes "
                f"{facts['width']}-wide embeddings for a text model of that width, and "
                f"{model_name} ({model.architecture}) is {int(width)} wide; use the mmproj "
                "from the same repository as the model")
    families = FAMILY_PROJECTORS.get(facts["type"])
    if families and model.architecture not in families:
        return (f"{mmproj_name} does not fit {model_name}: a {facts['type']} projector "
                f"feeds {' or '.join(families)} models, and {model_name} is "
                f"{model.architecture}")
    return None


def pair(db: Database, model_id: int, model_path: str | Path, mmproj_path: str | Path) -> None:
    """Pair the library's model ``model_id`` with the projector at ``mmproj_path`` after
    :func:`check_pair` (the library calls this: ``add_model(..., mmproj=...)``)."""
    path = Path(mmproj_path).expanduser().absolute()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    check_pair(model_path, path)
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 22):
            digest.update(block)
    db.table("models").update(model_id, {"mmproj": str(path),
                                         "mmproj_sha256": digest.hexdigest()})


def projector_beside(model_path: str | Path) -> Path | None:
    """The one projector in the model's folder that fits it, else None (none, or several
    that fit: then the user chooses with ``--mmproj``)."""
    folder = Path(model_path).parent
    fitting = []
    for candidate in sorted(folder.glob("*.gguf")):
        if not is_projector_name(candidate.name):
            continue
        try:
            check_pair(model_path, candidate)
        except (InvalidInputError, ModelFileError):
            continue
        fitting.append(candidate)
    return fitting[0] if len(fitting) == 1 else None


def usable_projector(mmproj: str | None) -> str | None:
    """The paired projector's path while its file is there (a model whose projector went
    missing still chats; given an image it says it cannot see)."""
    return mmproj if mmproj and Path(mmproj).is_file() else None
