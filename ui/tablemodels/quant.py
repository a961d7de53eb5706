"""A quantization comparison as a table: one row per file, the reference first.

The headers are plain words ("Difference", "Same next word"); the measure's own name and
what its values mean are in each header's tooltip, for a user who has never heard of KL
divergence."""

from __future__ import annotations

from workbench.quant.compare import QuantRow
from workbench.units import human_size, human_tps

from .base import Column, RowTableModel


def _agreement(row: QuantRow) -> str:
    if row.reference:
        return "reference"
    return f"{row.agreement:.1%} ({row.agree_low:.1%}–{row.agree_high:.1%})"


def _kl_tip(row: QuantRow) -> str | None:
    """Whether the figure is exact or a lower bound ("≥"), in words."""
    return None if row.reference else row.kl_tip()


#: The column titles (tests and the tab look columns up by these).
DIFFERENCE = "Difference"
WORST = "Worst 1%"
SAME_WORD = "Same next word"


class QuantTableModel(RowTableModel[QuantRow]):
    columns = (
        Column("File", lambda r: r.label, tooltip=lambda r: r.path),
        Column("Quantization", lambda r: r.quantization,
               header_tip="How the file's weights are stored: fewer bits make a smaller, "
                          "faster file that may answer less like the original"),
        Column("Size", lambda r: human_size(r.file_size), lambda r: r.file_size,
               numeric=True),
        Column(DIFFERENCE, lambda r: "-" if r.reference else f"{r.kl_mark}{r.kl_mean:.4f}",
               lambda r: r.kl_mean, numeric=True, tooltip=_kl_tip,
               header_tip="Difference from the reference (mean KL divergence): how far this "
                          "file's next-word odds are from the reference's, on average. 0 is "
                          "identical; lower is better"),
        Column(WORST, lambda r: "-" if r.reference else f"{r.kl_mark}{r.kl_p99:.3f}",
               lambda r: r.kl_p99, numeric=True, tooltip=_kl_tip,
               header_tip="The difference at the worst 1% of positions (KL p99): where this "
                          "file strays most from the reference. Lower is better"),
        Column(SAME_WORD, _agreement, lambda r: r.agreement, numeric=True,
               tooltip=lambda r: None if r.reference else
               f"{r.agree:,} of {r.positions:,} positions",
               header_tip="How often this file's most likely next word is the reference's "
                          "(top-1 agreement), with its 95% interval. Higher is better"),
        Column("Perplexity", lambda r: f"{r.perplexity:.3f}" + (
            "" if r.reference else f" ({r.perplexity_ratio:.3f}×)"),
            lambda r: r.perplexity, numeric=True,
            header_tip="How surprised the model is by the text: lower is better; the "
                       "factor is against the reference"),
        Column("Speed", lambda r: human_tps(r.tokens_per_s) if r.tokens_per_s else "-",
               lambda r: r.tokens_per_s or 0, numeric=True,
               header_tip="How fast this file read the text"),
    )
