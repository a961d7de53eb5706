"""Trials over documents: the sources that answer a prompt, whether a passage is one of
them, and how well retrieval found them.

A source names a file by its base name or its path relative to anything above it
(``handbook.pdf``, ``policies/handbook.pdf``), and optionally where in it: ``#page=12`` (a
PDF page) or ``#Refunds`` (a section: one heading of the passage's heading path, such as
``Guide > Refunds``, or the whole path; compared case-insensitively). A passage matches a
source when its file's absolute path ends with the source's path, component by component,
and its page or section matches when the source names one.

Retrieval is judged over the prompts that name sources, per contender (its collection, and
so its embedding model, and its ``k`` decide what is retrieved):

- **recall@k**: the share of a prompt's sources found among the ``k`` passages retrieved,
  averaged over prompts;
- **MRR**: the mean over prompts of 1 / the rank of the first retrieved passage that
  matches any of its sources (0 when none does).

Each comes with a 95% Wilson interval over the number of prompts, with a prompt's share
(recall) or reciprocal rank (MRR) counted as a fractional success, as pass rates count a
prompt's share of passing repeats. A low recall with a failing pass rate says the retrieval
missed; a high recall with a failing pass rate says the model did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from workbench.errors import InvalidInputError, refuse_unknown_keys
from workbench.trials.stats import wilson

#: The most sources one prompt may name, and the longest source.
MAX_SOURCES = 64
MAX_SOURCE_CHARS = 1000
#: The most collections a suite, a prompt or a contender may name, and the largest k.
MAX_DOCS = 16
MAX_K = 100
#: ``[1]``, ``[1, 3]``, ``[2][3]``: the numbers a reply cites its passages by.
_CITED = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


@dataclass(frozen=True)
class Source:
    """One expected source: path parts (lower-cased on Windows-like paths too), and the page
    or section it names (neither: any passage of the file)."""

    text: str
    parts: tuple[str, ...]
    page: int | None = None
    section: str | None = None

    def matches(self, passage: Mapping[str, Any]) -> bool:
        """Whether ``passage`` (a citation dict: ``path``, ``page``, ``section``) is this
        source."""
        path = _parts(str(passage.get("path") or ""))
        if len(path) < len(self.parts) or path[-len(self.parts):] != self.parts:
            return False
        if self.page is not None and passage.get("page") != self.page:
            return False
        if self.section is not None:
            heading = str(passage.get("section") or "").casefold()
            titles = [t.strip() for t in heading.split(" > ")]
            return self.section == heading or self.section in titles
        return True


def _parts(path: str) -> tuple[str, ...]:
    """A path's components, whichever separator it uses."""
    pure = PureWindowsPath(path) if "\\" in path else PurePosixPath(path)
    return tuple(p for p in pure.parts if p not in ("/", "\\", "."))


def parse_source(text: Any, where: str = "source") -> Source:
    """``handbook.pdf#page=12`` as a :class:`Source`; nonsense is one line naming it."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{where}: a source is a file name like "
                                "'handbook.pdf#page=12', not " + repr(text)[:60])
    if len(text) > MAX_SOURCE_CHARS:
        raise InvalidInputError(f"{where}: a source of {len(text):,} characters; at most "
                                f"{MAX_SOURCE_CHARS:,}")
    path, _, fragment = text.strip().partition("#")
    parts = _parts(path.strip())
    if not parts or ".." in parts:
        raise InvalidInputError(f"{where} {text!r}: name the file (its name, or its path "
                                "without '..')")
    page = section = None
    fragment = fragment.strip()
    if fragment.lower().startswith("page="):
        number = fragment[5:].strip()
        if not number.isdigit() or int(number) < 1:
            raise InvalidInputError(f"{where} {text!r}: the page must be a number from 1")
        page = int(number)
    elif fragment:
        section = fragment.casefold()
    return Source(text.strip(), parts, page, section)


def normalize_sources(raw: Any, where: str = "sources") -> list[str]:
    """A prompt's ``sources`` as a list of checked strings (one string is a list of one)."""
    if raw is None or raw == "" or raw == []:
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise InvalidInputError(f"{where}: expected a list of sources like "
                                f"[\"handbook.pdf#page=12\"], not {type(raw).__name__}")
    if len(items) > MAX_SOURCES:
        raise InvalidInputError(f"{where}: {len(items)} sources; at most {MAX_SOURCES}")
    return [parse_source(item, where).text for item in items]


def normalize_docs(raw: Any, where: str = "docs") -> list[str]:
    """``"handbook"`` or ``["handbook", "notes"]`` as a list of collection names (whether
    they exist is checked where the database is at hand)."""
    if raw is None or raw == "" or raw == []:
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip()
                                              for i in items):
        raise InvalidInputError(f"{where}: a collection name or a list of them, not "
                                + repr(raw)[:60])
    if len(items) > MAX_DOCS:
        raise InvalidInputError(f"{where}: {len(items)} collections; at most {MAX_DOCS}")
    return list(dict.fromkeys(i.strip() for i in items))


def check_k(value: Any, where: str = "k") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_K:
        raise InvalidInputError(f"{where}: the number of passages must be a whole number "
                                f"from 1 to {MAX_K}, not {value!r}"[:120])
    return value


def matching(passage: Mapping[str, Any], sources: Iterable[Source]) -> list[Source]:
    return [s for s in sources if s.matches(passage)]


def retrieval_figures(retrieved: Sequence[Mapping[str, Any]],
                      sources: Sequence[str]) -> dict[str, Any]:
    """One prompt's retrieval against its sources: the share of sources found (recall@k),
    1 / the rank of the first passage that is one of them (reciprocal rank), and which."""
    parsed = [parse_source(s) for s in sources]
    found = {s.text for p in retrieved for s in matching(p, parsed)}
    first = next((rank for rank, p in enumerate(retrieved, 1) if matching(p, parsed)), None)
    return {"recall": len(found) / len(parsed) if parsed else None,
            "rr": 1 / first if first else 0.0, "first_rank": first,
            "found": sorted(found), "missed": [s.text for s in parsed if s.text not in found]}


def cited_numbers(text: str) -> list[int]:
    """The passage numbers a reply cites, in order of first citation."""
    numbers = [int(n) for group in _CITED.findall(text) for n in group.split(",")]
    return list(dict.fromkeys(numbers))


def cites(sources: Sequence[str], text: str, grounding: Mapping[str, Any] | None
          ) -> tuple[bool, str]:
    """The ``cites`` check: whether a passage the reply cites by number is one of
    ``sources``, with the reason in words."""
    if not grounding:
        return False, "not answered from documents (no collection for this prompt)"
    passages = {int(p["number"]): p for p in grounding.get("passages") or []}
    cited = [n for n in cited_numbers(text) if n in passages]
    if not cited:
        return False, f"no passage cited (of {len(passages)} given)"
    parsed = [parse_source(s) for s in sources]
    hits = [n for n in cited if matching(passages[n], parsed)]
    shown = ", ".join(f"[{n}] {passages[n].get('where') or passages[n].get('path')}"
                      for n in (hits or cited)[:3])
    if hits:
        return True, f"cites an expected source: {shown}"[:300]
    return False, f"cites {shown}, none of {', '.join(sources)}"[:300]


GROUNDED_KEYS = {"model", "min_score", "scale"}


def document_check_value(kind: str, value: Any, judge: Callable[[Any], dict[str, Any]]
                         ) -> Any:
    """A ``cites`` or ``grounded`` check's stored value. ``cites``: None (the prompt's
    sources) or the expected sources. ``grounded``: a judge model (``{"grounded": "MODEL"}``
    is short for ``{"model": "MODEL"}``) with its scale and pass score, checked by
    ``judge`` (:func:`workbench.trials.checks.normalize_judge`; defaults 5 and 4)."""
    if kind == "cites":
        return None if value in (None, True) else normalize_sources(value, "check cites")
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = {"model": value}
    if not isinstance(value, dict):
        raise InvalidInputError('check grounded: expected {"model": "ID or name", '
                                '"min_score": 4, "scale": 5}')
    refuse_unknown_keys(value, GROUNDED_KEYS, "check grounded")
    spec = judge({**value, "rubric": "grounded"})
    spec.pop("rubric")
    return spec


def document_verdict(check: Mapping[str, Any], text: str,
                     grounding: Mapping[str, Any] | None, sources: Sequence[str]
                     ) -> tuple[bool | None, str]:
    """``cites`` now; ``grounded`` waits for its judge (None), or fails at once when the cell
    was not answered from documents (nothing to be grounded in)."""
    if check["type"] == "grounded":
        if not grounding:
            return False, "not answered from documents (no collection for this prompt)"
        return None, "waiting for the judge"
    return cites(check.get("value") or sources, text, grounding)


def retrieval_summary(records: Iterable[Mapping[str, Any] | None], k: int | None = None
                      ) -> dict[str, Any]:
    """Recall@k and MRR over the prompts whose cells name sources, with 95% Wilson
    intervals: ``records`` are the cells' grounding records, one per prompt."""
    scored = [r for r in records if r and r.get("sources") and r.get("recall") is not None]
    n = len(scored)
    recall = sum(float(r["recall"]) for r in scored)
    rr = sum(float(r["rr"]) for r in scored)
    ks = sorted({int(r["k"]) for r in scored if r.get("k")})
    # one k per contender, as a rule; a list when a resumed trial saw several
    out: dict[str, Any] = {"prompts": n, "k": ks[0] if len(ks) == 1 else (ks or k)}
    for name, total in (("recall", recall), ("mrr", rr)):
        low, high = wilson(total, n)
        out.update({name: total / n if n else None, f"{name}_low": low if n else None,
                    f"{name}_high": high if n else None})
    out["missed"] = sum(1 for r in scored if not r.get("found"))
    return out


def retrieval_words(figures: Mapping[str, Any] | None) -> str:
    """"retrieval recall@5 80% (95% 49–94%), MRR 0.70 (…) over 5 prompts", or ""."""
    if not figures or not figures.get("prompts"):
        return ""
    k = figures.get("k")
    at = f"@{k}" if isinstance(k, int) else ""
    return (f"retrieval recall{at} {figures['recall']:.0%} (95% {figures['recall_low']:.0%}–"
            f"{figures['recall_high']:.0%}), MRR {figures['mrr']:.2f} "
            f"({figures['mrr_low']:.2f}–{figures['mrr_high']:.2f}) over "
            f"{figures['prompts']} prompt{'s' * (figures['prompts'] != 1)} with sources")
