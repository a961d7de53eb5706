"""``search``, ``files``, ``pull``, ``unfinished`` and ``scan``: models from the Hub and from
other apps."""

from __future__ import annotations

import sys
import time

import click

from workbench import hardware
from workbench.cli.common import echo_json, human_count, human_size, pass_workspace
from workbench.cli.group import cli
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.fit import estimate_for_header, with_projector
from workbench.hub.client import HubClient
from workbench.hub.download import PullEvent, pull
from workbench.hub.files import list_files
from workbench.hub.projectors import ProjectorChoice, choose_projector
from workbench.hub.remote_header import read_remote_header
from workbench.hub.search import SORTS, search_models
from workbench.pool_fit import checked_members, measured_rate, pool_fit
from workbench.settings import get_setting
from workbench.units import human_eta, human_rate
from workbench.workspace import Workspace


def _client(workspace: Workspace) -> HubClient:
    return HubClient.from_settings(workspace.db)


@cli.command("search")
@click.argument("query", default="")
@click.option("--sort", type=click.Choice(list(SORTS)), default="downloads", show_default=True)
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def search_cmd(workspace: Workspace, query: str, sort: str, limit: int, as_json: bool) -> None:
    """Search the Hub for GGUF models."""
    results = search_models(_client(workspace), query, sort=sort, limit=limit)
    if as_json:
        echo_json([r.to_dict() for r in results])
        return
    if not results:
        click.echo(f"No GGUF repositories match '{query}'.")
        return
    click.echo(f"{'REPOSITORY':48} {'DOWNLOADS':>9} {'LIKES':>6} {'ARCH':10} {'CTX':>7} "
               f"{'LICENSE':14} {'UPDATED':10}")
    for r in results:
        gated = " (gated)" if r.gated else ""
        click.echo(f"{(r.repo_id + gated)[:48]:48} {human_count(r.downloads):>9} "
                   f"{human_count(r.likes):>6} {(r.architecture or '-')[:10]:10} "
                   f"{r.context_length or '-':>7} {(r.license or '-')[:14]:14} "
                   f"{(r.last_modified or '-')[:10]:10}")


@cli.command("files")
@click.argument("repo")
@click.option("--revision", help="Branch, tag or commit (default: main).")
@click.option("--ctx", "n_ctx", type=click.IntRange(1, None), default=None,
              help="Context length for the fit verdicts (default: the context_length setting).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def files_cmd(workspace: Workspace, repo: str, revision: str | None, n_ctx: int | None,
              as_json: bool) -> None:
    """List a repository's GGUF models, with whether each fits this machine.

    The architecture comes from one file's header, read with Range requests before any
    download; every file of the repository shares it, so the others are scaled by size.
    """
    client = _client(workspace)
    n_ctx = n_ctx or int(get_setting(workspace.db, "context_length"))
    listing = list_files(client, repo, revision)
    models = [m for m in listing.files if not m.projector]
    header, header_size, note = None, None, None
    if models:
        probe = models[0]
        try:
            remote = read_remote_header(client, repo, probe.parts[0].path, listing.commit)
            header, header_size = remote.header, probe.parts[0].size
        except Exception as error:  # noqa: BLE001  the listing is still worth showing
            note = f"header not readable ({error}); fit estimated from sizes"
    projector = ProjectorChoice()
    if models and header is not None:
        try:  # the projector a pull brings along counts in every verdict
            projector = choose_projector(client, listing, models[0], header)
        except WorkbenchError as error:
            note = f"projector not readable ({error})"
    machine = hardware.detect()
    members, rate = checked_members(workspace.db), measured_rate(workspace.db)
    rows = []
    for model in listing.files:
        verdict = None
        if not model.projector:
            estimate = estimate_for_header(header, model.size, n_ctx,
                                           parameters=listing.parameters,
                                           header_file_size=header_size)
            if projector.file is not None:
                estimate = with_projector(estimate, projector.file.size, projector.header)
            verdict = pool_fit(estimate, machine, members, rate=rate)
        rows.append((model, verdict))
    if as_json:
        echo_json({
            "repo": listing.repo_id, "commit": listing.commit, "license": listing.license,
            "gated": listing.gated, "architecture": listing.architecture,
            "context_length": listing.context_length, "n_ctx": n_ctx, "note": note,
            "files": [{**m.to_dict(), "fit": v.to_dict() if v else None} for m, v in rows],
            "mmproj": projector.file.name if projector.file else None,
        })
        return
    click.echo(f"{listing.repo_id} @ {(listing.commit or '?')[:12]}  license: "
               f"{listing.license or '-'}{'  (gated: a token is needed)' if listing.gated else ''}")
    if note:
        click.echo(f"Note: {note}")
    if not rows:
        click.echo("No GGUF files in this repository.")
        return
    click.echo(f"Fit at {n_ctx:,} tokens of context:")
    for model, verdict in rows:
        kind = "projector" if model.projector else (model.quantization or "?")
        parts = f" [{len(model.parts)} parts]" if model.is_split else ""
        fit_text = verdict.summary() if verdict is not None else (
            "vision projector, not a chat model; pulled with the models (every verdict "
            "counts it; --no-mmproj leaves it out)" if model is projector.file else
            "vision projector, not a chat model (pull ... --mmproj NAME chooses it)")
        click.echo(f"  {model.name}{parts}  {kind}  {human_size(model.size)}")
        click.echo(f"      {fit_text}")


def _of(done: int, total: int) -> str:
    """``1.0 MB of 98.4 MB``; a size the Hub did not give (or gave as nonsense, -5) is said
    to be unknown, never "of 0 B"."""
    if total > 0:
        return f"{human_size(done)} of {human_size(total)}"
    return f"{human_size(done)} (size unknown)"


def _bar(event: PullEvent, width: int = 30) -> str:
    share = event.done / event.total if event.total > 0 else 0.0
    filled = int(share * width)
    eta = human_eta(event.eta) or "-"
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {share:6.1%} "
            f"{_of(event.done, event.total)} {human_rate(event.rate) or '-'} ETA {eta}   ")


@cli.command("pull")
@click.argument("repo")
@click.argument("file")
@click.option("--revision", help="Branch, tag or commit (default: main).")
@click.option("--ctx", "n_ctx", type=click.IntRange(1, None), default=None,
              help="Context length for the fit verdict (default: the context_length setting).")
@click.option("--force", is_flag=True, help="Download even if the model will not fit.")
@click.option("--mmproj", "mmproj", metavar="NAME",
              help="The vision projector to bring along (default: the smallest that fits).")
@click.option("--no-mmproj", is_flag=True, help="Leave the repository's projector out.")
@pass_workspace
def pull_cmd(workspace: Workspace, repo: str, file: str, revision: str | None,
             n_ctx: int | None, force: bool, mmproj: str | None, no_mmproj: bool) -> None:
    """Download FILE from REPO (verified, resumable) and add it to the library.

    FILE is a path in the repository, the first part of a split model, or a quantization
    such as Q4_K_M when only one file has it. A repository with a vision projector (mmproj)
    brings it along in the same download, paired with the model.
    """
    client = _client(workspace)
    n_ctx = n_ctx or int(get_setting(workspace.db, "context_length"))
    tty = sys.stdout.isatty()
    last_line = 0.0
    in_bar = False
    try:
        for event in pull(client, workspace.db, workspace.models_dir, repo, file,
                          revision=revision, force=force, n_ctx=n_ctx,
                          members=checked_members(workspace.db), mmproj=mmproj,
                          with_mmproj=not no_mmproj):
            if event.stage == "download":
                if tty:
                    click.echo(_bar(event), nl=False)
                    in_bar = True
                elif time.monotonic() - last_line >= 2 or event.done == event.total:
                    last_line = time.monotonic()
                    click.echo(f"{event.file}: {_of(event.done, event.total)} "
                               f"({human_size(event.rate)}/s)")
                continue
            if in_bar:
                click.echo()
                in_bar = False
            if event.stage == "fit":
                click.echo(f"Fit: {event.message}")
            elif event.stage in ("note", "retry", "rehash", "verify", "move"):
                if event.stage == "rehash" and event.done < event.total and tty:
                    continue
                click.echo(event.message)
            elif event.stage == "done":
                click.echo(event.message[:1].upper() + event.message[1:])
    except KeyboardInterrupt:
        if in_bar:
            click.echo()
        click.echo("Stopped; the partial download is kept: run the same pull again to "
                   "resume.", err=True)
        sys.exit(130)


@cli.command("unfinished")
@click.option("--discard", "discards", multiple=True, type=int,
              help="Delete this number's downloaded bytes (repeatable).")
@click.option("--discard-all", is_flag=True, help="Delete every interrupted download.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def unfinished_cmd(workspace: Workspace, discards: tuple[int, ...], discard_all: bool,
                   as_json: bool) -> None:
    """Downloads that stopped before the end (cancelled, failed, or the app was closed):
    `pull` the same file again to resume, or discard the bytes."""
    from workbench.hub.unfinished import discard_unfinished, list_unfinished

    found = list_unfinished(workspace.models_dir)
    bad = [n for n in discards if not 1 <= n <= len(found)]
    if bad:
        raise InvalidInputError(f"--discard {bad[0]}: no such number "
                                f"({f'1-{len(found)}' if found else 'nothing is unfinished'})")
    chosen = found if discard_all else [found[n - 1] for n in discards]
    if chosen:
        freed = sum(discard_unfinished(item) for item in chosen)
        click.echo(f"Discarded {len(chosen)} download{'s' if len(chosen) > 1 else ''}, "
                   f"{human_size(freed)} freed.")
        return
    if as_json:
        echo_json([item.to_dict() for item in found])
        return
    if not found:
        click.echo("No unfinished downloads.")
        return
    for number, item in enumerate(found, 1):
        click.echo(f"{number:>3}. {item.repo_id}  {item.file}  "
                   f"{human_size(item.have)} of {human_size(item.size)}")
        if item.refused:
            click.echo(f"     downloaded and verified, but not added to the library: "
                       f"{item.refused}")
    click.echo("Resume with: llm-workbench pull REPO FILE   Discard with: --discard N")


@cli.command("scan")
@click.option("--add", "add", is_flag=True, help="Add every model found to the library.")
@click.option("--pick", "picks", multiple=True, type=int,
              help="Add only these numbers from the list (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def scan_cmd(workspace: Workspace, add: bool, picks: tuple[int, ...], as_json: bool) -> None:
    """Find GGUF models already on this machine (Hugging Face cache, LM Studio, GPT4All, Jan,
    Ollama) and add them to the library without copying."""
    from workbench.scan import add_each, scan

    found = list(scan(workspace.db))
    if as_json and not (add or picks):
        echo_json([f.to_dict() for f in found])
        return
    if not found:
        click.echo("No GGUF models found in the known folders.")
        return
    for number, item in enumerate(found, 1):
        mark = "in library" if item.in_library else ""
        click.echo(f"{number:>3}. [{item.source}] {item.name}  {human_size(item.size)}  "
                   f"{item.path}  {mark}")
    bad = [p for p in picks if not 1 <= p <= len(found)]
    if bad:
        raise InvalidInputError(f"--pick {bad[0]}: no such number (1-{len(found)})")
    chosen = [found[p - 1] for p in picks] if picks else (found if add else [])
    if not chosen:
        click.echo("Add them with: llm-workbench scan --add  (or --pick N)")
        return
    todo = [item for item in chosen if not item.in_library]
    failed = 0
    for item in todo:
        click.echo(f"Adding {item.name} (hashing {human_size(item.size)})…"
                   if not item.sha256 else f"Adding {item.name}…")
        [(_, model, reason)] = add_each(workspace.db, [item])
        if model is not None and reason:
            click.echo(f"  {reason}")
        elif model is not None:
            click.echo(f"  added as model {model.id}: {model.name}")
        else:
            failed += 1
            click.echo(f"  not added: {reason}", err=True)
    if failed:
        raise InvalidInputError(f"scan --add: {failed} of {len(todo)} models could not be "
                                "added (each reason is above); the others were added")
