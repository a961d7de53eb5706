"""Store at scale: 100,000 messages, full-text search and opening a 5,000-message chat.

Builds a throwaway database in a temporary folder through the real store (migrations, FTS
triggers), then times a full-text search and opening (loading the branch on show of) a
conversation of 5,000 messages. Targets: search under 50 ms, open under 200 ms (medians).

    python benchmarks/bench_store.py [--messages 100000] [--long 5000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import conversations as convs  # noqa: E402
from workbench.library import now  # noqa: E402
from workbench.store import open_database  # noqa: E402

WORDS = ("river mountain engine quantum recipe garden python kernel violin harbour lantern "
         "copper meadow glacier orbit pepper canyon ledger falcon walnut").split()


def sentence(rng: random.Random, n: int = 30) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def add_chain(db, rows_first_id: int, conversation_id: int, length: int,
              rng: random.Random, stamp: str) -> int:
    """A linear chat of ``length`` messages; returns the next free message id."""
    rows, parent = [], None
    next_id = rows_first_id
    for i in range(length):
        rows.append({"id": next_id, "conversation_id": conversation_id, "parent_id": parent,
                     "role": "user" if i % 2 == 0 else "assistant",
                     "content": sentence(rng), "status": "done", "created_at": stamp})
        parent = next_id
        next_id += 1
    db["messages"].insert_all(rows, batch_size=2000)
    db["conversations"].update(conversation_id, {"leaf_id": parent})
    return next_id


def build(path: Path, total: int, long_chat: int) -> int:
    db = open_database(path)
    rng = random.Random(1)
    stamp = now()
    long_id = convs.create_conversation(db, model_id=None, title="long")
    next_id = add_chain(db, 1, long_id, long_chat, rng, stamp)
    per_chat = 20
    for _ in range((total - long_chat) // per_chat):
        cid = convs.create_conversation(db, model_id=None, title=sentence(rng, 4))
        next_id = add_chain(db, next_id, cid, per_chat, rng, stamp)
    # One rare word to search for, as a user would look for one old chat.
    db["messages"].update(next_id // 2, {"content": "the zeppelin recipe from grandma"})
    db.close()
    return long_id


def timed(func, repeats: int = 15) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--long", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        started = time.perf_counter()
        long_id = build(path, args.messages, args.long)
        print(f"built {args.messages:,} messages in {time.perf_counter() - started:.1f} s")
        db = open_database(path)
        assert db["messages"].count == args.messages
        rare = timed(lambda: convs.search_messages(db, "zeppelin"))
        common = timed(lambda: convs.search_messages(db, "glacier orbit"))
        opened = timed(lambda: convs.branch(db, long_id), repeats=7)
        assert len(convs.branch(db, long_id)) == args.long
        print(f"search, rare word      {rare:7.1f} ms  (target < 50)  "
              f"{'OK' if rare < 50 else 'SLOW'}")
        print(f"search, common words   {common:7.1f} ms  (target < 50)  "
              f"{'OK' if common < 50 else 'SLOW'}")
        print(f"open {args.long:,}-message chat {opened:7.1f} ms  (target < 200) "
              f"{'OK' if opened < 200 else 'SLOW'}")


if __name__ == "__main__":
    main()
