"""llama.cpp's failures never take Workbench down (issue 10, item 1), on the real model.

llama.cpp runs in an engine process; these tests end that process the ways llama.cpp does
(SIGABRT from a failed GGML_ASSERT, SIGSEGV, SIGBUS from a truncated memory-mapped file, a kill)
and check that this process carries on: a one-line EngineCrashed, the stored reply keeps its
text as ``interrupted``, the database is intact, and the next reply works in a fresh process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from workbench import chat
from workbench import conversations as convs
from workbench.engine import Engine, LoadSettings, SamplingSettings
from workbench.engine.batched import BatchCell
from workbench.engine.exits import describe_exit
from workbench.errors import ContextOverflowError, EngineCrashed

# One thread: these tests measure no speed, and one thread is steady on a busy machine.
LOAD = LoadSettings(n_ctx=2048, n_threads=1, gpu_layers=0)
STORY = "Write a very long story about a dragon."
LONG = SamplingSettings(temperature=0.8, seed=3, max_tokens=1500)
GREEDY = SamplingSettings(temperature=0.0, seed=1, max_tokens=16)
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def own_engine():
    """An engine of this module's own: these tests kill its process again and again."""
    engine = Engine()
    yield engine
    engine.unload()


def integrity(db) -> str:  # type: ignore[no-untyped-def]
    return str(db.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.parametrize("sig", [signal.SIGABRT, signal.SIGSEGV, signal.SIGKILL])
def test_engine_process_dies_mid_reply_and_the_app_goes_on(sig, own_engine, db, library_model):
    turn = chat.send(db, own_engine, library_model, STORY, load=LOAD, sampling=LONG)
    pid = own_engine.worker_pid
    assert pid is not None and pid != os.getpid()
    seen: list[str] = []
    with pytest.raises(EngineCrashed) as caught:
        for piece in turn:
            seen.append(piece)
            if len(seen) == 20:
                os.kill(pid, sig)
    message = str(caught.value)
    assert message.startswith("The model stopped working: ") and "\n" not in message
    assert signal.Signals(sig).name in message
    assert Path(library_model.path).name in message
    stored = convs.get_message(db, turn.reply_message_id)
    assert stored.status == "interrupted" and stored.finish_reason == "interrupted"
    assert stored.content == "".join(seen) and len(seen) >= 20  # the text streamed stays
    assert stored.error == message
    assert stored.settings["seed"] == 3 and stored.metrics["prompt_tokens"] > 5
    assert integrity(db) == "ok"
    assert own_engine.loaded is None  # the window's next turn says "Loading..."

    again = chat.send(db, own_engine, library_model, "What is the capital of France?",
                      conversation_id=turn.conversation_id, load=LOAD, sampling=GREEDY)
    assert "".join(again).strip()
    assert own_engine.worker_pid not in (None, pid)  # a fresh engine process
    assert convs.get_message(db, again.reply_message_id).status == "done"


def test_a_model_file_truncated_while_it_answers(own_engine, model_path, tmp_path) -> None:
    """The issue's SIGBUS: the memory-mapped file shrinks under llama.cpp mid-reply."""
    copy = tmp_path / "SmolLM2-copy.gguf"
    shutil.copyfile(model_path, copy)
    reply = own_engine.reply(copy, [{"role": "user", "content": STORY}], load=LOAD,
                             sampling=LONG)
    pieces = 0
    with pytest.raises(EngineCrashed) as caught:
        for _ in reply:
            pieces += 1
            if pieces == 10:
                os.truncate(copy, copy.stat().st_size // 4)
    assert "SIGBUS: the model file changed or was truncated while in use" in str(caught.value)
    assert reply.finish_reason == "interrupted" and reply.text
    # This process never touched the mapping; the original file still answers.
    after = own_engine.reply(model_path, QUESTION, load=LOAD, sampling=GREEDY)
    assert "".join(after).strip()


@pytest.fixture(scope="module")
def duplicate_vocabulary_model(model_path: Path, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """The test model with one token under two ids, which llama.cpp refuses with a failed
    GGML_ASSERT (an abort) when it loads the vocabulary: the issue's SIGABRT case."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    target = tmp_path_factory.mktemp("vocab") / "SmolLM2-duplicate-token.gguf"
    reader = gguf.GGUFReader(model_path, "r")
    tokens = list(reader.fields["tokenizer.ggml.tokens"].contents())
    tokens[1000] = tokens[999]
    arch = str(reader.fields["general.architecture"].contents())
    writer = gguf.GGUFWriter(target, arch=arch)
    copy_with_new_metadata(reader, writer, {"tokenizer.ggml.tokens": MetadataDetails(
        gguf.GGUFValueType.ARRAY, tokens, sub_type=gguf.GGUFValueType.STRING)}, [])
    return target


def test_a_llama_cpp_assertion_is_one_line_not_a_dead_app(own_engine, model_path,
                                                           duplicate_vocabulary_model) -> None:
    # `models add` refuses this file (workbench.model_check); a file reached another way (a
    # model added by an older version, a path given to the engine) still meets llama.cpp's
    # assertion, and that must end only the engine process.
    with pytest.raises(EngineCrashed) as caught:  # at load, or at the first token
        list(own_engine.reply(duplicate_vocabulary_model, QUESTION, load=LOAD,
                              sampling=GREEDY))
    message = str(caught.value)
    assert message.startswith("The model stopped working: killed by SIGABRT (GGML_ASSERT(")
    assert "\n" not in message
    after = own_engine.reply(model_path, QUESTION, load=LOAD, sampling=GREEDY)
    assert "".join(after).strip()


def test_errors_inside_the_engine_process_keep_their_class(own_engine, model_path) -> None:
    load = LoadSettings(n_ctx=512, n_threads=1, gpu_layers=0)
    reply = own_engine.reply(model_path, [{"role": "user", "content": "word " * 2000}],
                             load=load, sampling=GREEDY)
    with pytest.raises(ContextOverflowError, match="do not fit the 512-token context"):
        list(reply)
    assert own_engine.loaded is not None  # an ordinary error leaves the process running


def test_a_reply_left_half_read_does_not_disturb_the_next(own_engine, model_path) -> None:
    first = own_engine.reply(model_path, [{"role": "user", "content": STORY}], load=LOAD,
                             sampling=LONG)
    stream = iter(first)
    next(stream)
    next(stream)  # then abandoned, neither finished nor closed
    second = own_engine.reply(model_path, QUESTION, load=LOAD, sampling=GREEDY)
    text = "".join(second)
    assert text.strip() and second.finish_reason in ("stop", "length")
    assert first.finish_reason == "stopped"  # stopped and read to its end for the second
    loaded = own_engine.loaded
    assert loaded is not None
    assert loaded.tokenize(b"Paris", add_bos=False) == loaded.llama.tokenize(b"Paris", False)
    assert loaded.detokenize(loaded.tokenize(b" Paris", add_bos=False)) == b" Paris"


def _batch_cells() -> list[BatchCell]:
    """One short cell, then long ones: the first finishes while the others still run."""
    short = SamplingSettings(temperature=0.0, max_tokens=4)
    texts = ["Say yes.", STORY, STORY, STORY]
    return [BatchCell([{"role": "user", "content": text}],
                      short if index == 0 else replace(LONG, max_tokens=400))
            for index, text in enumerate(texts)]


def test_a_batch_left_half_read_is_stopped_and_does_not_disturb_the_next(own_engine,
                                                                          model_path) -> None:
    """A batch follows a reply's protocol (process.Request): closed by its consumer after
    its first cell, it is stopped and read to its end, and the same process answers next."""
    batch = own_engine.reply_batch(model_path, _batch_cells(), width=4, load=LOAD)
    stream = iter(batch)
    first = next(stream)
    assert first.error is None and first.index == 0
    pid = own_engine.worker_pid
    stream.close()
    assert batch.finished and batch.stopped
    after = own_engine.reply(model_path, QUESTION, load=LOAD, sampling=GREEDY)
    assert "".join(after).strip() and after.finish_reason in ("stop", "length")
    assert own_engine.worker_pid == pid  # the stop was answered: no process was ended


def test_an_engine_process_dying_mid_batch_keeps_the_finished_cells(own_engine,
                                                                     model_path) -> None:
    batch = own_engine.reply_batch(model_path, _batch_cells(), width=4, load=LOAD)
    seen = []
    with pytest.raises(EngineCrashed, match="SIGKILL"):
        for cell in batch:
            seen.append(cell)
            pid = own_engine.worker_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
    assert [cell.index for cell in seen] == [0] and batch.finished
    after = own_engine.reply(model_path, QUESTION, load=LOAD, sampling=GREEDY)
    assert "".join(after).strip()


def test_the_engine_process_does_not_outlive_the_app(model_path, tmp_path) -> None:
    """kill -9 of the app: its engine process sees the pipe close and ends too."""
    script = textwrap.dedent(f"""
        import os, signal
        from workbench.engine import Engine, LoadSettings
        engine = Engine()
        engine.load({str(model_path)!r}, LoadSettings(n_ctx=512, n_threads=1, gpu_layers=0))
        print(engine.worker_pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              p for p in sys.path if p)})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(child):
        time.sleep(0.1)
    assert not _running(child)


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_exit_reasons_are_one_readable_line() -> None:
    output = ("llama_model_load: loading\n/src/llama-vocab.cpp:2331: "
              "GGML_ASSERT(id_to_token.size() == token_to_id.size()) failed\n")
    assert describe_exit(-signal.SIGABRT, output) == (
        "killed by SIGABRT (GGML_ASSERT(id_to_token.size() == token_to_id.size()) failed)")
    assert describe_exit(-signal.SIGABRT, "") == "killed by SIGABRT (llama.cpp aborted)"
    cpp = "terminate called after throwing an instance of 'std::runtime_error'\n  what():  bad"
    assert describe_exit(-signal.SIGABRT, cpp) == "killed by SIGABRT (bad)"
    assert describe_exit(-signal.SIGBUS, "") == (
        "SIGBUS: the model file changed or was truncated while in use")
    assert describe_exit(-signal.SIGSEGV, "") == (
        "killed by SIGSEGV (a memory fault in llama.cpp)")
    assert describe_exit(3, "Fatal Python error: oops\x1b[2J") == (
        "the engine process exited with code 3 (Fatal Python error: oops[2J)")
