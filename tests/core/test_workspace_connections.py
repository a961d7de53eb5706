"""The workspace is the one connection provider: each thread its own connection, opened on
first use there and kept; ``close()`` closes every one it opened, whichever thread did; a
thread that ended does not keep its connection open for long."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from workbench.library import list_models
from workbench.settings import get_setting, set_setting


def on_thread(func):  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func).result()


def closed(db) -> bool:  # type: ignore[no-untyped-def]
    try:
        db.execute("SELECT 1").fetchone()
    except sqlite3.ProgrammingError:
        return True
    return False


def test_each_thread_gets_its_own_connection_and_keeps_it(workspace) -> None:
    mine = workspace.db
    assert workspace.db is mine
    theirs = on_thread(lambda: (workspace.db, workspace.db))
    assert theirs[0] is theirs[1] and theirs[0] is not mine
    # both see the same database: a write on one thread is read on another
    set_setting(mine, "min_pass_rate", 75)
    assert on_thread(lambda: get_setting(workspace.db, "min_pass_rate")) == 75


def test_close_closes_every_threads_connection_and_a_later_use_opens_afresh(workspace) -> None:
    ready, done = threading.Event(), threading.Event()
    opened = []

    def worker() -> None:
        opened.append(workspace.db)
        ready.set()
        done.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait(5)
    mine = workspace.db
    workspace.close()
    done.set()
    thread.join(5)
    assert closed(mine) and closed(opened[0])
    again = workspace.db
    assert again is not mine and not closed(again)
    assert list_models(again) == []


def test_a_finished_threads_connection_is_closed_when_the_next_one_opens(workspace) -> None:
    gone = on_thread(lambda: workspace.db)  # that pool's thread has ended
    assert not closed(gone)
    on_thread(lambda: workspace.db)
    assert closed(gone)


def test_threads_read_while_one_writes_without_a_lock(workspace) -> None:
    """WAL: the server's request threads read on their own connections while the thread
    that runs replies saves them on its own; no read fails or waits for the writer."""
    from workbench import conversations as convs

    def save(number: int) -> None:
        conversation = convs.create_conversation(workspace.db, model_id=None,
                                                 title=f"chat {number}")
        convs.add_message(workspace.db, conversation, "user", f"hello {number}",
                          parent_id=None)

    def read(_number: int) -> int:
        return len(convs.list_conversations(workspace.db))

    with ThreadPoolExecutor(max_workers=1) as writer, \
            ThreadPoolExecutor(max_workers=6) as readers:
        saved = [writer.submit(save, number) for number in range(40)]
        counts = list(readers.map(read, range(200)))
        for future in saved:
            future.result()
    assert all(0 <= count <= 40 for count in counts)
    assert len(convs.list_conversations(workspace.db)) == 40


@pytest.mark.parametrize("name", ["connect"])
def test_there_is_no_second_way_to_a_connection(workspace, name: str) -> None:
    assert not hasattr(workspace, name)


def test_threads_writing_at_once_each_wait_their_turn(workspace) -> None:
    """Eight threads saving chats at the same time, each on its own connection: every write
    lands. sqlite-utils' deferred BEGIN (read the columns, then write) was refused at once by
    SQLite when another thread wrote meanwhile; transactions now begin immediate."""
    from workbench import conversations as convs

    assert workspace.db is not None  # the file is made and migrated before the threads start
    failures: list[str] = []

    def save(n: int) -> None:
        db = workspace.db
        try:
            for i in range(25):
                chat = convs.create_conversation(db, model_id=None)
                convs.add_message(db, chat, "user", f"hello {n} {i}", parent_id=None)
                convs.rename_conversation(db, chat, f"chat {n}-{i}")
        except Exception as error:  # any lost write fails the test with its line
            failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures[:3]
    assert len(convs.list_conversations(workspace.db)) == 8 * 25
