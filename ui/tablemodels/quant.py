"""A quantization comparison as a table: one row per file, the reference first."""

from __future__ import annotations

from workbench.quant.compare import QuantRow

from .base import Column, RowTableModel
from .format import human_size, human_tps


def _agreement(row: QuantRow) -> str:
    if row.reference:
        return "reference"
    return f"{row.agreement:.1%} ({row.agree_low:.1%}–{row.agree_high:.1%})"


class QuantTableModel(RowTableModel[QuantRow]):
    columns = (
        Column("File", lambda r: r.label, tooltip=lambda r: r.path),
        Column("Quantization", lambda r: r.quantization),
        Column("Size", lambda r: human_size(r.file_size), lambda r: r.file_size,
               numeric=True),
        Column("Mean KL", lambda r: "-" if r.reference else f"{r.kl_mean:.4f}",
               lambda r: r.kl_mean, numeric=True),
        Column("KL p99", lambda r: "-" if r.reference else f"{r.kl_p99:.3f}",
               lambda r: r.kl_p99, numeric=True),
        Column("Top-1 agreement (95%)", _agreement, lambda r: r.agreement, numeric=True,
               tooltip=lambda r: None if r.reference else
               f"{r.agree:,} of {r.positions:,} positions"),
        Column("Perplexity", lambda r: f"{r.perplexity:.3f}" + (
            "" if r.reference else f" ({r.perplexity_ratio:.3f}×)"),
            lambda r: r.perplexity, numeric=True),
        Column("Speed", lambda r: human_tps(r.tokens_per_s) if r.tokens_per_s else "-",
               lambda r: r.tokens_per_s or 0, numeric=True),
    )
