"""Collections attached to a conversation (issue 22, item 4, the window's side): a send
attaches them, an edit and a regenerate answer from them again, and a cited passage opens
with the text around it, also after its file was indexed again.

Real llama.cpp with the test model; nothing checks the model's wording."""

from __future__ import annotations

import pytest
from docs_files import PDF_FACTS, papers_collection

from workbench import conversations as convs
from workbench.chat_runner import ChatRunner, Finished, TurnRequest, load_conversation
from workbench.documents.attached import attach_collections, attached_collections
from workbench.documents.collections import remove_collection
from workbench.documents.indexing import index
from workbench.documents.passage import passage_context
from workbench.errors import NotFoundError

QUESTION = "What is the refund period for damaged parcels?"
SMALL = {"n_ctx": 1024, "n_threads": 1, "max_tokens": 6, "seed": 1}


@pytest.fixture
def papers(db, tmp_path, library_model):
    notes = "# Notes\n\n" + "\n\n".join(f"Paragraph {i}: the canteen serves soup number {i} "
                                        "on Fridays, " + "with bread " * 40 for i in range(6))
    return papers_collection(db, tmp_path / "papers", notes)


def model_id(db) -> int:
    return int(db.execute("SELECT id FROM models").fetchone()[0])


def turn(db, engine, request: TurnRequest) -> tuple[ChatRunner, Finished]:
    runner = ChatRunner(db, engine, request)
    finished = [event for event in runner if isinstance(event, Finished)][0]
    return runner, finished


def test_send_attaches_and_edit_and_regenerate_answer_from_the_same_collections(
        db, engine, papers) -> None:
    first, sent = turn(db, engine, TurnRequest("send", model_id(db), prompt=QUESTION,
                                               overrides=SMALL, docs=["papers"], k=2))
    assert first.turn is not None
    conversation = first.turn.conversation_id
    assert attached_collections(db, conversation) == ["papers"]
    assert load_conversation(db, conversation).docs == ["papers"]
    assert sent.citations[0]["page"] == 2

    again, regenerated = turn(db, engine, TurnRequest(
        "regenerate", model_id(db), message_id=first.turn.reply_message_id, overrides=SMALL))
    assert again.turn is not None and again.turn.reply_message_id != first.turn.reply_message_id
    assert regenerated.citations and regenerated.citations[0]["page"] == 2
    assert PDF_FACTS[2] in again.turn.reply.messages[-1]["content"]
    stored = convs.get_message(db, again.turn.reply_message_id)
    assert stored.settings["citations"] == regenerated.citations

    edited, answer = turn(db, engine, TurnRequest(
        "edit", model_id(db), prompt="Who archives the invoices?",
        message_id=first.turn.user_message_id, overrides=SMALL))
    assert answer.citations and answer.citations[0]["page"] == 3
    assert edited.turn is not None
    assert PDF_FACTS[3] in edited.turn.reply.messages[-1]["content"]

    attach_collections(db, conversation, [])  # detached: a plain regenerate
    _plain, plain = turn(db, engine, TurnRequest(
        "regenerate", model_id(db), message_id=first.turn.reply_message_id, overrides=SMALL))
    assert plain.citations == []


def test_attaching_checks_names_and_a_removed_collection_is_detached(db, papers) -> None:
    conversation = convs.create_conversation(db, model_id=None)
    with pytest.raises(NotFoundError, match="no collection named 'nope'"):
        attach_collections(db, conversation, ["papers", "nope"])
    assert attached_collections(db, conversation) == []
    assert attach_collections(db, conversation, ["papers", "papers"]) == ["papers"]
    remove_collection(db, "papers")
    assert attached_collections(db, conversation) == []


def test_a_citation_opens_its_passage_with_the_text_around_it(db, papers) -> None:
    row = db.execute("SELECT c.id, c.start, c.\"end\", f.path FROM doc_chunks c JOIN doc_files f "
                     "ON f.id = c.file_id WHERE f.path LIKE '%notes.md' AND c.position = 1"
                     ).fetchone()
    citation = {"chunk_id": row[0], "start": row[1], "end": row[2], "path": row[3]}
    shown = passage_context(db, citation)
    assert shown.note is None and shown.file_exists and shown.before and shown.after
    assert "Paragraph" in shown.text and shown.where.startswith("notes.md")
    # Passages overlap: the text around it does not repeat the passage's own text.
    assert not shown.text.startswith(shown.before[-40:])
    notes = papers / "notes.md"
    notes.write_text("# Notes\n\nChanged.\n\n" + notes.read_text()[9:])
    list(index(db, "papers"))
    moved = passage_context(db, citation)
    assert moved.note is not None and "indexed again" in moved.note
    remove_collection(db, "papers")
    with pytest.raises(NotFoundError, match="no longer indexed"):
        passage_context(db, citation)
