"""Chats saved as they stream, continued, branched, searched and exported."""

import json
import os
import signal
import subprocess
import sys
import time

from workbench import chat
from workbench import conversations as convs
from workbench.engine import LoadSettings, SamplingSettings
from workbench.export import export_conversation
from workbench.store import open_database

LOAD = LoadSettings(n_ctx=2048, n_threads=2, gpu_layers=0)
GREEDY = SamplingSettings(temperature=0.0, seed=7, max_tokens=32)


def test_streamed_reply_is_saved_with_metrics(db, engine, library_model) -> None:
    turn = chat.send(db, engine, library_model, "What is the capital of France?",
                     load=LOAD, sampling=GREEDY)
    text = "".join(turn)
    saved = convs.get_message(db, turn.reply_message_id)
    assert saved.content == text and len(text) > 10
    assert saved.status == "done"
    assert saved.finish_reason in ("stop", "length")
    for key in ("prompt_tokens", "completion_tokens", "ttft_ms", "prompt_tps", "gen_tps",
                "peak_rss"):
        assert saved.metrics[key] > 0, key
    assert saved.settings["seed"] == 7
    assert saved.settings["model_sha256"] == library_model.sha256
    conversation = convs.get_conversation(db, turn.conversation_id)
    assert conversation["title"] == "What is the capital of France?"
    assert conversation["leaf_id"] == turn.reply_message_id


def test_stop_keeps_the_partial_reply(db, engine, library_model) -> None:
    turn = chat.send(db, engine, library_model, "Write a long poem about the sea.", load=LOAD,
                     sampling=SamplingSettings(temperature=0.7, seed=1, max_tokens=500))
    pieces = []
    for piece in turn:
        pieces.append(piece)
        if len(pieces) == 5:
            turn.stop()
    saved = convs.get_message(db, turn.reply_message_id)
    assert saved.status == "stopped" and saved.finish_reason == "stopped"
    assert saved.content == "".join(pieces) and saved.content


def test_continue_uses_the_history(db, engine, library_model) -> None:
    first = chat.send(db, engine, library_model, "My name is Zorblax. Remember it.",
                      load=LOAD, sampling=GREEDY)
    list(first)
    second = chat.send(db, engine, library_model, "What is my name?",
                       conversation_id=first.conversation_id, load=LOAD, sampling=GREEDY)
    assert "Zorblax" in "".join(second)
    path = convs.branch(db, first.conversation_id)
    assert [m.role for m in path] == ["user", "assistant", "user", "assistant"]
    assert second.stats.prompt_tokens > first.stats.prompt_tokens
    # The first turn is evaluated whole, as the CLI's first reply is; the second reuses it.
    assert first.stats.settings["prompt_cache"] == "off"
    assert second.stats.settings["prompt_cache"] == "reused prefix"


def test_only_a_turn_without_an_earlier_reply_is_fresh() -> None:
    system = {"role": "system", "content": "Be brief."}
    user = {"role": "user", "content": "Hi"}
    assert chat.is_first_turn([user]) and chat.is_first_turn([system, user])
    assert not chat.is_first_turn([user, {"role": "assistant", "content": "Hello"}, user])


def test_edit_and_regenerate_keep_old_branches(db, engine, library_model) -> None:
    turn = chat.send(db, engine, library_model, "Say hello.", load=LOAD, sampling=GREEDY)
    list(turn)
    again = chat.regenerate(db, engine, library_model, turn.reply_message_id, load=LOAD,
                            sampling=SamplingSettings(temperature=0.9, seed=99, max_tokens=16))
    list(again)
    assert convs.siblings(db, again.reply_message_id) == [turn.reply_message_id,
                                                          again.reply_message_id]
    edited = chat.edit(db, engine, library_model, turn.user_message_id, "Say goodbye.",
                       load=LOAD, sampling=GREEDY)
    list(edited)
    assert convs.siblings(db, edited.user_message_id) == [turn.user_message_id,
                                                          edited.user_message_id]
    shown = convs.branch(db, turn.conversation_id)
    assert [m.content for m in shown][0] == "Say goodbye."
    # The old branch is still there and can be shown again, landing on its newest reply.
    convs.show_branch(db, turn.conversation_id, turn.user_message_id)
    assert convs.branch(db, turn.conversation_id)[-1].id == again.reply_message_id


def test_full_text_search_and_export(db, engine, library_model) -> None:
    turn = chat.send(db, engine, library_model, "Tell me about quokkas, please.", load=LOAD,
                     sampling=GREEDY)
    list(turn)
    hits = convs.search_messages(db, "quokkas")
    assert {hit["conversation_id"] for hit in hits} == {turn.conversation_id}
    assert any("[quokkas]" in hit["snippet"].lower() for hit in hits)
    assert convs.search_messages(db, "platypus") == []
    markdown = export_conversation(db, turn.conversation_id, "md")
    assert "Tell me about quokkas" in markdown and "tok/s" in markdown
    data = json.loads(export_conversation(db, turn.conversation_id, "json"))
    assert data["messages"][1]["metrics"]["completion_tokens"] > 0


def test_delete_and_undo(db, engine, library_model) -> None:
    turn = chat.send(db, engine, library_model, "Count to three.", load=LOAD, sampling=GREEDY)
    list(turn)
    saved = convs.delete_conversation(db, turn.conversation_id)
    assert convs.list_conversations(db) == []
    assert convs.search_messages(db, "three") == []
    convs.restore_conversation(db, saved)
    assert len(convs.branch(db, turn.conversation_id)) == 2
    assert convs.search_messages(db, "Count")


def test_killed_mid_reply_leaves_a_consistent_database(tmp_path, model_path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "workbench", "models", "add", str(model_path)],
                   env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", "chat", "1", "Write a very long essay on rivers.",
         "--max-tokens", "3000", "--temperature", "0.8", "--ctx", "4096", "--threads", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    received = b""
    deadline = time.monotonic() + 60
    while len(received) < 400 and time.monotonic() < deadline:
        received += os.read(process.stdout.fileno(), 64)
    time.sleep(1.2)  # at least one periodic save after what we read
    process.send_signal(signal.SIGKILL)
    process.wait()
    db = open_database(home / "workbench.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reply = [m for m in db["messages"].rows if m["role"] == "assistant"][0]
    assert reply["status"] == "streaming"
    assert len(reply["content"]) >= 200
    assert received.decode("utf-8", "replace")[:100] in reply["content"][:200] or \
        reply["content"][:50] in received.decode("utf-8", "replace")
    assert convs.mark_interrupted(db) == 1
    assert convs.get_message(db, reply["id"]).status == "interrupted"
