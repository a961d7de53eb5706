"""Downloading a model from the Hub: checked before, resumable during, verified after.

Before a byte is written the file names are checked (nothing may land outside the models
folder), the fit verdict is made from the file's own header, and free disk space is checked.
Bytes go to ``<models>/.partial/<name>.part`` beside a small JSON record, hashed as they are
written; a broken connection, a cancel (closing the iterator) or a killed process leaves the
partial file, and the next pull re-hashes it and asks for the rest with an HTTP Range request.
Only when every part's sha256 matches the Hub's LFS hash are the files moved (atomically)
into the models folder and added to the library, with their provenance.

huggingface_hub's ``hf_hub_download`` resumes only within one call and deletes its partial
file on failure, so this is built on its pieces instead: ``hf_hub_url`` and
``get_hf_file_metadata`` for a fresh (signed) location on every attempt, and its session and
``http_stream_backoff`` for the transfer.

A model whose repository publishes a vision projector (mmproj) is pulled with it, as one
job: the projector is chosen before the download (:mod:`workbench.hub.projectors`),
downloaded and verified like the model's own parts, counted in the fit verdict, and paired
in the library (``--no-mmproj`` leaves it out).

Whole because a pull is one sequence (plan, transfer, verify, move, add) whose steps share
the plan; the choice of projector and the Hub's pieces live in their own modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from filelock import FileLock, Timeout
from huggingface_hub import get_hf_file_metadata, hf_hub_url
from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff
from sqlite_utils import Database

from workbench import fit, hardware, vision_models
from workbench.errors import (
    DownloadError,
    HubError,
    InvalidInputError,
    ModelFileError,
    WorkbenchError,
)
from workbench.hub.client import HubClient, httpx
from workbench.hub.files import HubModelFile, RemotePart, list_files
from workbench.hub.projectors import choose_projector
from workbench.hub.remote_header import read_remote_header
from workbench.hub.unfinished import PARTIAL_DIR, keep_refused
from workbench.library import Model, add_model, get_model, list_models, now
from workbench.pool_fit import Member, PoolFit, pool_fit
from workbench.safe_text import visible
from workbench.units import human_size
from workbench.vision_models import usable_projector

CHUNK = 1 << 20
PROGRESS_EVERY = 0.25  # seconds between progress events
REHASH_EVERY = 64 << 20
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

DiskFree = Callable[[Path], int]


def _disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


def disk_margin(size: int) -> int:
    """Space left over after a download: 2% of it, at least 256 MiB."""
    return max(256 << 20, size // 50)


# --- names -----------------------------------------------------------------------------------

def safe_relative(name: str, what: str = "file name") -> PurePosixPath:
    """A repository path that can only land inside the folder it is joined to, or an error."""
    bad = (
        not name
        or "\\" in name
        or ":" in name
        or name.startswith("/")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    )
    parts = PurePosixPath(name).parts if not bad else ()
    if bad or not parts or any(p in ("", ".", "..") or p != p.strip() for p in parts):
        raise DownloadError(f"{what} '{visible(name)}': refused (it could land outside the "
                            "models folder)")
    return PurePosixPath(*parts)


def check_repo_id(repo_id: str) -> tuple[str, str]:
    pieces = repo_id.split("/")
    if len(pieces) != 2 or not all(_NAME_PART.match(p) and ".." not in p for p in pieces):
        raise InvalidInputError(f"repository '{repo_id}': expected OWNER/NAME")
    return pieces[0], pieces[1]


#: Most file systems refuse a name (one path component) longer than this many bytes.
NAME_MAX = 255
#: Partial-file names longer than this are shortened and made unique with a hash.
PARTIAL_NAME_MAX = 200


def target_path(models_dir: Path, repo_id: str, filename: str) -> Path:
    """Where a Hub file lives in the models folder: ``<owner>/<repo>/<path in repo>``."""
    owner, name = check_repo_id(repo_id)
    relative = safe_relative(filename)
    for part in (owner, name, *relative.parts):
        if len(os.fsencode(part)) > NAME_MAX:
            raise DownloadError(f"file name '{visible(part[:60])}…': longer than the "
                                f"{NAME_MAX} bytes a file system allows in one name; it "
                                "cannot be saved")
    root = models_dir.resolve()
    path = root.joinpath(owner, name, *relative.parts)
    longest = _path_max(root)
    if len(os.fsencode(path)) >= longest:  # said before the download, not after it
        raise DownloadError(f"file name '{visible(filename[:60])}…': its path in the models "
                            f"folder is {len(os.fsencode(path)):,} bytes, longer than the "
                            f"{longest:,} this system allows; it cannot be saved")
    if not path.resolve().is_relative_to(root):  # a symlinked folder pointing elsewhere
        raise DownloadError(f"file name '{visible(filename)}': refused (it resolves outside "
                            f"{root})")
    return path


def _path_max(folder: Path) -> int:
    """The longest path the file system takes (4096 on Linux, 1024 on macOS)."""
    try:
        return int(os.pathconf(folder, "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):  # no pathconf on Windows
        return 4096


def partial_paths(models_dir: Path, repo_id: str, filename: str) -> tuple[Path, Path]:
    """The partial file and its JSON record; flat names, one per repository file."""
    key = "--".join([*repo_id.split("/"), *safe_relative(filename).parts])
    if len(os.fsencode(key)) > PARTIAL_NAME_MAX:
        # Long repository paths would exceed the file system's name limit (with .part.lock):
        # keep a readable start and make the name unique with a hash of the whole key.
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        key = f"{os.fsencode(key)[:120].decode('utf-8', 'ignore')}--{digest}"
    folder = models_dir / PARTIAL_DIR
    return folder / f"{key}.part", folder / f"{key}.json"


# --- events and plans ------------------------------------------------------------------------

@dataclass
class PullEvent:
    """One step of a pull, for a progress bar or a log line."""

    stage: str  # plan, fit, rehash, download, retry, verify, move, done, note
    message: str = ""
    file: str = ""
    done: int = 0
    total: int = 0
    rate: float = 0.0  # bytes per second
    eta: float | None = None  # seconds
    verdict: PoolFit | None = None
    model: Model | None = None


@dataclass
class PullPlan:
    """Everything decided before the first byte: what, where, whether it fits, disk space."""

    repo_id: str
    revision: str | None
    commit: str | None
    license: str | None
    gated: Any
    model: HubModelFile
    targets: list[Path]
    #: This computer's verdict, or the pool's when it is too large here alone and workers
    #: answered (:func:`workbench.pool_fit.pool_fit`).
    verdict: PoolFit
    models_dir: Path
    endpoint: str
    already_have: int = 0  # bytes of resumable partial files
    note: str | None = None
    header_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    #: The vision projector pulled with the model (one job, verified the same way), its
    #: place in the models folder, and a line for each projector left out.
    projector: HubModelFile | None = None
    projector_target: Path | None = None
    projector_skipped: list[str] = field(default_factory=list)

    @property
    def parts(self) -> list[tuple[RemotePart, Path]]:
        """Every file this pull writes, the model's parts first, with its target."""
        pairs = list(zip(self.model.parts, self.targets, strict=True))
        if self.projector is not None and self.projector_target is not None:
            pairs.append((self.projector.parts[0], self.projector_target))
        return pairs

    @property
    def size(self) -> int:
        return self.model.size + (self.projector.size if self.projector else 0)

    @property
    def remaining(self) -> int:
        return max(0, self.size - self.already_have)

    @property
    def disk_needed(self) -> int:
        return self.remaining + disk_margin(self.size)


def plan_pull(
    client: HubClient,
    models_dir: Path,
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    n_ctx: int = 4096,
    machine: hardware.Hardware | None = None,
    members: list[Member] | None = None,
    mmproj: str | None = None,
    with_mmproj: bool = True,
) -> PullPlan:
    """Resolve the file, judge the fit from its header, and find what is already here.

    A repository with a vision projector brings it along: ``mmproj`` (its name) chooses
    one, else the smallest that fits the model; ``with_mmproj=False`` leaves it out."""
    check_repo_id(repo_id)
    safe_relative(filename)
    repo = list_files(client, repo_id, revision)
    model = repo.find(filename)
    if model is None:
        raise HubError(f"{repo_id}: no GGUF file '{filename}' at "
                       f"{revision or 'main'} (list them with: llm-workbench files {repo_id})")
    if model.projector:
        raise DownloadError(f"{model.name}: a vision projector (mmproj), not a chat model")
    if model.missing_parts:
        raise DownloadError(f"{model.name}: {model.missing_parts} part(s) of this split model "
                            "are missing from the repository")
    targets = [target_path(models_dir, repo_id, p.path) for p in model.parts]
    note = None
    header = None
    header_bytes = 0
    try:
        remote = read_remote_header(client, repo_id, model.parts[0].path, repo.commit)
        header, header_bytes = remote.header, remote.bytes_fetched
    except (HubError, ModelFileError) as error:
        if isinstance(error, HubError) and "token" in str(error):
            raise
        note = f"could not read the header before download ({error}); the fit is estimated"
    estimate = fit.estimate_for_header(
        header, model.size, n_ctx, parameters=repo.parameters,
        header_file_size=model.parts[0].size if header is not None else None,
    )
    if mmproj is not None and not with_mmproj:
        raise InvalidInputError("--mmproj and --no-mmproj: choose one")
    chosen = choose_projector(client, repo, model, header, mmproj) if with_mmproj else None
    projector = chosen.file if chosen else None
    projector_target = None
    if projector is not None:
        projector_target = target_path(models_dir, repo_id, projector.parts[0].path)
        estimate = fit.with_projector(estimate, projector.size, chosen.header if chosen
                                      else None)
    verdict = pool_fit(estimate, machine or hardware.detect(), members or [])
    have = 0
    for part in model.parts + (projector.parts if projector else []):
        partial, record = partial_paths(models_dir, repo_id, part.path)
        if partial.exists() and _record_matches(record, repo_id, part):
            have += min(partial.stat().st_size, part.size or 0)
    return PullPlan(repo_id, revision, repo.commit, repo.license, repo.gated, model, targets,
                    verdict, models_dir, client.endpoint, have, note, header_bytes,
                    projector=projector, projector_target=projector_target,
                    projector_skipped=chosen.skipped if chosen else [])


def _record_matches(record_path: Path, repo_id: str, part: RemotePart) -> bool:
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return False
    return (record.get("repo") == repo_id and record.get("path") == part.path
            and record.get("size") == part.size and record.get("sha256") == part.sha256)


# --- the transfer ----------------------------------------------------------------------------

def run_pull(
    client: HubClient,
    db: Database,
    plan: PullPlan,
    *,
    force: bool = False,
    disk_free: DiskFree = _disk_free,
) -> Iterator[PullEvent]:
    """Download, verify, move and add; stop at any yield by closing the iterator."""
    name = f"{plan.repo_id}/{plan.model.name}"
    if not plan.verdict.fits and not force:
        raise DownloadError(f"{name}: {plan.verdict.summary()}; use --force to download anyway")
    existing = _already_in_library(db, plan)
    wanted = plan.parts
    if existing is not None:
        if plan.projector is None or usable_projector(existing.mmproj):
            yield PullEvent("done", f"{name} is already in the library as model {existing.id}",
                            file=plan.model.name, model=existing)
            return
        wanted = wanted[len(plan.model.parts):]  # the model is here: its projector only
    plan.models_dir.mkdir(parents=True, exist_ok=True)
    free = disk_free(plan.models_dir)
    needed = sum(p.size or 0 for p, _ in wanted)
    needed = max(0, needed - plan.already_have) + disk_margin(needed)
    if free < needed:
        raise DownloadError(
            f"{name}: not enough disk space in {plan.models_dir} (needs "
            f"{human_size(needed)} with margin, {human_size(free)} free)"
        )
    client.require_online()
    digests: list[str] = []
    offset, job = 0, sum(p.size or 0 for p, _ in wanted)
    for index, (part, _target) in enumerate(wanted):
        digest = yield from _in_job(_download_part(client, plan, part, index, len(wanted)),
                                    offset, job)
        digests.append(digest)
        offset += part.size or 0
    moved: list[tuple[Path, Path, Path]] = []  # (target, partial, record)
    for part, target in wanted:
        partial, record = partial_paths(plan.models_dir, plan.repo_id, part.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
        moved.append((target, partial, record))
    yield PullEvent("move", f"saved to {wanted[0][1]}", file=wanted[0][0].path)
    if existing is not None:  # the projector for a model already here
        model = yield from _pair_existing(db, existing, plan, moved)
        yield PullEvent("done", f"model {model.id} ({model.name}) paired with "
                        f"{plan.projector.name if plan.projector else ''}",
                        file=plan.model.name, model=model)
        return
    count = len(plan.model.parts)
    provenance: dict[str, Any] = {
        "source": "huggingface",
        "endpoint": plan.endpoint,
        "repo": plan.repo_id,
        "revision": plan.revision or "main",
        "commit": plan.commit,
        "files": [{"path": p.path, "size": p.size, "sha256": d}
                  for p, d in zip(plan.model.parts, digests[:count], strict=True)],
        "size": plan.model.size,
        "sha256": digests[0],
        "license": plan.license,
        "gated": bool(plan.gated),
        "downloaded_at": now(),
    }
    if plan.projector is not None:
        part = plan.projector.parts[0]
        provenance["mmproj"] = {"path": part.path, "size": part.size, "sha256": digests[-1]}
    try:
        model, refused = _add_paired(db, plan, provenance, digests[0])
    except WorkbenchError as error:
        # A verified file the library refuses (or cannot record: a full disk) stays visible
        # in `unfinished`, with the reason, instead of lying in the models folder unlisted.
        keep_refused(moved, str(error))
        raise DownloadError(
            f"{name}: downloaded and verified, but not added to the library ({error}); it is "
            "kept with the unfinished downloads, where it can be discarded") from None
    for _target, _partial, record in moved:
        record.unlink(missing_ok=True)
    if refused:
        yield PullEvent("note", f"not paired: {refused}; the projector is kept beside the "
                        "model", file=plan.model.name)
    seen = " and its projector" if model.mmproj else ""
    yield PullEvent("done", f"added as model {model.id}{seen}: {model.name}",
                    file=plan.model.name, total=plan.size, done=plan.size, model=model)


def _add_paired(db: Database, plan: PullPlan, provenance: dict[str, Any], sha256: str,
                ) -> tuple[Model, str | None]:
    """Add the model paired with the downloaded projector; a pair the library refuses (the
    headers disagree once on disk) adds the model alone and says why."""
    if plan.projector_target is not None:
        try:
            return add_model(db, plan.targets[0], source="hub", provenance=provenance,
                             sha256=sha256, mmproj=plan.projector_target), None
        except InvalidInputError as error:
            refused = str(error)
            return add_model(db, plan.targets[0], source="hub", provenance=provenance,
                             sha256=sha256), refused
    return add_model(db, plan.targets[0], source="hub", provenance=provenance,
                     sha256=sha256), None


def _pair_existing(db: Database, existing: Model, plan: PullPlan,
                   moved: list[tuple[Path, Path, Path]]) -> Generator[PullEvent, None, Model]:
    """Pair a library model with the projector just downloaded for it."""
    assert plan.projector_target is not None
    try:
        vision_models.pair(db, existing.id, existing.path, plan.projector_target)
    except WorkbenchError as error:
        keep_refused(moved, str(error))
        raise DownloadError(f"{plan.projector_target.name}: downloaded and verified, but not "
                            f"paired ({error}); it is kept with the unfinished downloads") from None
    for _target, _partial, record in moved:
        record.unlink(missing_ok=True)
    yield PullEvent("note", f"paired with {plan.projector_target.name}", file=plan.model.name)
    return get_model(db, existing.id)


def pull(
    client: HubClient,
    db: Database,
    models_dir: Path,
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    force: bool = False,
    n_ctx: int = 4096,
    disk_free: DiskFree = _disk_free,
    machine: hardware.Hardware | None = None,
    members: list[Member] | None = None,
    mmproj: str | None = None,
    with_mmproj: bool = True,
) -> Iterator[PullEvent]:
    """Plan and run a pull in one iterator (the CLI's way; the window plans first, asks, runs)."""
    plan = plan_pull(client, models_dir, repo_id, filename, revision=revision, n_ctx=n_ctx,
                     machine=machine, members=members, mmproj=mmproj, with_mmproj=with_mmproj)
    if plan.note:
        yield PullEvent("note", plan.note, file=plan.model.name)
    yield PullEvent("fit", plan.verdict.summary(), file=plan.model.name, verdict=plan.verdict)
    for line in plan.projector_skipped:
        yield PullEvent("note", f"projector left out: {line}", file=plan.model.name)
    if plan.projector is not None:
        yield PullEvent("note", f"with its vision projector {plan.projector.name} "
                        f"({human_size(plan.projector.size)})", file=plan.model.name)
    yield from run_pull(client, db, plan, force=force, disk_free=disk_free)


def _already_in_library(db: Database, plan: PullPlan) -> Model | None:
    """The entry that already has this file: at the target, or (the library keeps one entry
    per contents) the same sha256 anywhere, so nothing is downloaded only to be refused."""
    first = plan.model.parts[0]
    target = str(plan.targets[0].resolve())
    for model in list_models(db):
        if not first.sha256 or model.sha256 != first.sha256:
            continue
        if model.path == target and all(t.exists() for t in plan.targets):
            return model
        if model.path != target and Path(model.path).exists():
            return model
    return None


def _in_job(events: Generator[PullEvent, None, str], offset: int, total: int,
            ) -> Generator[PullEvent, None, str]:
    """One file's progress as the whole job's (a model and its projector are one bar)."""
    try:
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                return str(stop.value)
            if event.stage in ("download", "rehash", "retry", "verify") and total:
                event.done, event.total = event.done + offset, total
                if event.rate:
                    event.eta = max(0, total - event.done) / event.rate
            yield event
    finally:
        events.close()


class _ShortRead(Exception):
    """The server closed the body before the last byte."""


def _download_part(
    client: HubClient, plan: PullPlan, part: RemotePart, index: int, count: int
) -> Generator[PullEvent, None, str]:
    """One file into its partial; returns its verified sha256 hex (via ``yield from``)."""
    label = part.path if count == 1 else f"{part.path} ({index + 1}/{count})"
    partial, record_path = partial_paths(plan.models_dir, plan.repo_id, part.path)
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(partial) + ".lock", timeout=0)
        lock.acquire()
    except Timeout:
        raise DownloadError(f"{label}: already being downloaded by another Workbench") from None
    except OSError as error:
        raise DownloadError(f"{label}: cannot write in {partial.parent} "
                            f"({error.strerror or error})") from None
    try:
        digest = hashlib.sha256()
        done = 0
        if partial.exists() and _record_matches(record_path, plan.repo_id, part) and (
            part.size is None or partial.stat().st_size <= part.size
        ):
            done = yield from _rehash(partial, digest, label, part.size or 0)
        else:
            partial.unlink(missing_ok=True)
        record = {"repo": plan.repo_id, "path": part.path, "size": part.size,
                  "sha256": part.sha256, "commit": plan.commit, "started_at": now()}
        record_path.write_text(json.dumps(record))
        try:
            with partial.open("ab") as out, client.errors(label):
                done, digest = yield from _transfer(client, plan, part, label, out, done, digest)
        except OSError as error:  # a full disk, a read-only folder
            raise DownloadError(
                f"{label}: cannot write {partial.name} ({error.strerror or error}); what was "
                "downloaded is kept, run the same pull again to resume") from None
        got = digest.hexdigest()
        yield PullEvent("verify", f"{label}: sha256 {got[:16]}…", file=part.path, done=done,
                        total=part.size or done)
        if part.sha256 and got != part.sha256:
            partial.unlink(missing_ok=True)
            record_path.unlink(missing_ok=True)
            raise DownloadError(
                f"{label}: sha256 mismatch (the Hub says {part.sha256[:16]}…, the download is "
                f"{got[:16]}…); the downloaded file was deleted"
            )
        return got
    finally:
        lock.release()
        Path(str(partial) + ".lock").unlink(missing_ok=True)


def _rehash(
    partial: Path, digest: Any, label: str, total: int
) -> Generator[PullEvent, None, int]:
    """Hash the bytes a previous attempt left, so the final hash covers the whole file."""
    done = 0
    since = 0
    with partial.open("rb") as stream:
        while block := stream.read(CHUNK * 4):
            digest.update(block)
            done += len(block)
            since += len(block)
            if since >= REHASH_EVERY:
                since = 0
                yield PullEvent("rehash", f"{label}: checking the partial download", file=label,
                                done=done, total=total)
    yield PullEvent("rehash", f"{label}: resuming at {done:,} bytes", file=label, done=done,
                    total=total)
    return done


def _transfer(
    client: HubClient, plan: PullPlan, part: RemotePart, label: str, out: Any, done: int,
    digest: Any,
) -> Generator[PullEvent, None, tuple[int, Any]]:
    """Stream the rest of the file, resuming with Range after broken connections."""
    total = part.size or 0
    failures = 0
    started, start_done, last = time.monotonic(), done, 0.0
    while part.size is None or done < part.size:
        try:
            url = hf_hub_url(plan.repo_id, part.path, revision=plan.commit or plan.revision,
                             endpoint=client.endpoint)
            meta = get_hf_file_metadata(url, token=client.token or False,
                                        timeout=client.timeout, endpoint=client.endpoint)
            headers = client.headers(meta.location)
            if done:
                headers["Range"] = f"bytes={done}-"
            with http_stream_backoff(
                "GET", meta.location, headers=headers, timeout=client.timeout,
                max_retries=client.retries, base_wait_time=client.backoff,
                max_wait_time=8 * client.backoff, retry_on_exceptions=(),
            ) as response:
                hf_raise_for_status(response)
                if done and response.status_code != 206:
                    out.seek(0)
                    out.truncate()  # the server ignored Range: start over
                    digest, done, start_done = hashlib.sha256(), 0, 0
                for chunk in response.iter_bytes(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    failures = 0
                    moment = time.monotonic()
                    if moment - last >= PROGRESS_EVERY:
                        last = moment
                        out.flush()
                        rate = (done - start_done) / max(moment - started, 1e-6)
                        eta = (total - done) / rate if rate and total else None
                        yield PullEvent("download", label, file=part.path, done=done,
                                        total=total, rate=rate, eta=eta)
            out.flush()
            if part.size is None:
                break
            if done < part.size:
                raise _ShortRead(f"the body ended at {done:,} of {part.size:,} bytes")
            if done > part.size:
                raise DownloadError(f"{label}: the server sent more bytes than the Hub lists")
        except (httpx.TransportError, _ShortRead) as error:
            out.flush()
            failures += 1
            if failures > client.retries:
                where = f" to {client.host_of(error)}" if isinstance(error, httpx.HTTPError) \
                    else ""
                raise DownloadError(
                    f"{label}: the connection{where} broke at {done:,} of {total:,} bytes "
                    f"({type(error).__name__}); run the same pull again to resume"
                ) from None
            yield PullEvent("retry", f"{label}: connection broke at {done:,} bytes "
                            f"({type(error).__name__}); resuming (try {failures})",
                            file=part.path, done=done, total=total)
            time.sleep(min(client.backoff * 2 ** (failures - 1), 8 * client.backoff))
    return done, digest
