"""A chat is named by its first question: editing that question re-titles it (the window and
the CLI both edit through ``conversations.add_edited``), a title the user chose stays, and
editing a later message leaves the title alone."""

from __future__ import annotations

from workbench import conversations as convs


def chat_with(db, *questions: str) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    conversation = convs.create_conversation(db, model_id=None)
    ids: list[int] = []
    parent = None
    for question in questions:
        user = convs.add_message(db, conversation, "user", question, parent_id=parent)
        parent = convs.add_message(db, conversation, "assistant", "ok", parent_id=user)
        ids.append(user)
    return conversation, ids


def test_editing_the_first_question_retitles_the_chat(db):
    conversation, (first,) = chat_with(db, "What is 2+2?")
    new = convs.add_edited(db, first, "What is 3+3?")
    assert convs.get_conversation(db, conversation)["title"] == "What is 3+3?"
    assert convs.siblings(db, new) == [first, new]  # the old branch stays


def test_a_chosen_title_stays(db):
    conversation, (first,) = chat_with(db, "What is 2+2?")
    convs.rename_conversation(db, conversation, "Sums")
    convs.add_edited(db, first, "What is 3+3?")
    assert convs.get_conversation(db, conversation)["title"] == "Sums"


def test_editing_a_later_question_keeps_the_title(db):
    conversation, (_, second) = chat_with(db, "What is 2+2?", "And 5+5?")
    convs.add_edited(db, second, "And 6+6?")
    assert convs.get_conversation(db, conversation)["title"] == "What is 2+2?"
