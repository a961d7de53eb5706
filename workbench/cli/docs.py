"""``docs``: collections of your documents, indexed locally and searched by keyword, and by
meaning too (hybrid) when a collection has an embedding model."""

from __future__ import annotations

import click

from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.documents import collections as docs_store
from workbench.documents.embedder import Embedder
from workbench.documents.grounding import search_one
from workbench.documents.indexing import index
from workbench.library import get_model
from workbench.workspace import Workspace


@cli.group()
def docs() -> None:
    """Your documents: collections indexed in the workspace database, searched privately.

    The files are never copied or changed; removing a collection removes only its index."""


def _run_index(workspace: Workspace, name: str) -> None:
    """Index with one line per file that was indexed, embedded, skipped or removed (on
    stderr), then a summary; Ctrl-C stops between files and the next reindex resumes."""
    with Embedder() as embedder:
        run = index(workspace.db, name, embedder)
        for event in run:
            if event.status == "unchanged":
                continue
            note = f": {event.reason}" if event.reason else ""
            click.echo(f"[{event.done}/{event.total}] {event.status} {event.path}{note}",
                       err=True)
    counts = run.counts
    summary = [f"{counts[status]:,} {status}" for status in
               ("indexed", "embedded", "unchanged", "skipped", "error", "removed")
               if counts[status]]
    if run.embedded:
        summary.append(f"{run.embedded:,} passages embedded")
    click.echo(", ".join(summary) or "No files found.")


def _embed_model(value: str | None) -> str | None:
    return None if value is None or value.lower() == "none" else value


@docs.command("add")
@click.argument("name")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--include", multiple=True, metavar="GLOB",
              help="Only files matching (name or path in the folder); repeatable.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Leave out files and folders matching; repeatable.")
@click.option("--embed-model", "embed_model", metavar="MODEL",
              help="A library model that embeds the passages, for search by meaning as well "
                   "as by keyword (see: catalog --task embedding).")
@pass_workspace
def docs_add(workspace: Workspace, name: str, paths: tuple[str, ...],
             include: tuple[str, ...], exclude: tuple[str, ...],
             embed_model: str | None) -> None:
    """Add files and folders to collection NAME (made if new) and index them."""
    db = workspace.db
    if embed_model is not None:
        get_model(db, embed_model)  # an unknown model is one line before anything is stored
    docs_store.add_collection(db, name, list(paths), list(include), list(exclude))
    if embed_model is not None:
        docs_store.set_embed_model(db, name, _embed_model(embed_model))
    _run_index(workspace, name)


@docs.command("reindex")
@click.argument("name")
@click.option("--embed-model", "embed_model", metavar="MODEL",
              help="Set or change the embedding model (every passage is embedded again), "
                   "or 'none' for keyword search only.")
@pass_workspace
def docs_reindex(workspace: Workspace, name: str, embed_model: str | None) -> None:
    """Bring NAME's index up to date: only changed, added and removed files are read."""
    if embed_model is not None:
        docs_store.set_embed_model(workspace.db, name, _embed_model(embed_model))
    _run_index(workspace, name)


@docs.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def docs_list(workspace: Workspace, as_json: bool) -> None:
    """List collections with their counts of files and passages."""
    rows = docs_store.list_collections(workspace.db)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No collections yet (add one: llm-workbench docs add NAME FOLDER).")
    for row in rows:
        embedding = f", embedded by {row['embed_model']}" if row["embed_model"] else ""
        click.echo(f"{row['name']:20} {row['indexed']:,} indexed, "
                   f"{row['not_indexed']:,} not, "
                   f"{row['chunks']:,} passages{embedding}  ({', '.join(row['paths'])})")


@docs.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def docs_show(workspace: Workspace, name: str, as_json: bool) -> None:
    """Show NAME's files, each with its status and, when not indexed, the reason."""
    collection = docs_store.get_collection(workspace.db, name)
    files = docs_store.collection_files(workspace.db, collection["id"])
    if as_json:
        echo_json({"collection": collection, "files": files})
        return
    click.echo(f"# {collection['name']}: {', '.join(collection['paths'])}")
    model_id = collection["embed_model_id"]
    click.echo("search: keyword only" if model_id is None else
               f"search: hybrid, embedded by {get_model(workspace.db, model_id).name}")
    for label, key in (("include", "include"), ("exclude", "exclude")):
        if collection[key]:
            click.echo(f"{label}: {' '.join(collection[key])}")
    if not files:
        click.echo("No files indexed yet (run: llm-workbench docs reindex NAME).")
    for row in files:
        note = f"  ({row['reason']})" if row["reason"] else ""
        passages = f" {row['chunk_count']:,} passages" \
            if row["status"] == "indexed" else ""
        if model_id is not None and row["status"] == "indexed" and row["chunk_count"] \
                and row["embed_model_id"] != model_id:
            passages += " (not embedded yet: reindex)"
        click.echo(f"{row['status']:8}{passages} {row['path']}{note}")


@docs.command("search")
@click.argument("name")
@click.argument("query")
@click.option("--k", "k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="How many passages.")
@click.option("--json", "as_json", is_flag=True)
@pass_workspace
def docs_search(workspace: Workspace, name: str, query: str, k: int, as_json: bool) -> None:
    """The passages of NAME that best match QUERY, best first, each with the searches
    that found it (keyword, dense, or both when NAME has an embedding model)."""
    passages = search_one(workspace.db, name, query, k)
    if as_json:
        echo_json([passage.to_dict() for passage in passages])
        return
    if not passages:
        click.echo(f"No passages match '{query}'.")
    for rank, passage in enumerate(passages, 1):
        click.echo(f"[{rank}] {passage.where}  score {passage.score:.3f} ({passage.method})")
        click.echo("    " + " ".join(passage.text.split())[:300])


@docs.command("rm")
@click.argument("name")
@click.argument("path", required=False)
@pass_workspace
def docs_rm(workspace: Workspace, name: str, path: str | None) -> None:
    """Remove collection NAME's index, or only PATH from it. The files are kept."""
    if path is None:
        removed = docs_store.remove_collection(workspace.db, name)
        what = f"collection {name!r}"
    else:
        removed = docs_store.remove_path(workspace.db, name, path)
        what = f"{path} from {name!r}"
    vectors = f", {removed['vectors']:,} vectors" if removed.get("vectors") else ""
    click.echo(f"Removed {what}: {removed['files']:,} files, "
               f"{removed['chunks']:,} passages{vectors}; the files were kept.")
