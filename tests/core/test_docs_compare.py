"""Compare with a contender that answers from documents (issue 22): its prompt holds the
passages, its reply is stored with the passages it was given and the numbers it cited, the
CLI prints them; a contender without ``docs`` beside it answers from the prompt alone; an
unknown collection is one line and stores nothing. Nothing checks the model's wording."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from docs_files import PDF_FACTS, papers_collection

from workbench.cli import cli
from workbench.documents.collections import remove_collection
from workbench.errors import InvalidInputError, NotFoundError, WorkbenchError
from workbench.library import update_settings
from workbench.trials import store
from workbench.trials.compare import CompareRun, sources_text
from workbench.trials.contenders import make_contender
from workbench.trials.votes import comparison_view

BASE = {"n_ctx": 2048, "n_threads": 1, "gpu_layers": 0, "temperature": 0.0, "seed": 7,
        "max_tokens": 12}


@pytest.fixture
def papers(db, tmp_path, library_model):
    root = papers_collection(db, tmp_path / "papers")
    update_settings(db, library_model.id, {"n_threads": 1, "n_ctx": 2048, "gpu_layers": 0})
    return root


def test_a_contender_with_docs_answers_from_its_passages(db, engine, papers,
                                                         library_model) -> None:
    page, fact = next(iter(PDF_FACTS.items()))
    question = f"{fact.split()[0]} {fact.split()[-1]}?"
    plain = make_contender(db, library_model, BASE)
    grounded = make_contender(db, library_model, {**BASE, "docs": "papers", "k": 2})
    run = CompareRun(db, engine, [plain, grounded], question, blind=False)
    events = list(run)
    done = {run.columns[e.slot].id: e for e in events if e.kind == "done"}
    assert done[plain.id].grounding is None
    given = done[grounded.id].grounding
    assert given is not None and given["docs"] == ["papers"] and given["k"] == 2
    assert 1 <= len(given["passages"]) <= 2
    assert all(p["path"].endswith("handbook.pdf") for p in given["passages"])
    view = comparison_view(db, run.comparison_id)
    by_id = {c["contender"]["id"]: c for c in view["columns"]}
    assert by_id[plain.id]["grounding"] is None
    stored = by_id[grounded.id]["grounding"]
    assert stored["passages"] == given["passages"] and isinstance(stored["cited"], list)
    line = sources_text(stored)
    assert line is not None and line.startswith("Sources from papers: [1] handbook.pdf p. ")
    # the prompt the grounded contender read held the passages, the plain one's did not
    replies = {r["contender_id"]: r for r in store.comparison_replies(db, run.comparison_id)}
    prompt_tokens = {cid: r["prompt_tokens"] for cid, r in replies.items()}
    assert prompt_tokens[grounded.id] > prompt_tokens[plain.id] + 50


def test_sources_text_marks_what_was_cited() -> None:
    record = {"docs": ["a", "b"], "k": 3, "note": None, "cited": [2], "passages": [
        {"number": 1, "path": "/x/h.pdf", "page": 3, "section": None},
        {"number": 2, "path": "/x/n.md", "page": None, "section": "Canteen"}]}
    assert sources_text(record) == ("Sources from a, b: [1] h.pdf p. 3; "
                                    "[2] n.md (Canteen) (cited)")
    assert sources_text(None) is None
    assert sources_text({**record, "passages": [], "note": "no passage of the collection "
                         "matches the question"}).endswith("none found (no passage of the "
                                                           "collection matches the question)")


def test_an_unknown_collection_is_one_line_and_stores_nothing(db, engine, papers,
                                                              library_model) -> None:
    with pytest.raises((InvalidInputError, NotFoundError)):
        make_contender(db, library_model, {**BASE, "docs": "nope"})
    before = db.execute("SELECT COUNT(*) FROM comparisons").fetchone()[0]
    grounded = make_contender(db, library_model, {**BASE, "docs": "papers"})
    plain = make_contender(db, library_model, BASE)
    remove_collection(db, "papers")  # gone since the contender was made
    with pytest.raises(WorkbenchError, match="papers"):
        CompareRun(db, engine, [plain, grounded], "refund?")
    assert db.execute("SELECT COUNT(*) FROM comparisons").fetchone()[0] == before


def test_the_cli_prints_the_sources_and_keeps_them_in_the_json(workspace, papers,
                                                                library_model) -> None:
    runner = CliRunner()
    args = ["compare", "Which page says it?", "-m", str(library_model.id)]
    for key, value in BASE.items():
        args += ["--set", f"{key}={value}"]
    args += ["-m", str(library_model.id)]
    for key, value in {**BASE, "docs": "papers", "k": 1}.items():
        args += ["--set", f"{key}={value}"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Sources from papers: [1] handbook.pdf p. " in result.output
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    view = json.loads(result.output)
    assert [c["grounding"] is None for c in view["columns"]].count(True) == 1
