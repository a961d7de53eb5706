"""Prompt suites: create, edit, import (JSONL, CSV, plain text) and export (JSONL).

A suite prompt may carry a system prompt, a reference answer and checks. A suite or a prompt
may name document collections to answer from (``"docs": "handbook"`` or a list), and a prompt
the sources that answer it (``"sources": ["handbook.pdf#page=12"]``, see
:mod:`workbench.trials.sources`); a JSONL suite names its own collections on a first line of
its own, ``{"suite": {"docs": "handbook"}}``. Import reads the
whole file and validates every line before writing anything, so a bad line 40 leaves no
half-imported suite; the error names the file and the line. A suite that could not work is
refused here, not when a trial reaches it: values of the wrong type, NaN or Infinity, a JSON
schema whose ``$ref`` does not resolve or whose pattern is not a regular expression.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from workbench.errors import InvalidInputError, NotFoundError, WorkbenchError
from workbench.library import now
from workbench.model_settings import find_model
from workbench.text_files import read_text_file
from workbench.trials.checks import loads_strict, normalize_checks
from workbench.trials.image_prompts import image_refs, keep_prompt_images, normalize_images
from workbench.trials.sources import normalize_docs, normalize_sources
from workbench.trials.tool_prompts import tool_fields


@dataclass
class SuitePrompt:
    prompt: str
    system: str | None = None
    reference: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    id: int | None = None
    #: Tools the prompt offers (canonical JSON text) and their canned results
    #: (:mod:`workbench.trials.tool_prompts`); None when it offers none.
    tools: str | None = None
    tool_results: dict[str, Any] | None = None
    docs: list[str] = field(default_factory=list)  # collections it is answered from
    sources: list[str] = field(default_factory=list)  # where its answer is
    #: The sha256s of its pictures, kept in the data folder (:mod:`.image_prompts`); paths
    #: until the prompt is stored.
    images: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"prompt": self.prompt}
        for key in ("system", "reference"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.checks:
            data["checks"] = self.checks
        data.update(_tool_dict(self))
        for key in ("docs", "sources"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.images:
            data["images"] = image_refs(self.images)
        return data


def _tool_dict(prompt: SuitePrompt) -> dict[str, Any]:
    """A tool prompt's own fields, as a suite line writes them."""
    data: dict[str, Any] = {}
    if prompt.tools:
        try:
            data["tools"] = json.loads(prompt.tools)
        except (TypeError, ValueError, RecursionError):  # not checked yet: kept as given
            data["tools"] = prompt.tools
    if prompt.tool_results:
        data["tool_results"] = prompt.tool_results
    return data


@dataclass
class Suite:
    id: int
    name: str
    description: str
    prompts: list[SuitePrompt]
    docs: list[str] = field(default_factory=list)  # collections every prompt answers from

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description,
                "docs": self.docs,
                "prompts": [{"id": p.id, **p.to_dict()} for p in self.prompts]}


def check_unicode(fields: dict[str, Any], where: str) -> None:
    """One line naming the field when a prompt's text has a lone surrogate (a JSON
    ``\\ud800`` escape, a command-line byte that is not UTF-8): it could not be stored."""
    for key in ("prompt", "system", "reference"):
        value = fields.get(key)
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                raise InvalidInputError(f"{where}: '{key}' has a lone surrogate "
                                        f"({value[error.start]!r}): not valid Unicode"
                                        ) from None


def make_prompt(raw: dict[str, Any], where: str) -> SuitePrompt:
    """A validated prompt from an import row; ``where`` names the file and line for errors."""
    text = raw.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{where}: needs a non-empty 'prompt'")
    for key in ("system", "reference"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise InvalidInputError(f"{where}: '{key}' must be text, not "
                                    f"{type(raw[key]).__name__}")
    check_unicode(raw, where)
    reference = raw.get("reference") or None
    try:
        checks = normalize_checks(raw.get("checks"), reference)
        docs = normalize_docs(raw.get("docs"))
        sources = normalize_sources(raw.get("sources"))
        check_cites(checks, sources)
    except InvalidInputError as error:
        raise InvalidInputError(f"{where}: {error}") from None
    tools, tool_results = tool_fields(raw, checks, where)
    return SuitePrompt(text, raw.get("system") or None, reference, checks, tools=tools,
                       tool_results=tool_results, docs=docs, sources=sources,
                       images=normalize_images(raw.get("images"), where))


def check_cites(checks: list[dict[str, Any]], sources: list[str]) -> None:
    """A ``cites`` check without sources of its own needs the prompt's."""
    for check in checks:
        if check.get("type") == "cites" and not check.get("value") and not sources:
            raise InvalidInputError("check cites: name the expected sources (its value, or "
                                    "the prompt's 'sources')")


def suite_header(raw: dict[str, Any], where: str) -> list[str]:
    """The collections a JSONL suite's header line ``{"suite": {"docs": ...}}`` names."""
    head = raw["suite"]
    if not isinstance(head, dict) or set(head) - {"docs"} or len(raw) != 1:
        raise InvalidInputError(f'{where}: a suite line is {{"suite": {{"docs": "NAME"}}}}')
    try:
        return normalize_docs(head.get("docs"))
    except InvalidInputError as error:
        raise InvalidInputError(f"{where}: {error}") from None


def parse_suite_text(text: str, fmt: str, source: str = "suite") -> list[SuitePrompt]:
    """Parse JSONL, CSV or plain text (one prompt a line) into validated prompts."""
    return parse_suite(text, fmt, source)[0]


def parse_suite(text: str, fmt: str, source: str = "suite"
                ) -> tuple[list[SuitePrompt], list[str]]:
    """The validated prompts, and the collections the suite names (a JSONL header line)."""
    prompts: list[SuitePrompt] = []
    docs: list[str] = []
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = loads_strict(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{source} line {number}: not JSON ({error.msg})") from None
            except ValueError as error:  # NaN or Infinity
                raise InvalidInputError(f"{source} line {number}: {error}") from None
            except RecursionError:
                raise InvalidInputError(f"{source} line {number}: nested too deeply") from None
            if not isinstance(raw, dict):
                raise InvalidInputError(f"{source} line {number}: expected a JSON object")
            if "suite" in raw and not prompts and not docs:
                docs = suite_header(raw, f"{source} line {number}")
                continue
            prompts.append(make_prompt(raw, f"{source} line {number}"))
    elif fmt == "csv":
        try:
            prompts = _parse_csv(text, source)
        except csv.Error as error:
            raise InvalidInputError(f"{source}: not a readable CSV file ({error})") from None
    elif fmt == "txt":
        prompts = [SuitePrompt(line.strip()) for line in text.splitlines() if line.strip()]
    else:
        raise InvalidInputError(f"{source}: unknown suite format '{fmt}' (jsonl, csv, txt)")
    if not prompts:
        raise InvalidInputError(f"{source}: no prompts found")
    return prompts, docs


def _parse_csv(text: str, source: str) -> list[SuitePrompt]:
    prompts = []
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "prompt" not in reader.fieldnames:
        raise InvalidInputError(f"{source}: a CSV suite needs a 'prompt' column")
    for number, row in enumerate(reader, 2):
        if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
            continue
        row.pop(None, None)  # cells beyond the header row  # type: ignore[call-overload]
        prompts.append(make_prompt(dict(row), f"{source} line {number}"))
    return prompts


def check_judge_models(db: Database, checks: list[dict[str, Any]]) -> None:
    """Refuse a judge (or grounded) check whose model is not in the library (or whose name
    matches several) when the suite is imported or edited, not when a trial reaches it."""
    for check in checks:
        if check.get("type") in ("judge", "grounded"):
            try:
                find_model(db, check["value"]["model"])
            except WorkbenchError as error:
                raise InvalidInputError(f"check {check['type']}: {error}") from None


def check_collections(db: Database, docs: list[str]) -> None:
    """Refuse a collection name that does not exist when the suite is imported or edited."""
    from workbench.documents.collections import get_collection

    for name in docs:
        get_collection(db, name)


def guess_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if suffix in ("csv", "tsv"):
        return "csv"
    return "txt"


def import_suite(db: Database, path: str | Path, name: str | None = None,
                 fmt: str | None = None) -> Suite:
    """Create a suite from a file; the name defaults to the file's stem (made unique)."""
    path = Path(path).expanduser()
    text = read_text_file(path, str(path))
    prompts, docs = parse_suite(text, fmt or guess_format(path), str(path))
    try:
        check_collections(db, docs)
    except WorkbenchError as error:
        raise InvalidInputError(f"{path}: {error}") from None
    for number, prompt in enumerate(prompts, 1):
        try:
            check_judge_models(db, prompt.checks)
            check_collections(db, prompt.docs)
        except WorkbenchError as error:
            raise InvalidInputError(f"{path} prompt {number}: {error}") from None
    for number, prompt in enumerate(prompts, 1):  # paths relative to the suite file
        prompt.images = keep_prompt_images(db, prompt.images, path.parent,
                                           f"{path} prompt {number}")
    return create_suite(db, name or _unique_name(db, path.stem), prompts,
                        description=f"imported from {path.name}", docs=docs)


def _unique_name(db: Database, base: str) -> str:
    names = {r["name"] for r in db.table("suites").rows}
    if base not in names:
        return base
    n = 2
    while f"{base} ({n})" in names:
        n += 1
    return f"{base} ({n})"


def create_suite(db: Database, name: str, prompts: list[SuitePrompt] | None = None,
                 description: str = "", docs: list[str] | None = None) -> Suite:
    name = name.strip()
    if not name:
        raise InvalidInputError("suite name: must not be empty")
    if list(db.table("suites").rows_where("name = ?", [name])):
        raise InvalidInputError(f"suite '{name}': a suite with that name exists")
    with db.atomic():
        stamp = now()
        row = {"name": name, "description": description, "created_at": stamp,
               "updated_at": stamp}
        if docs:
            check_collections(db, docs)
            row["docs"] = json.dumps(docs)
        suite_id = int(db.table("suites").insert(row).last_pk or 0)
        for prompt in prompts or []:
            add_prompt(db, suite_id, prompt)
    return get_suite(db, suite_id)


def _prompt_row(prompt: SuitePrompt) -> dict[str, Any]:
    row = {"prompt": prompt.prompt, "system": prompt.system, "reference": prompt.reference,
           "checks": json.dumps(prompt.checks), **_tool_row(prompt)}
    row["docs"] = json.dumps(prompt.docs) if prompt.docs else None
    row["sources"] = json.dumps(prompt.sources) if prompt.sources else None
    row["images"] = json.dumps(prompt.images) if prompt.images else None
    return row


def _tool_row(prompt: SuitePrompt) -> dict[str, Any]:
    """A prompt's tools and canned results checked (against its checks too) and as stored."""
    where = "prompt"
    prompt.tools, prompt.tool_results = tool_fields(
        {"tools": prompt.tools, "tool_results": prompt.tool_results}, prompt.checks, where)
    return {"tools": prompt.tools, "tool_results": json.dumps(prompt.tool_results)
            if prompt.tool_results else None}


def _check_documents(db: Database, prompt: SuitePrompt) -> None:
    """The prompt's collections exist, its sources read, a ``cites`` check has sources."""
    prompt.docs = normalize_docs(prompt.docs)
    prompt.sources = normalize_sources(prompt.sources)
    check_cites(prompt.checks, prompt.sources)
    check_collections(db, prompt.docs)


def set_suite_docs(db: Database, ref: int | str, docs: list[str]) -> Suite:
    """Name the collections the suite's prompts are answered from (none: plain prompts)."""
    suite = get_suite(db, ref)
    names = normalize_docs(docs)
    check_collections(db, names)
    db.table("suites").update(suite.id, {"docs": json.dumps(names) if names else None,
                                         "updated_at": now()})
    return get_suite(db, suite.id)


def add_prompt(db: Database, suite_id: int, prompt: SuitePrompt) -> int:
    """Append a prompt; its checks are validated (and shorthand expanded) first."""
    if not prompt.prompt.strip():
        raise InvalidInputError("prompt: must not be empty")
    check_unicode(prompt.to_dict(), f"suite {suite_id}")
    prompt.checks = normalize_checks(prompt.checks, prompt.reference)
    check_judge_models(db, prompt.checks)
    _check_documents(db, prompt)
    prompt.images = keep_prompt_images(db, prompt.images, None, "prompt")
    position = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM suite_prompts "
                          "WHERE suite_id = ?", [suite_id]).fetchone()[0]
    row = {"suite_id": suite_id, "position": position, **_prompt_row(prompt)}
    _touch(db, suite_id)
    return int(db.table("suite_prompts").insert(row).last_pk or 0)


def update_prompt(db: Database, prompt_id: int, prompt: SuitePrompt) -> None:
    """Edit a prompt in place. Trial cells keep pointing at it; the text they ran is in the
    report of that trial, which is why a finished trial should be rerun after edits."""
    rows = list(db.table("suite_prompts").rows_where("id = ?", [prompt_id]))
    if not rows:
        raise NotFoundError(f"prompt {prompt_id}: not found")
    prompt.checks = normalize_checks(prompt.checks, prompt.reference)
    check_judge_models(db, prompt.checks)
    _check_documents(db, prompt)
    prompt.images = keep_prompt_images(db, prompt.images, None, "prompt")
    db.table("suite_prompts").update(prompt_id, _prompt_row(prompt))
    _touch(db, rows[0]["suite_id"])


def delete_prompt(db: Database, prompt_id: int) -> None:
    used = db.execute("SELECT COUNT(*) FROM trial_cells WHERE prompt_id = ?",
                      [prompt_id]).fetchone()[0]
    if used:
        raise InvalidInputError(f"prompt {prompt_id}: used by {used} trial results; "
                                "copy the suite to change it")
    db.table("suite_prompts").delete(prompt_id)


def rename_suite(db: Database, suite_id: int, name: str) -> None:
    if list(db.table("suites").rows_where("name = ? AND id != ?", [name, suite_id])):
        raise InvalidInputError(f"suite '{name}': a suite with that name exists")
    db.table("suites").update(suite_id, {"name": name.strip(), "updated_at": now()})


def delete_suite(db: Database, suite_id: int) -> None:
    if db.execute("SELECT COUNT(*) FROM trials WHERE suite_id = ?", [suite_id]).fetchone()[0]:
        raise InvalidInputError(f"suite {suite_id}: trials use it; it is kept")
    with db.atomic():
        db.execute("DELETE FROM suite_prompts WHERE suite_id = ?", [suite_id])
        db.table("suites").delete(suite_id)


def _touch(db: Database, suite_id: int) -> None:
    db.table("suites").update(suite_id, {"updated_at": now()})


def get_suite(db: Database, ref: int | str) -> Suite:
    """A suite by id or exact name."""
    text = str(ref).strip()
    rows = list(db.table("suites").rows_where("id = ?", [int(text)])) if text.isdigit() else []
    rows = rows or list(db.table("suites").rows_where("name = ?", [text]))
    if not rows:
        raise NotFoundError(f"suite '{text}': no suite has that id or name")
    row = rows[0]
    prompts = [
        SuitePrompt(p["prompt"], p["system"], p["reference"], json.loads(p["checks"] or "[]"),
                    p["id"], tools=p.get("tools"),
                    tool_results=json.loads(p["tool_results"]) if p.get("tool_results")
                    else None, docs=json.loads(p.get("docs") or "[]"),
                    sources=json.loads(p.get("sources") or "[]"),
                    images=json.loads(p.get("images") or "[]"))
        for p in db.table("suite_prompts").rows_where("suite_id = ?", [row["id"]],
                                                order_by="position, id")
    ]
    return Suite(row["id"], row["name"], row["description"] or "", prompts,
                 json.loads(row.get("docs") or "[]"))


def list_suites(db: Database) -> list[dict[str, Any]]:
    return list(db.query(
        "SELECT s.id, s.name, s.description, s.updated_at, COUNT(p.id) AS prompts "
        "FROM suites s LEFT JOIN suite_prompts p ON p.suite_id = s.id "
        "GROUP BY s.id ORDER BY s.name"))


def export_suite(db: Database, ref: int | str) -> str:
    """The suite as JSONL, the richest of the import formats (imports back unchanged)."""
    suite = get_suite(db, ref)
    head = [{"suite": {"docs": suite.docs}}] if suite.docs else []
    return "".join(json.dumps(p, ensure_ascii=False) + "\n"
                   for p in [*head, *(p.to_dict() for p in suite.prompts)])
