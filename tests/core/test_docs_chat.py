"""Chat with a collection (issue 22, item 4): the question's passages go into the prompt,
numbered, within the context; the reply's record keeps the citations; the CLI prints them.

Real llama.cpp with the test model; the documents are made here and retrieved by keyword.
Nothing checks the model's wording (greedy text differs between CPUs): only what it was
given and what was recorded."""

from __future__ import annotations

import json

import pytest
from docs_files import PDF_FACTS, papers_collection

from workbench import conversations as convs
from workbench.chat_runner import ChatRunner, Finished, TurnRequest
from workbench.documents.collections import add_collection
from workbench.documents.grounding import fit_passages
from workbench.documents.indexing import index
from workbench.documents.search import Passage

QUESTION = "What is the refund period for damaged parcels?"
SMALL = {"n_ctx": 1024, "n_threads": 1, "max_tokens": 8, "seed": 1}


@pytest.fixture
def papers(db, tmp_path, library_model):
    return papers_collection(db, tmp_path / "papers",
                             "# Notes\n\nThe canteen serves soup on Fridays.\n")


def test_the_prompt_holds_the_passage_and_the_reply_records_its_citation(
        db, engine, papers) -> None:
    runner = ChatRunner(db, engine, TurnRequest("send", library_model_id(db), prompt=QUESTION,
                                                overrides=SMALL, docs=["papers"], k=3))
    finished = [event for event in runner if isinstance(event, Finished)][0]
    assert runner.turn is not None
    sent = runner.turn.reply.messages[-1]["content"]
    assert PDF_FACTS[2] in sent and "[1] " + str(papers / "handbook.pdf") + "#page=2" in sent
    assert sent.endswith("Question: " + QUESTION) and "Cite each passage" in sent
    first = finished.citations[0]
    assert (first["collection"], first["path"], first["page"], first["number"]) == (
        "papers", str(papers / "handbook.pdf"), 2, 1)
    assert first["score"] > 0 and isinstance(first["chunk_id"], int)
    assert finished.docs_note is None  # everything fitted
    stored = convs.get_message(db, runner.turn.reply_message_id)
    assert stored.settings["citations"] == finished.citations
    question = convs.get_message(db, runner.turn.user_message_id)
    assert question.content == QUESTION  # History keeps the question as typed


def library_model_id(db) -> int:
    return int(db.execute("SELECT id FROM models").fetchone()[0])


def test_a_tiny_context_cuts_the_passages_and_says_so(db, engine, tmp_path,
                                                      library_model) -> None:
    root = tmp_path / "long"
    root.mkdir()
    for number in range(4):
        (root / f"policy{number}.txt").write_text(
            f"Refund policy part {number}. " + "The refund period depends on the parcel. " * 20)
    add_collection(db, "long", [str(root)])
    list(index(db, "long"))
    runner = ChatRunner(db, engine, TurnRequest(
        "send", library_model_id(db), prompt="What is the refund period?",
        overrides={**SMALL, "n_ctx": 256}, docs=["long"], k=4))
    finished = [event for event in runner if isinstance(event, Finished)][0]
    assert finished.docs_note is not None
    assert finished.docs_note.startswith("passages cut to fit the 256-token context")
    assert len(finished.citations) < 4
    assert finished.stats.prompt_tokens + 8 <= 256  # it fitted: no turn dropped, no error
    assert runner.turn is not None
    stored = convs.get_message(db, runner.turn.reply_message_id)
    assert stored.settings["docs_note"] == finished.docs_note


def _passage(number: int, words: int) -> Passage:
    return Passage(number, "c", f"/d/{number}.txt", None, None, 0, 0,
                   " ".join(["word"] * words), 1.0, "keyword")


def test_fitting_keeps_whole_passages_then_shortens_one_then_stops() -> None:
    def count(text: str) -> int:
        return len(text.split())

    fitted = fit_passages([_passage(1, 30), _passage(2, 200), _passage(3, 5)], 100, count,
                          512)
    assert [p.chunk_id for p in fitted.passages] == [1, 2] and fitted.shortened
    assert sum(count(block) for block in fitted.blocks) <= 100 - count(
        "Answer the question from the numbered passages below. Cite each passage you use by "
        "its number in square brackets, like [1]. If the passages do not answer it, say so.")
    assert fitted.note == ("passages cut to fit the 512-token context: 2 of 3 kept, the last "
                           "one shortened")
    whole = fit_passages([_passage(1, 30)], 100, count, 512)
    assert whole.note is None and not whole.cut
    none = fit_passages([_passage(1, 300)], 30, count, 512)
    assert none.passages == [] and none.message("Q?") == "Q?" and none.cut


def test_cli_chat_docs_json_cites_the_page_and_history_lists_it(cli_run, db, papers) -> None:
    result = cli_run("chat", "1", QUESTION, "--docs", "papers", "--format", "json", "--k", "2",
                     "--ctx", "1024", "--threads", "1", "--max-tokens", "8", "--seed", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    first = data["citations"][0]
    assert (first["collection"], first["path"], first["page"]) == (
        "papers", str(papers / "handbook.pdf"), 2)
    assert {"chunk_id", "score", "section"} <= set(first) and len(data["citations"]) <= 2
    assert data["text"] == convs.get_message(db, data["message_id"]).content
    shown = cli_run("history", "show", str(data["conversation_id"])).output
    assert "[1] " + str(papers / "handbook.pdf") + "#page=2 (papers, passage" in shown
    text = cli_run("chat", "1", QUESTION, "--docs", "papers", "--k", "1", "--ctx", "1024",
                   "--threads", "1", "--max-tokens", "4", "--seed", "1")
    assert text.exit_code == 0, text.output
    assert "Sources:\n[1] " + str(papers / "handbook.pdf") + "#page=2" in text.stdout


def test_cli_chat_unknown_collection_is_one_line_and_saves_nothing(cli_run, db,
                                                                   library_model) -> None:
    result = cli_run("chat", "1", QUESTION, "--docs", "nosuch")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and lines == [
        "Error: no collection named 'nosuch' (see: docs list)"], result.output
    assert convs.list_conversations(db, 10) == []
