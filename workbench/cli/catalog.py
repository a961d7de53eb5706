"""``catalog``: the curated list of recommended models on the Hub."""

from __future__ import annotations

import click

from workbench import catalog
from workbench.cli.common import echo_json, human_count, human_size
from workbench.cli.group import cli


def _size(entry: catalog.CatalogEntry) -> str:
    # An estimated size is shown as approximate, so nobody mistakes it for the exact one.
    return ("" if entry.size_verified else "~") + human_size(entry.size_bytes)


def _table(entries: list[catalog.CatalogEntry]) -> list[str]:
    header = ("ID", "NAME", "PARAMS", "QUANT", "SIZE", "MIN RAM", "LICENSE", "OPENNESS", "TASKS")
    right = {"PARAMS", "SIZE", "MIN RAM"}
    rows = [
        (e.id, e.name, human_count(e.parameters), e.quantization, _size(e),
         human_size(e.min_memory_bytes), e.license, e.openness, ", ".join(e.tasks))
        for e in entries
    ]
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(w) if name in right else cell.ljust(w)
                 for cell, w, name in zip(row, widths, header, strict=True)]
        return "  ".join(cells).rstrip()

    return [line(header), *(line(row) for row in rows)]


@cli.command("catalog")
@click.option("--task", metavar="TASK",
              help=f"Only models for this task: {', '.join(catalog.TASKS)}.")
@click.option("--fits", "only_fitting", is_flag=True,
              help="Only models that fit in this machine's RAM at a 4096-token context.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def catalog_command(task: str | None, only_fitting: bool, as_json: bool) -> None:
    """List recommended GGUF models from the Hugging Face Hub.

    MIN RAM is the memory needed to run a model with a 4096-token context (an embedding
    model's: its embedding context); a size shown with ~ is an estimate. Embedding models
    are listed only with --task embedding.
    """
    entries = catalog.load_catalog()
    budget = catalog.machine_memory_bytes() if only_fitting else None
    shown = catalog.filter_catalog(entries, task=task, max_memory=budget)
    if as_json:
        echo_json([e.to_dict() for e in shown])
        return
    if not shown:
        where = f" that fit in {human_size(budget)} of RAM" if budget is not None else ""
        click.echo(f"No recommended models{' for ' + task if task else ''}{where}.")
        return
    for text in _table(shown):
        click.echo(text)
    if task is None:
        click.echo("\nEmbedding models, for searching documents by meaning: "
                   "llm-workbench catalog --task embedding")
    if budget is not None:
        considered = len(catalog.filter_catalog(entries, task=task))
        click.echo(f"\n{len(shown)} of {considered} models fit in this machine's "
                   f"{human_size(budget)} of RAM.")
