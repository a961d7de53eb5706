"""Trials over documents (issue 22, item 5): suites and prompts name collections and the
sources that answer them; cells are grounded as chat is; ``cites`` and ``grounded`` checks;
recall@k and MRR with Wilson intervals per contender.

Real llama.cpp with the test model and real files made here, retrieved by keyword. Nothing
depends on the model's exact wording: where a verdict depends on the reply, the test works
out the expected verdict from the stored reply itself."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from docs_files import PDF_FACTS, papers_collection

from workbench.cli import cli
from workbench.errors import InvalidInputError, NotFoundError
from workbench.library import update_settings
from workbench.trials import store
from workbench.trials.contenders import make_contender
from workbench.trials.grounded import GROUNDED_PROMPT_SHA256
from workbench.trials.recommend import Bar, recommend
from workbench.trials.report import trial_html, trial_markdown
from workbench.trials.results import trial_summary
from workbench.trials.runner import TrialRun, create_trial
from workbench.trials.sources import cites, parse_source, retrieval_figures
from workbench.trials.stats import wilson
from workbench.trials.suites import export_suite, get_suite, import_suite

BASE = {"n_ctx": 2048, "n_threads": 1, "gpu_layers": 0, "temperature": 0.0, "seed": 7,
        "max_tokens": 24}
REFUND = "What is the refund period for damaged parcels?"
INVOICES = "Which clerk archives the invoices?"
SOUP = "When does the canteen serve soup?"


@pytest.fixture
def papers(db, tmp_path, library_model):
    root = papers_collection(db, tmp_path / "papers",
                             "# Canteen\n\nThe canteen serves soup on Fridays.\n")
    update_settings(db, library_model.id, {"n_threads": 1, "n_ctx": 2048, "gpu_layers": 0})
    return root


def _suite_file(tmp_path, lines):
    path = tmp_path / "docs-suite.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_a_trial_with_sources_reports_recall_and_mrr_with_intervals(
        db, engine, papers, library_model, tmp_path) -> None:
    path = _suite_file(tmp_path, [
        {"suite": {"docs": "papers"}},
        {"prompt": REFUND, "sources": ["handbook.pdf#page=2"], "checks": [{"cites": True}]},
        {"prompt": INVOICES, "sources": ["papers/handbook.pdf#page=3"]},
        # named wrongly on purpose: the soup is in notes.md, so retrieval cannot find it
        {"prompt": SOUP, "sources": ["handbook.pdf#page=1"],
         "checks": [{"cites": ["elsewhere.pdf"]}]},
    ])
    suite = import_suite(db, path)
    assert suite.docs == ["papers"] and suite.prompts[0].sources == ["handbook.pdf#page=2"]
    one = make_contender(db, library_model, {**BASE, "k": 1})
    three = make_contender(db, library_model, {**BASE, "k": 3})
    assert one.id != three.id and one.settings["k"] == 1  # k is part of the identity
    trial_id = create_trial(db, suite.id, [one, three], seed=1)
    list(TrialRun(db, engine, trial_id))
    assert store.get_trial_row(db, trial_id)["status"] == "done"

    cells = store.trial_cells(db, trial_id)
    assert len(cells) == 6 and all(c["grounding"] for c in cells)
    prompts = {p.id: p.prompt for p in get_suite(db, suite.id).prompts}
    for cell in cells:
        record = cell["grounding"]
        k = 1 if cell["contender_id"] == one.id else 3
        assert record["k"] == k and record["docs"] == ["papers"]
        assert 1 <= len(record["retrieved"]) <= k
        if prompts[cell["prompt_id"]] == REFUND:  # page 2 holds the refund fact
            assert record["retrieved"][0]["page"] == 2
            assert PDF_FACTS[2][:20] in record["context"]
            assert (record["recall"], record["rr"]) == (1.0, 1.0)
        if prompts[cell["prompt_id"]] == SOUP:
            assert record["retrieved"][0]["path"].endswith("notes.md")
            assert record["rr"] < 1 and record["first_rank"] != 1
        # the record agrees with a fresh computation from what was retrieved
        again = retrieval_figures(record["retrieved"], record["sources"])
        assert (again["recall"], again["rr"]) == (record["recall"], record["rr"])
        # cited numbers, as the test reads the reply
        given = {p["number"] for p in record["passages"]}
        read = {int(n) for group in re.findall(r"\[([\d, ]+)\]", cell["content"])
                for n in group.replace(" ", "").split(",") if n}
        assert set(record["cited"]) == read & given

    summary = trial_summary(db, trial_id)
    by_id = {c["contender_id"]: c["retrieval"] for c in summary["contenders"]}
    first = by_id[one.id]
    assert first["prompts"] == 3 and first["k"] == 1
    assert first["recall"] == pytest.approx(2 / 3) and first["mrr"] == pytest.approx(2 / 3)
    assert (first["recall_low"], first["recall_high"]) == pytest.approx(wilson(2, 3))
    assert by_id[three.id]["k"] == 3 and by_id[three.id]["recall"] >= first["recall"]

    text = trial_markdown(db, trial_id, Bar(min_pass_rate=0.5))
    assert "## Retrieval" in text and "recall@1 67%" in text and "MRR 0.67" in text
    assert "Passages (* cited): [1]" in text
    assert "Retrieval" in trial_html(db, trial_id)
    verdict = recommend(summary["contenders"], Bar(min_pass_rate=0.8))
    assert all(v.parts and v.parts[0].outcome in ("meets", "fails", "not enough evidence")
               for v in verdict.verdicts)
    shown = CliRunner().invoke(cli, ["trial", "show", str(trial_id), "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["contenders"][0]["retrieval"]["prompts"] == 3
    assert "recall_low" in data["contenders"][0]["retrieval"]


def test_cites_passes_and_fails_on_real_replies(db, engine, papers, library_model,
                                                tmp_path) -> None:
    path = _suite_file(tmp_path, [
        {"prompt": REFUND, "docs": "papers", "sources": ["handbook.pdf#page=2"],
         "system": "Answer in one sentence and cite the passage like [1].",
         "checks": [{"cites": True}]},
        {"prompt": REFUND, "docs": ["papers"], "checks": [{"cites": "notes.md"}]},
    ])
    suite = import_suite(db, path)
    contender = make_contender(db, library_model, {**BASE, "k": 2})
    trial_id = create_trial(db, suite.id, [contender], seed=2)
    list(TrialRun(db, engine, trial_id))
    for cell in store.trial_cells(db, trial_id):
        result = cell["check_results"][0]
        record = cell["grounding"]
        passages = {p["number"]: p for p in record["passages"]}
        wanted = result["check"].get("value") or ["handbook.pdf#page=2"]
        expected = any(parse_source(s).matches(passages[n]) for n in record["cited"]
                       for s in wanted)
        assert result["passed"] is expected, (cell["content"], result)
        assert cell["passed"] == int(expected)
    # a reply citing the passage that is the source passes; one citing another fails
    grounding = {"passages": [{"number": 1, "path": "/x/handbook.pdf", "page": 2,
                               "section": None, "where": "/x/handbook.pdf#page=2"},
                              {"number": 2, "path": "/x/notes.md", "page": None,
                               "section": "Canteen", "where": "/x/notes.md (Canteen)"}]}
    assert cites(["handbook.pdf#page=2"], "It is 45 days [1].", grounding)[0] is True
    assert cites(["handbook.pdf#page=2"], "Soup on Fridays [2].", grounding)[0] is False
    assert cites(["notes.md#canteen"], "See [1, 2].", grounding)[0] is True
    assert cites(["handbook.pdf#page=2"], "No citation.", grounding)[0] is False
    assert cites(["handbook.pdf"], "[1]", None) == (
        False, "not answered from documents (no collection for this prompt)")


def test_grounded_with_the_test_model_as_judge_gives_a_verdict_and_reason(
        db, engine, papers, library_model, tmp_path) -> None:
    path = _suite_file(tmp_path, [
        {"prompt": REFUND, "docs": "papers",
         "checks": [{"grounded": {"model": library_model.name, "min_score": 3}}]},
        {"prompt": "Say hello.", "checks": [{"grounded": library_model.name}]},  # no docs
    ])
    suite = import_suite(db, path)
    contender = make_contender(db, library_model, {**BASE, "k": 2})
    trial_id = create_trial(db, suite.id, [contender], seed=3)
    events = list(TrialRun(db, engine, trial_id))
    assert [e.message for e in events if e.message.startswith("judging")][-1] == "judging 1/1"
    grades = store.trial_judgements(db, trial_id)
    assert len(grades) == 1
    grade = grades[0]
    assert grade["error"] is None and 1 <= grade["score"] <= 5 and grade["reason"]
    assert grade["prompt_sha256"] == GROUNDED_PROMPT_SHA256
    cells = {c["content"] is not None and c["grounding"] is not None: c
             for c in store.trial_cells(db, trial_id)}
    graded = cells[True]["check_results"][0]
    assert graded["passed"] is bool(grade["score"] >= 3) and graded["reason"] == grade["reason"]
    plain = cells[False]["check_results"][0]
    assert plain["passed"] is False and "not answered from documents" in plain["detail"]


def test_suites_and_contenders_refuse_bad_documents_settings(db, papers, library_model,
                                                             tmp_path) -> None:
    with pytest.raises(InvalidInputError,
                       match=r"line 1: sources 'handbook.pdf#page=0': the page must"):
        import_suite(db, _suite_file(tmp_path, [
            {"prompt": "q", "docs": "papers", "sources": ["handbook.pdf#page=0"]}]))
    with pytest.raises(InvalidInputError, match="check cites: name the expected sources"):
        import_suite(db, _suite_file(tmp_path, [{"prompt": "q", "checks": ["cites"]}]))
    with pytest.raises(InvalidInputError, match="no collection named 'nope'"):
        import_suite(db, _suite_file(tmp_path, [{"prompt": "q", "docs": "nope"}]))
    with pytest.raises(InvalidInputError, match='a suite line is'):
        import_suite(db, _suite_file(tmp_path, [{"suite": {"dogs": 1}}, {"prompt": "q"}]))
    with pytest.raises(NotFoundError, match="no collection named 'other'"):
        make_contender(db, library_model, {**BASE, "docs": ["other"]})
    with pytest.raises(InvalidInputError, match="setting k"):
        make_contender(db, library_model, {**BASE, "k": 0})
    # the JSONL suite exports and imports back unchanged, header line included
    lines = [{"suite": {"docs": ["papers"]}},
             {"prompt": "q", "checks": [{"type": "cites"}], "sources": ["notes.md#Canteen"]}]
    made = import_suite(db, _suite_file(tmp_path, lines), name="roundtrip")
    assert [json.loads(x) for x in export_suite(db, made.id).splitlines()] == lines
    result = CliRunner().invoke(cli, ["trial", "run", "roundtrip", "-m", library_model.name,
                                      "--set", "docs=nope"])
    assert result.exit_code != 0 and "no collection named 'nope'" in result.output
