"""Forward-only schema migrations, applied in order on every open.

Each migration is a plain function registered with sqlite-utils' ``Migrations`` and recorded
by name in ``_sqlite_migrations``, in one transaction with its changes. Never edit a migration
that has shipped: add a new one at the end. The list of names is also how a database written by
a newer Workbench is recognised (it has names this version does not know).

Whole because the migrations are one ordered list, registered in file order: split across
modules, their order would hang on import order.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlite_utils import Database, Migrations

from workbench.chat_tuning import marks_chat_tuning

migrations = Migrations("workbench")


@migrations(name="m001_core")
def m001_core(db: Database) -> None:
    db.table("models").create(
        {
            "id": int,
            "name": str,
            "path": str,
            "file_name": str,
            "architecture": str,
            "parameters": int,
            "quantization": str,
            "context_length": int,
            "has_chat_template": int,
            "license": str,
            "file_size": int,
            "sha256": str,
            "source": str,
            "provenance": str,  # JSON: where the file came from (Hub repo, revision...)
            "settings": str,  # JSON: per-model defaults (context, GPU layers, template...)
            "added_at": str,
        },
        pk="id",
        not_null={"name", "path", "file_name", "added_at"},
    )
    db.table("models").create_index(["path"], unique=True)

    db.table("conversations").create(
        {
            "id": int,
            "title": str,
            "model_id": int,
            "system_prompt": str,
            "settings": str,  # JSON: the sampling and load settings last used
            "leaf_id": int,  # the last message of the branch on show
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("model_id", "models", "id")],
    )

    db.table("messages").create(
        {
            "id": int,
            "conversation_id": int,
            "parent_id": int,  # the message this one answers or follows: chats are trees
            "role": str,
            "content": str,
            "status": str,  # done, streaming, stopped, error, interrupted
            "model_id": int,
            "finish_reason": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "ttft_ms": float,
            "prompt_tps": float,
            "gen_tps": float,
            "load_ms": float,
            "peak_rss": int,
            "dropped_turns": int,
            "settings": str,  # JSON: exactly what produced this reply
            "error": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"conversation_id", "role", "created_at"},
        foreign_keys=[
            ("conversation_id", "conversations", "id"),
            ("parent_id", "messages", "id"),
            ("model_id", "models", "id"),
        ],
    )
    db.table("messages").create_index(["conversation_id", "id"])
    db.table("messages").enable_fts(["content"], create_triggers=True, tokenize="porter")

    db.table("settings").create({"key": str, "value": str}, pk="key")


@migrations(name="m003_trials")
def m003_trials(db: Database) -> None:
    """Side-by-side comparisons, prompt suites, trials and votes (issue 5).

    A contender row is a model plus its fully resolved settings, shared by every comparison
    and trial that used exactly that pair (``fingerprint``), so votes and results add up per
    contender. Model identity is copied in (sha256, source, size) so a result stays
    reproducible after the model leaves the library.
    """
    db.table("suites").create(
        {"id": int, "name": str, "description": str, "created_at": str, "updated_at": str},
        pk="id",
        not_null={"name", "created_at"},
    )
    db.table("suites").create_index(["name"], unique=True)
    db.table("suite_prompts").create(
        {
            "id": int,
            "suite_id": int,
            "position": int,
            "prompt": str,
            "system": str,
            "reference": str,
            "checks": str,  # JSON list of checks
        },
        pk="id",
        not_null={"suite_id", "prompt"},
        foreign_keys=[("suite_id", "suites", "id")],
    )
    db.table("suite_prompts").create_index(["suite_id", "position"])
    db.table("contenders").create(
        {
            "id": int,
            "fingerprint": str,  # sha256 of model sha256 + settings: same pair, same row
            "label": str,
            "model_id": int,
            "model_name": str,
            "model_path": str,
            "model_sha256": str,
            "model_source": str,
            "file_size": int,
            "settings": str,  # JSON: resolved load + sampling settings and system prompt
            "created_at": str,
        },
        pk="id",
        not_null={"fingerprint", "label", "created_at"},
    )
    db.table("contenders").create_index(["fingerprint"], unique=True)
    db.table("comparisons").create(
        {
            "id": int,
            "prompt": str,
            "system": str,
            "blind": int,
            "display_order": str,  # JSON list of contender ids, as the columns show them
            "status": str,  # running, done, stopped, error
            "created_at": str,
        },
        pk="id",
        not_null={"prompt", "created_at"},
    )
    db.table("comparison_replies").create(
        {
            "id": int,
            "comparison_id": int,
            "contender_id": int,
            "slot": int,  # column index in display order
            "content": str,
            "status": str,
            "error": str,
            "finish_reason": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "ttft_ms": float,
            "prompt_tps": float,
            "gen_tps": float,
            "load_ms": float,
            "peak_rss": int,
            "total_ms": float,
            "settings": str,  # JSON: the engine's record (seed, template, versions...)
            "created_at": str,
        },
        pk="id",
        not_null={"comparison_id", "contender_id", "created_at"},
        foreign_keys=[("comparison_id", "comparisons", "id"),
                      ("contender_id", "contenders", "id")],
    )
    db.table("comparison_replies").create_index(["comparison_id", "slot"], unique=True)
    db.table("trials").create(
        {
            "id": int,
            "suite_id": int,
            "name": str,
            "contender_ids": str,  # JSON list, in run order
            "seed": int,
            "repeats": int,
            "status": str,  # pending, running, cancelled, done, error
            "rerun_of": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"suite_id", "contender_ids", "created_at"},
        foreign_keys=[("suite_id", "suites", "id"), ("rerun_of", "trials", "id")],
    )
    db.table("trial_cells").create(
        {
            "id": int,
            "trial_id": int,
            "prompt_id": int,
            "contender_id": int,
            "repeat": int,
            "content": str,
            "status": str,  # done, error
            "error": str,
            "passed": int,  # 1, 0, or NULL when the prompt has no checks
            "check_results": str,  # JSON list of {check, passed, detail}
            "cold": int,  # 1 when the model was loaded for this reply
            "finish_reason": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "ttft_ms": float,
            "prompt_tps": float,
            "gen_tps": float,
            "load_ms": float,
            "peak_rss": int,
            "total_ms": float,
            "settings": str,
            "created_at": str,
        },
        pk="id",
        not_null={"trial_id", "prompt_id", "contender_id", "repeat", "created_at"},
        foreign_keys=[("trial_id", "trials", "id"), ("prompt_id", "suite_prompts", "id"),
                      ("contender_id", "contenders", "id")],
    )
    db.table("trial_cells").create_index(["trial_id", "prompt_id", "contender_id", "repeat"],
                                   unique=True)
    db.table("votes").create(
        {
            "id": int,
            "comparison_id": int,
            "outcome": str,  # win, tie, bad
            "winner_id": int,  # contender id when outcome is win
            "ranking": str,  # JSON list of contender ids, best first (optional, full order)
            "created_at": str,
        },
        pk="id",
        not_null={"comparison_id", "outcome", "created_at"},
        foreign_keys=[("comparison_id", "comparisons", "id"),
                      ("winner_id", "contenders", "id")],
    )
    db.table("votes").create_index(["comparison_id"])


@migrations(name="m010_stats_cell_seed_trial_votes")
def m010_stats_cell_seed_trial_votes(db: Database) -> None:
    """Each trial cell records the seed its reply was sampled with (issue 9: repeats are
    distinct samples, each with its own seed derived from the trial's). Cells made before
    take theirs from the settings record the engine already stored. A comparison made from
    a trial's cells names the trial, so its votes count for that trial (and only there)."""
    db.table("trial_cells").add_column("seed", int)
    db.execute("UPDATE trial_cells SET seed = json_extract(settings, '$.seed') "
               "WHERE settings IS NOT NULL AND json_valid(settings)")
    db.table("comparisons").add_column("trial_id", int)  # set when made from a trial's cells


@migrations(name="m010_robust_state_owners")
def m010_robust_state_owners(db: Database) -> None:
    """Who is writing a row left ``streaming`` or ``running`` (issue 10): the token of the
    live process (see :mod:`workbench.store.owners`), so a row another Workbench is writing
    right now is not marked interrupted. Partial indexes keep the check at start instant."""
    for table in ("messages", "trials", "comparisons"):
        db.table(table).add_column("owner", str)
    db.execute("CREATE INDEX IF NOT EXISTS messages_streaming ON messages(status) "
               "WHERE status = 'streaming'")
    db.execute("CREATE INDEX IF NOT EXISTS trials_running ON trials(status) "
               "WHERE status = 'running'")
    db.execute("CREATE INDEX IF NOT EXISTS comparisons_running ON comparisons(status) "
               "WHERE status = 'running'")


@migrations(name="m010_engine_trust_base_model")
def m010_engine_trust_base_model(db: Database) -> None:
    """``models.base_model``: no chat template and nothing marking it as tuned for chat.

    New entries read the header's names and tags; rows added before this know only their
    names, so those are judged by name (adding the file again re-reads its header)."""
    db.table("models").add_column("base_model", int, not_null_default=0)
    for row in db.table("models").rows_where("has_chat_template = 0"):
        if not marks_chat_tuning([row["name"] or "", row["file_name"] or ""]):
            db.table("models").update(row["id"], {"base_model": 1})


@migrations(name="m011_judge_scores")
def m011_judge_scores(db: Database) -> None:
    """A judge model's grade of one trial cell against one judge check (issue 14): the score,
    whether it reaches the check's min_score, the judge's one-sentence reason, which model
    judged (name, sha256, its settings record), the hash of the fixed judging prompt, and
    whether the judge is the model that wrote the reply (self-judged). A judge that could
    not grade (missing model, crash) leaves its error instead of a score."""
    db.table("trial_judgements").create(
        {
            "id": int,
            "trial_id": int,
            "prompt_id": int,
            "contender_id": int,
            "repeat": int,
            "check_index": int,  # which check of the prompt's list
            "score": int,  # 1..scale, NULL when the judge failed
            "scale": int,
            "min_score": int,
            "passed": int,  # score >= min_score; NULL when the judge failed
            "reason": str,
            "judge_model": str,  # the judge's name in the library
            "judge_sha256": str,
            "judge_settings": str,  # JSON: the judge reply's settings record
            "prompt_sha256": str,  # the fixed judging prompt's sha256
            "self_judged": int,  # 1 when the judge is the reply's own model file
            "error": str,
            "created_at": str,
        },
        pk="id",
        not_null={"trial_id", "prompt_id", "contender_id", "repeat", "check_index",
                  "created_at"},
        foreign_keys=[("trial_id", "trials", "id"), ("prompt_id", "suite_prompts", "id"),
                      ("contender_id", "contenders", "id")],
    )
    db.table("trial_judgements").create_index(
        ["trial_id", "prompt_id", "contender_id", "repeat", "check_index"], unique=True)


@migrations(name="m011_server_aliases")
def m011_server_aliases(db: Database) -> None:
    """Task names for the local server (issue 13): ``summarize`` points at a library model
    and the settings it is served with, so an app keeps its name while the model changes.
    No foreign key: removing a model leaves the alias, which then answers 404 saying why."""
    db.table("server_aliases").create(
        {
            "name": str,  # what a client sends as "model"; compared case-insensitively
            "model_id": int,
            "settings": str,  # JSON: load and sampling overrides, and a system prompt
            "created_at": str,
            "updated_at": str,
        },
        pk="name",
        not_null={"model_id", "created_at", "updated_at"},
    )


@migrations(name="m012_document_collections")
def m012_document_collections(db: Database) -> None:
    """The user's documents (issue 22): named collections of files and folders, each file's
    state as last indexed, and the passages (chunks) cut from it with a keyword index.

    Only paths, hashes and extracted text are stored; the files themselves are never copied
    or changed. A file's row and its chunks are written in one transaction, so a kill during
    indexing leaves each file either as it was or as it now is (the next run resumes)."""
    db.table("doc_collections").create(
        {
            "id": int,
            "name": str,
            "paths": str,  # JSON list of absolute files and folders
            "include": str,  # JSON list of glob patterns (empty: every readable format)
            "exclude": str,  # JSON list of glob patterns
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "paths", "created_at"},
    )
    db.table("doc_collections").create_index(["name"], unique=True)
    db.table("doc_files").create(
        {
            "id": int,
            "collection_id": int,
            "path": str,  # absolute
            "format": str,  # pdf, docx, markdown, text, html, code, or NULL when skipped
            "size": int,
            "mtime_ns": int,
            "sha256": str,
            "status": str,  # indexed, skipped, error
            "reason": str,  # one line: why skipped, or a note on an indexed file
            "pages": int,
            "chunk_count": int,
            "indexed_at": str,
        },
        pk="id",
        not_null={"collection_id", "path", "status"},
        foreign_keys=[("collection_id", "doc_collections", "id")],
    )
    db.table("doc_files").create_index(["collection_id", "path"], unique=True)
    db.table("doc_chunks").create(
        {
            "id": int,
            "collection_id": int,
            "file_id": int,
            "position": int,  # order within the file
            "page": int,  # 1-based PDF page, NULL for formats without pages
            "section": str,  # the heading path it falls under, if any
            "start": int,  # character offsets in the file's extracted text
            "end": int,
            "text": str,
        },
        pk="id",
        not_null={"collection_id", "file_id", "position", "start", "end", "text"},
        foreign_keys=[("collection_id", "doc_collections", "id"),
                      ("file_id", "doc_files", "id")],
    )
    db.table("doc_chunks").create_index(["file_id", "position"])
    db.table("doc_chunks").create_index(["collection_id"])
    db.table("doc_chunks").enable_fts(["text"], create_triggers=True, tokenize="porter")


@migrations(name="m013_trial_early_stops")
def m013_trial_early_stops(db: Database) -> None:
    """Where a trial stopped a contender early (issue 25): after how many of the suite's
    prompts, with which outcome ("meets" or "fails" the pass-rate bar of that run) and the
    sentence the result shows. Removed when the rest of its prompts are run."""
    db.table("trial_stops").create(
        {"trial_id": int, "contender_id": int, "after_prompts": int, "total_prompts": int,
         "outcome": str, "bar": float, "text": str, "created_at": str},
        pk=("trial_id", "contender_id"),
        foreign_keys=[("trial_id", "trials", "id"), ("contender_id", "contenders", "id")],
    )


#: Settings that change speed, not text (as :data:`workbench.trials.contenders.NON_TEXT_KEYS`
#: when this migration was written; a test checks the two identities agree).
_SPEED_ONLY = {"n_threads", "n_batch", "use_mmap", "gpu_layers"}


def _contender_identity(row: dict[str, Any]) -> str:
    """A contender row's identity as :func:`workbench.trials.contenders.identity_key` computes
    it: the model file by sha256 (by path when none is known) plus its text-shaping settings.
    Frozen here: a shipped migration must not change when that rule does."""
    settings = json.loads(row["settings"] or "{}")
    model = row["model_sha256"] or f"path:{row['model_path'] or ''}"
    blob = json.dumps({"model": model,
                       "settings": {k: v for k, v in settings.items() if k not in _SPEED_ONLY}},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _id_list(text: str | None) -> list[Any]:
    """A stored JSON list of contender ids; anything else (NULL, damaged) as empty."""
    try:
        ids = json.loads(text or "[]")
    except ValueError:
        return []
    return ids if isinstance(ids, list) else []


def _repoint_ids(text: str | None, keep: dict[int, int]) -> str | None:
    """A JSON list of contender ids with merged ones replaced by the row they merge into."""
    ids = _id_list(text)
    new = [keep.get(i, i) if isinstance(i, int) else i for i in ids]
    return json.dumps(new) if new != ids else text


@migrations(name="m014_merge_duplicate_contenders")
def m014_merge_duplicate_contenders(db: Database) -> None:
    """One row per contender identity (issue 25). Databases from before contender identity
    hold several rows for one model + text settings (they differed only in threads...), so a
    vote that showed two of them counted twice for the one player. Each such group merges
    into its lowest id: every reference (replies, cells, judgements, stops, votes, and the id
    lists of comparisons, trials and rankings) is repointed and the other rows deleted.

    A group two of whose rows ran in one trial is left as it is: its cells would collide
    (one cell per trial, prompt, contender and repeat), and losing one side's replies is
    worse than two rows (the leaderboard merges them when it counts)."""
    tables = set(db.table_names())
    groups: dict[str, list[int]] = {}
    for row in db.table("contenders").rows_where(order_by="id"):
        groups.setdefault(_contender_identity(row), []).append(int(row["id"]))
    keep: dict[int, int] = {}  # merged id: the id it merges into
    for ids in groups.values():
        if len(ids) < 2:
            continue
        marks = ",".join("?" * len(ids))
        shared = db.execute(f"SELECT 1 FROM trial_cells WHERE contender_id IN ({marks}) "
                            "GROUP BY trial_id HAVING COUNT(DISTINCT contender_id) > 1 LIMIT 1",
                            ids).fetchone()
        in_one_trial = shared is not None or any(
            len(set(ids) & {i for i in _id_list(text) if isinstance(i, int)}) > 1
            for (text,) in db.execute("SELECT contender_ids FROM trials"))
        if not in_one_trial:
            keep.update({old: ids[0] for old in ids[1:]})
    if not keep:
        return
    columns = [("comparison_replies", "contender_id"), ("trial_cells", "contender_id"),
               ("trial_judgements", "contender_id"), ("trial_stops", "contender_id"),
               ("votes", "winner_id")]
    for table, column in columns:
        if table in tables:
            db.conn.executemany(f"UPDATE {table} SET {column} = ? WHERE {column} = ?",
                                [(new, old) for old, new in keep.items()])
    for table, column in (("comparisons", "display_order"), ("trials", "contender_ids"),
                          ("votes", "ranking")):
        for row_id, text in db.execute(f"SELECT id, {column} FROM {table}").fetchall():
            new = _repoint_ids(text, keep)
            if new != text:
                db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", [new, row_id])
    db.conn.executemany("DELETE FROM contenders WHERE id = ?", [(old,) for old in keep])


@migrations(name="m018_mcp_servers")
def m018_mcp_servers(db: Database) -> None:
    """MCP servers the user added (issue 23): a stdio command or a loopback Streamable HTTP
    address. Only a server listed here is ever started or contacted, and only for a chat
    that names it."""
    db.table("mcp_servers").create(
        {
            "name": str,  # what --mcp NAME says; compared as written
            "transport": str,  # stdio or http
            "command": str,  # JSON list: the program and its arguments (stdio)
            "env": str,  # JSON object: extra environment variables (stdio)
            "url": str,  # the Streamable HTTP endpoint (http)
            "timeout_s": float,  # the wait for its handshake and for each call
            "created_at": str,
        },
        pk="name",
        not_null={"transport", "created_at"},
    )


@migrations(name="m019_trial_tool_calls")
def m019_trial_tool_calls(db: Database) -> None:
    """Trials of tool use: a suite prompt's tools (OpenAI's format, canonical JSON text) and
    canned results (JSON), and per cell the calls the model made, valid or why not, with the
    canned result each was given (JSON). NULL everywhere a prompt offers no tools."""
    db.table("suite_prompts").add_column("tools", str)
    db.table("suite_prompts").add_column("tool_results", str)
    db.table("trial_cells").add_column("tool_calls", str)


@migrations(name="m021_endpoints")
def m021_endpoints(db: Database) -> None:
    """Remote endpoints (OpenAI-compatible servers the user runs): a name, a base URL, the
    models it listed, and where its key is kept (an environment variable's name, or the OS
    keyring under the endpoint's name). The key itself is never stored here."""
    db.table("endpoints").create(
        {"id": int, "name": str, "url": str, "models": str, "key_env": str, "keyring": int,
         "created_at": str},
        pk="id", not_null={"name", "url", "created_at"})
    db.table("endpoints").create_index(["name"], unique=True)


@migrations(name="m016_trial_documents")
def m016_trial_documents(db: Database) -> None:
    """Trials over documents (issue 22): the collections a suite or one of its prompts is
    answered from, the sources that answer a prompt, and each trial cell's grounding (the
    passages retrieved and given, the numbers the reply cited, recall and reciprocal rank
    against the prompt's sources). JSON text; NULL for plain prompts and cells."""
    db.table("suites").add_column("docs", str)
    db.table("suite_prompts").add_column("docs", str)
    db.table("suite_prompts").add_column("sources", str)
    db.table("trial_cells").add_column("grounding", str)


@migrations(name="m020_workers")
def m020_workers(db: Database) -> None:
    """Workers (issue 24): llama.cpp RPC servers a model can be split across, by address.
    Also the list of addresses Workbench may contact for this."""
    db.table("workers").create({"id": int, "address": str, "added_at": str}, pk="id",
                         if_not_exists=True)
    db.table("workers").create_index(["address"], unique=True, if_not_exists=True)


@migrations(name="m024_images")
def m024_images(db: Database) -> None:
    """Images (issue 26): the vision projector (mmproj) paired with a model, by path and
    sha256 (NULL: the model cannot see); the images kept in the data folder by sha256; and
    which user messages carry which images, in order."""
    db.table("models").add_column("mmproj", str)
    db.table("models").add_column("mmproj_sha256", str)
    db.table("images").create(
        {"sha256": str, "path": str, "format": str, "width": int, "height": int, "bytes": int,
         "added_at": str},
        pk="sha256", not_null={"path", "added_at"})
    db.table("message_images").create(
        {"message_id": int, "position": int, "sha256": str},
        pk=("message_id", "position"), foreign_keys=[("message_id", "messages", "id")])
    db.table("message_images").create_index(["sha256"])
@migrations(name="m015_document_vectors")
def m015_document_vectors(db: Database) -> None:
    """Dense retrieval for collections (issue 22): a collection may name an embedding model,
    and each passage's vector is kept beside it as a float32 BLOB (scored with numpy, which
    works where ``sqlite3`` cannot load extensions: see benchmarks/results-docs-vectors.md).

    A vector row goes with its passage: a trigger deletes it when the passage is deleted, so
    removing a file, a path or a collection removes its vectors by every route. The id never
    reuses a number (AUTOINCREMENT), so the count and the largest id of a collection's rows
    change on every write: the in-memory matrix of a collection is keyed by them.
    ``doc_files.embed_model_id`` is the model a file's vectors were made with (NULL: none),
    so a changed embedding model re-embeds every file, and only the stored text.
    ``doc_chunks_fts_vocab`` reads the keyword index's terms with their passage counts. Forgetting
    the model in the library leaves the collection keyword-only (``ON DELETE SET NULL``)."""
    db.execute("ALTER TABLE doc_collections ADD COLUMN embed_model_id INTEGER "
               "REFERENCES models(id) ON DELETE SET NULL")
    db.execute("ALTER TABLE doc_files ADD COLUMN embed_model_id INTEGER")
    db.execute("""
        CREATE TABLE doc_vectors (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chunk_id INTEGER NOT NULL UNIQUE REFERENCES doc_chunks(id),
            collection_id INTEGER NOT NULL,
            vector BLOB NOT NULL  -- float32, little-endian, L2-normalised
        )""")
    db.execute("CREATE INDEX idx_doc_vectors_collection ON doc_vectors (collection_id, id)")
    db.execute("""
        CREATE TRIGGER doc_chunks_vectors_ad AFTER DELETE ON doc_chunks BEGIN
            DELETE FROM doc_vectors WHERE chunk_id = old.id;
        END""")
    # How many passages hold each indexed term: keyword search leaves out the words so
    # common that ranking every passage holding them would take most of its time.
    db.execute("CREATE VIRTUAL TABLE doc_chunks_fts_vocab USING fts5vocab(doc_chunks_fts, row)")


@migrations(name="m025_docs_finish")
def m025_docs_finish(db: Database) -> None:
    """Searches that cost nothing to keep current, and a comparison's grounding (issue 22).

    ``doc_collections.vectors_version`` goes up with every write to the collection's
    vectors and ``doc_index_state.chunks_version`` with every write to any passage (both by
    trigger, so every route counts), so the in-memory vector matrix and the keyword index's
    word counts are checked with one row read instead of counting 100,000 rows.
    ``comparison_replies.grounding`` keeps what a contender answering from documents was
    given and cited (JSON, as a trial cell's), so a comparison shows its sources later."""
    db.execute("ALTER TABLE doc_collections ADD COLUMN vectors_version INTEGER NOT NULL "
               "DEFAULT 0")
    for event, row in (("INSERT", "new"), ("DELETE", "old"), ("UPDATE", "new")):
        db.execute(f"""
            CREATE TRIGGER doc_vectors_version_{event.lower()} AFTER {event} ON doc_vectors
            BEGIN
                UPDATE doc_collections SET vectors_version = vectors_version + 1
                WHERE id = {row}.collection_id;
            END""")
    db.execute("CREATE TABLE doc_index_state (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "chunks_version INTEGER NOT NULL)")
    db.execute("INSERT INTO doc_index_state (id, chunks_version) VALUES (1, 0)")
    for event in ("INSERT", "DELETE", "UPDATE"):
        db.execute(f"""
            CREATE TRIGGER doc_chunks_version_{event.lower()} AFTER {event} ON doc_chunks
            BEGIN
                UPDATE doc_index_state SET chunks_version = chunks_version + 1 WHERE id = 1;
            END""")
    db.execute("ALTER TABLE comparison_replies ADD COLUMN grounding TEXT")


@migrations(name="m026_image_prompts")
def m026_image_prompts(db: Database) -> None:
    """Images in compare and trials (issue 26): a suite prompt and a comparison carry the
    sha256s of their images (JSON list; NULL: none), kept in the data folder as chat's are,
    so a trial reruns after the files it was imported from move; a trial cell and a
    comparison reply record the image tokens their prompt took."""
    db.table("suite_prompts").add_column("images", str)
    db.table("comparisons").add_column("images", str)
    db.table("trial_cells").add_column("image_tokens", int)
    db.table("comparison_replies").add_column("image_tokens", int)


@migrations(name="m027_worker_bandwidth")
def m027_worker_bandwidth(db: Database) -> None:
    """Workers (issue 24): each worker's last check (JSON: state, memory, round trip and the
    measured bandwidth), kept so ``workers list`` shows it without asking the worker again."""
    db.table("workers").add_column("last_check", str)


@migrations(name="m028_tool_approvals")
def m028_tool_approvals(db: Database) -> None:
    """MCP tools the user allowed "always", kept across restarts (the window and the CLI),
    per (server, tool), with the sha256 of the tool's name, description and input schema
    when allowed: a tool that changes since is asked about again."""
    db.execute("CREATE TABLE tool_approvals (server TEXT NOT NULL, tool TEXT NOT NULL, "
               "tool_hash TEXT NOT NULL, approved_at TEXT NOT NULL, "
               "PRIMARY KEY (server, tool))")
