"""What a quantization comparison reports: progress while it runs, a row per file after."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.quant.logits import K, describe_mode

#: How a lower-bound KL figure is marked wherever it is shown (the exact ones are not).
LOWER_BOUND_MARK = "≥"


@dataclass
class QuantProgress:
    stage: str  # "reference" or "model"
    label: str
    done: int  # windows scored so far, all files together
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def text(self) -> str:
        what = "reference" if self.stage == "reference" else "comparing"
        return f"{what} {self.label}: window {self.done} of {self.total}"


@dataclass
class QuantRow:
    """One file's numbers against the reference. ``kl_exact`` says whether its KL figures
    (mean, p99, max) are exact or lower bounds (a reference kept as its top tokens only)."""

    label: str
    path: str
    file_size: int
    quantization: str
    reference: bool
    kl_mean: float
    kl_p99: float
    kl_max: float
    agree: int
    positions: int
    perplexity: float
    perplexity_ratio: float
    tokens_per_s: float | None
    agree_low: float = 0.0
    agree_high: float = 1.0
    kl_exact: bool = True

    @property
    def agreement(self) -> float:
        return self.agree / self.positions if self.positions else 0.0

    @property
    def kl_mark(self) -> str:
        """Put before each KL figure: "≥" for a lower bound, nothing for an exact one."""
        return "" if self.kl_exact else LOWER_BOUND_MARK

    @property
    def kl_kind(self) -> str:
        return "exact" if self.kl_exact else "lower bound"

    def kl_tip(self) -> str:
        if self.kl_exact:
            return "Exact: the reference was kept whole"
        return (f"At least this: the reference was kept as its top {K} tokens per position, "
                "which can only hide divergence")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kl": self.kl_kind, "agreement": self.agreement}


@dataclass
class QuantResult:
    reference: QuantRow
    rows: list[QuantRow]
    mode: str
    ctx: int
    windows: int
    positions: int
    text_name: str
    text_tokens: int
    reference_cached: bool
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def mode_text(self) -> str:
        return describe_mode(self.mode)

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference.to_dict(), "models": [r.to_dict() for r in self.rows],
                "kept": self.mode, "kept_text": self.mode_text, "ctx": self.ctx,
                "windows": self.windows, "positions": self.positions, "text": self.text_name,
                "text_tokens": self.text_tokens, "reference_cached": self.reference_cached,
                "seconds": round(self.seconds, 2), "notes": self.notes}

    def bar_rows(self) -> list[dict[str, Any]]:
        """Rows for :func:`workbench.trials.recommend.recommend` (the agreement part)."""
        return [{"label": r.label, "file_size": r.file_size, "agree": r.agree,
                 "positions": r.positions} for r in self.rows]
