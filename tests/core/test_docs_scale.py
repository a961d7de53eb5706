"""A big folder and a killed run (issue 22): a folder of 10,000 (and, marked slow, 100,000)
small files indexes correctly with bounded memory, and a real ``llm-workbench docs add`` or
``docs reindex`` killed with SIGKILL mid-run leaves a consistent index that the next reindex
completes without a duplicate passage. The indexing runs in a real CLI process each time, so
its peak memory is its own and a kill is a real kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from docs_files import HTML, make_pdf

ROOT = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, **popen: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLM_WORKBENCH_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "workbench", "--data-dir", str(home), *args],
                            env=env, stdin=subprocess.DEVNULL, **popen)  # type: ignore[call-overload]


def finish(process: subprocess.Popen[bytes]) -> tuple[int, str, int]:
    """Wait for ``process``: its exit status, its output and its peak resident memory in
    bytes. The peak is the kernel's high-water mark of the process's own memory (VmHWM),
    read until it exits: ``ru_maxrss`` would not do, as it keeps this test process's peak
    across the fork and exec that started it."""
    stream = process.stdout
    assert stream is not None
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.append(stream.read()))
    reader.start()
    peak = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) * 1024)
        time.sleep(0.05)
    reader.join()
    return process.returncode, b"".join(output).decode(), peak


def consistent(home: Path) -> dict[str, int]:
    """Check the index is whole, whatever moment it was left at: every file's row has exactly
    its passages (positions 0..n-1, none orphaned, none twice) and the keyword index holds
    exactly the passages. Returns the counts."""
    db = sqlite3.connect(home / "workbench.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.execute("INSERT INTO doc_chunks_fts(doc_chunks_fts) VALUES ('integrity-check')")
        chunks = db.execute("SELECT COUNT(*) FROM doc_chunks").fetchone()[0]
        assert db.execute("SELECT COUNT(*) FROM doc_chunks_fts").fetchone()[0] == chunks
        assert db.execute("SELECT COALESCE(SUM(chunk_count), 0) FROM doc_files"
                          ).fetchone()[0] == chunks
        assert db.execute("""SELECT COUNT(*) FROM doc_files f WHERE chunk_count !=
            (SELECT COUNT(*) FROM doc_chunks k WHERE k.file_id = f.id)""").fetchone()[0] == 0
        assert db.execute("""SELECT COUNT(*) FROM doc_files f WHERE chunk_count > 0 AND
            (SELECT MAX(position) FROM doc_chunks k WHERE k.file_id = f.id) != chunk_count - 1
            """).fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM doc_chunks WHERE file_id NOT IN "
                          "(SELECT id FROM doc_files)").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM doc_files WHERE status != 'indexed' AND "
                          "chunk_count != 0").fetchone()[0] == 0
        files = db.execute("SELECT COUNT(*) FROM doc_files").fetchone()[0]
        indexed = db.execute("SELECT COUNT(*) FROM doc_files WHERE status = 'indexed'"
                             ).fetchone()[0]
        return {"files": files, "indexed": indexed, "chunks": chunks}
    finally:
        db.close()


def make_notes(root: Path, count: int) -> None:
    """``count`` small notes in folders of 1,000, each with one word found nowhere else."""
    for number in range(count):
        folder = root / f"box{number // 1000:03d}"
        if number % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"note{number:06d}.txt").write_text(
            f"Note {number}: the keeper fed the otters at noon. Tag zq{number}x.\n")


@pytest.mark.parametrize("count", [10_000, pytest.param(100_000, marks=[
    pytest.mark.slow, pytest.mark.timeout(1800)])])
def test_a_folder_of_many_small_files(tmp_path, count) -> None:
    root, home = tmp_path / "notes", tmp_path / "home"
    make_notes(root, count)
    started = time.monotonic()
    process = cli(home, "docs", "add", "notes", str(root), stdout=subprocess.PIPE,
                  stderr=subprocess.DEVNULL)
    code, summary, peak = finish(process)
    took = time.monotonic() - started
    assert code == 0 and f"{count:,} indexed" in summary, summary
    # What the run adds, over the app with its imports (`docs list`, the same process but
    # for the run): the bound is on the growth, as the is, so that a heavier import
    # elsewhere in the app does not read as indexing memory.
    _code, _out, base = finish(cli(home, "docs", "list", stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL))
    print(f"{count:,} files: indexed in {took:.0f} s, peak {peak / 1e6:.0f} MB, the app "
          f"alone {base / 1e6:.0f} MB")
    assert consistent(home) == {"files": count, "indexed": count, "chunks": count}
    # A few hundred bytes per file held for the run: paths and ids, not rows.
    assert peak - base < 100_000_000, f"grew {(peak - base) / 1e6:.0f} MB"
    assert took < count / 50, f"{took:.0f} s"  # 20 ms a file at most: ~1 ms here
    db = sqlite3.connect(home / "workbench.db")
    last = count - 1
    assert db.execute("SELECT f.path FROM doc_chunks_fts JOIN doc_chunks k ON "
                      "k.id = doc_chunks_fts.rowid JOIN doc_files f ON f.id = k.file_id "
                      "WHERE doc_chunks_fts MATCH ?", [f"zq{last}x"]).fetchall() == [
        (str(root / f"box{last // 1000:03d}" / f"note{last:06d}.txt"),)]
    db.close()
    again = cli(home, "docs", "reindex", "notes", stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL)
    code, summary, peak = finish(again)
    assert code == 0 and summary.strip() == f"{count:,} unchanged"
    print(f"{count:,} files: reindex peak {peak / 1e6:.0f} MB")
    assert peak - base < 100_000_000, f"grew {(peak - base) / 1e6:.0f} MB on reindex"


def descendants(pid: int) -> set[int]:
    """The processes started by ``pid`` (the reader, multiprocessing's resource tracker)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


def kill_when(process: subprocess.Popen[bytes], done: int) -> set[int]:
    """SIGKILL ``process`` once it has reported ``done`` files; the processes it had started."""
    assert process.stderr is not None
    seen = 0
    deadline = time.monotonic() + 120
    buffer = b""
    while seen < done and time.monotonic() < deadline:
        piece = os.read(process.stderr.fileno(), 65536)
        if not piece:
            break
        buffer = (buffer + piece)[-4096:]
        lines = [line for line in buffer.split(b"\n")[:-1] if line.startswith(b"[")]
        if lines:
            seen = int(lines[-1][1:].split(b"/")[0])
    children = descendants(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert seen >= done, "the run ended before it could be killed"
    return children


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for children")
def test_a_killed_run_leaves_a_consistent_index_and_reindex_resumes(tmp_path) -> None:
    root, home = tmp_path / "docs", tmp_path / "home"
    make_notes(root / "notes", 3000)
    pages = root / "pages"
    pages.mkdir()
    for number in range(300):  # read in the reader process, which must go with the app
        (pages / f"page{number:03d}.html").write_text(HTML.replace("Museum", f"Museum {number}"))
    make_pdf(root / "handbook.pdf")
    total = 3000 + 300 + 1
    for command, at in ((("docs", "add", "c", str(root)), 400),
                        (("docs", "reindex", "c"), 3100)):  # among the pages
        process = cli(home, *command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        children = kill_when(process, at)
        assert children, "the reader process was running"
        counts = consistent(home)
        assert at <= counts["files"] < total
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in children):
            assert time.monotonic() < deadline, "the reader outlived the app"
            time.sleep(0.1)
    process = cli(home, "docs", "reindex", "c", stdout=subprocess.PIPE,
                  stderr=subprocess.DEVNULL)
    code, summary, _ = finish(process)
    assert code == 0
    assert "unchanged" in summary and "indexed" in summary
    # One passage per note and page, one per page of the handbook (3): none twice.
    assert consistent(home) == {"files": total, "indexed": total, "chunks": total - 1 + 3}
    db = sqlite3.connect(home / "workbench.db")
    assert db.execute("SELECT COUNT(DISTINCT path) FROM doc_files").fetchone()[0] == total
    for tag in ("zq0x", "zq1500x", "zq2999x"):
        assert len(db.execute("SELECT rowid FROM doc_chunks_fts WHERE doc_chunks_fts MATCH ?",
                              [tag]).fetchall()) == 1
    db.close()
