"""``quant-compare``: quantizations of one model scored against a reference on your text."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import click

from workbench.cli.common import echo_json, human_size, pass_workspace
from workbench.cli.group import cli
from workbench.engine.settings import parse_gpu_layers
from workbench.quant.compare import (
    DEFAULT_CTX,
    QuantComparison,
    QuantFile,
    QuantResult,
    file_from_path,
    read_text,
    run,
)
from workbench.quant.inputs import file_from_library
from workbench.units import human_duration, human_tps
from workbench.workspace import Workspace


def resolve_file(workspace: Workspace, ref: str) -> QuantFile:
    """A path to a .gguf file, else a library id or name."""
    if Path(ref).expanduser().is_file():
        return file_from_path(ref)
    return file_from_library(workspace.db, ref)


@cli.command("quant-compare")
@click.argument("reference")
@click.argument("models", nargs=-1, required=True)
@click.option("--text", "text_file", type=click.Path(dir_okay=False),
              help="UTF-8 text to evaluate (default: a shipped sample of varied text).")
@click.option("--ctx", "window", type=int, default=DEFAULT_CTX, show_default=True,
              help="Window in tokens; the second half of each window is scored.")
@click.option("--threads", "n_threads", type=int)
@click.option("--gpu-layers", help="Layers to offload to the GPU: a number, all or auto.")
@click.option("--min-agreement", type=float,
              help="Recommend the smallest file whose top-1 agreement is at least this "
                   "(a share or a percentage), at 95% confidence.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def quant_compare(workspace: Workspace, reference: str, models: tuple[str, ...],
                  text_file: str | None, window: int, n_threads: int | None,
                  gpu_layers: str | None, min_agreement: float | None, as_json: bool) -> None:
    """Compare MODELS (ids, names or .gguf paths) with REFERENCE on the same text: mean KL
    divergence of their next-token distributions from the reference's (and its 99th
    percentile), top-1 agreement, perplexity and its ratio, size and speed.

    The files must share a vocabulary. The reference's numbers are cached in the data
    folder, so comparing more files later does not run it again."""
    from workbench.trials.recommend import make_bar, recommend

    bar = make_bar(None, min_agreement=min_agreement) if min_agreement else None
    text, name = read_text(text_file)
    job = QuantComparison(workspace.root, resolve_file(workspace, reference),
                          [resolve_file(workspace, m) for m in models], text, name, ctx=window,
                          n_threads=n_threads, gpu_layers=parse_gpu_layers(gpu_layers))
    previous = signal.signal(signal.SIGINT, lambda *_: job.stop())
    try:
        result = run(job)
    finally:
        signal.signal(signal.SIGINT, previous)
    advice = recommend(result.bar_rows(), bar) if bar is not None else None
    if as_json:
        out: dict[str, Any] = result.to_dict()
        if advice is not None:
            out["recommendation"] = advice.to_dict()
        echo_json(out)
        return
    for line in result_lines(result):
        click.echo(line)
    if advice is not None:
        click.echo("")
        click.echo(advice.reason)


def result_lines(result: QuantResult) -> list[str]:
    ref = result.reference
    width = min(48, max(5, *(len(r.label) for r in result.rows)))
    speed = f", {human_tps(ref.tokens_per_s)}" if ref.tokens_per_s else ""
    lines = [
        f"Reference: {ref.label} ({ref.quantization}, {human_size(ref.file_size)}), "
        f"perplexity {ref.perplexity:.3f}{speed}"
        + (" (from the cache)" if result.reference_cached else ""),
        f"Text: {result.text_name}, {result.text_tokens:,} tokens; {result.positions:,} "
        f"positions scored in {result.windows} window{'s' * (result.windows != 1)} of "
        f"{result.ctx} tokens",
        "",
        f"{'model':<{width}} {'size':>9} {'mean KL':>9} {'KL p99':>8} {'top-1 agreement':>26} "
        f"{'perplexity':>18} {'speed':>12}",
    ]
    for row in result.rows:
        agree = (f"{row.agreement:.1%} ({row.agree_low:.1%}-{row.agree_high:.1%})")
        ppl = f"{row.perplexity:.3f} ({row.perplexity_ratio:.3f}x)"
        tps = human_tps(row.tokens_per_s) if row.tokens_per_s else "-"
        kl = f"{row.kl_mark}{row.kl_mean:.5f}"  # "≥": a lower bound
        p99 = f"{row.kl_mark}{row.kl_p99:.4f}"
        lines.append(f"{row.label[:width]:<{width}} {human_size(row.file_size):>9} "
                     f"{kl:>9} {p99:>8} {agree:>26} {ppl:>18} {tps:>12}")
    lines.append("")
    lines += [f"Note: {note}." for note in result.notes]
    lines.append(f"Took {human_duration(result.seconds)}.")
    return lines
