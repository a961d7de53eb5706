"""Memory while indexing a 1 GB folder (issue 22: growth under 300 MB).

Generates a folder of about 1 GB in a temporary directory: plain text and Markdown of every
size up to the largest file read (one near the 64 MiB bound), HTML pages, a few PDFs
(reportlab) and DOCX files (python-docx). Then indexes it with the real run
(:class:`~workbench.documents.indexing.IndexRun`, its reader process included) into a fresh
workspace, sampling the resident memory of this process and of the reader every 20 ms.

Reported: this process's resident memory at the start and at its peak (the growth is the
target), the reader process's peak (all of it is growth: it did not exist at the start), the
two together, the time, and the database's size.

    python benchmarks/bench_docs_memory.py [--gigabytes 1.0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.documents.collections import add_collection  # noqa: E402
from workbench.documents.indexing import index  # noqa: E402
from workbench.units import human_duration, human_rate, human_size  # noqa: E402
from workbench.workspace import Workspace  # noqa: E402

WORDS = ("river mountain engine quantum recipe garden python kernel violin harbour lantern "
         "copper meadow glacier orbit pepper canyon ledger falcon walnut refund invoice "
         "warehouse clerk parcel contract tenant landlord patient letter dosage clinic "
         "research sample protocol result figure table appendix summary").split()
TARGET = 300_000_000


def paragraph(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def text_of(rng: random.Random, size: int, markdown: bool) -> str:
    """About ``size`` characters: paragraphs, under headings for Markdown."""
    parts, total, section = [], 0, 0
    block = "\n\n".join(paragraph(rng, rng.randint(40, 160)) for _ in range(64))
    while total < size:
        if markdown:
            section += 1
            parts.append(f"\n## Section {section}\n")
        # A block of fresh paragraphs now and then, the same block otherwise: generating
        # a gigabyte word by word would take longer than indexing it.
        if rng.random() < 0.05:
            block = "\n\n".join(paragraph(rng, rng.randint(40, 160)) for _ in range(64))
        parts.append(f"Part {total} of the file.\n\n{block}\n\n")
        total += len(parts[-1])
    return "".join(parts)[:size]


def html_of(rng: random.Random, size: int) -> str:
    body = text_of(rng, size, False).split("\n\n")
    return ("<html><head><title>Page</title><style>p{margin:0}</style></head><body>"
            + "".join(f"<h2>Part {n}</h2><p>{p}</p>" if n % 20 == 0 else f"<p>{p}</p>"
                      for n, p in enumerate(body)) + "</body></html>")


def make_pdf(path: Path, rng: random.Random, pages: int) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    sheet = canvas.Canvas(str(path), pagesize=A4)
    for page in range(pages):
        y = 800
        for line in range(50):
            sheet.drawString(40, y, f"p{page} l{line} " + paragraph(rng, 12))
            y -= 15
        sheet.showPage()
    sheet.save()


def make_docx(path: Path, rng: random.Random, paragraphs: int) -> None:
    import docx

    document = docx.Document()
    for number in range(paragraphs):
        if number % 25 == 0:
            document.add_heading(f"Chapter {number // 25}", level=1)
        document.add_paragraph(paragraph(rng, rng.randint(40, 120)))
    document.save(str(path))


def generate(root: Path, total_bytes: int, seed: int = 7) -> dict[str, int]:
    """The folder: returns how many files of each kind it holds."""
    rng = random.Random(seed)
    counts = {"text": 0, "markdown": 0, "html": 0, "pdf": 0, "docx": 0}
    written = 0
    docs = root / "office"
    docs.mkdir(parents=True)
    for number in range(12):
        make_pdf(docs / f"report{number:02d}.pdf", rng, pages=rng.randint(20, 120))
        counts["pdf"] += 1
    for number in range(12):
        make_docx(docs / f"memo{number:02d}.docx", rng, paragraphs=rng.randint(200, 1500))
        counts["docx"] += 1
    written += sum(path.stat().st_size for path in docs.iterdir())
    # The largest files a run reads: one just under the 64 MiB bound, a few of tens of MB.
    big = root / "big"
    big.mkdir()
    # (The first is refused after it is read: more than 16 million characters of text.)
    for number, size in enumerate((60_000_000, 15_000_000, 12_000_000, 10_000_000)):
        (big / f"log{number}.txt").write_text(text_of(rng, size, False))
        counts["text"] += 1
        written += size
    number = 0
    while written < total_bytes:
        folder = root / f"folder{number // 500:03d}"
        folder.mkdir(exist_ok=True)
        kind = rng.choices(("text", "markdown", "html"), weights=(5, 3, 2))[0]
        size = int(min(rng.lognormvariate(10.5, 1.2), 4_000_000))  # median ~36 KB
        if kind == "html":
            (folder / f"page{number:06d}.html").write_text(html_of(rng, size))
        else:
            suffix = ".md" if kind == "markdown" else ".txt"
            (folder / f"doc{number:06d}{suffix}").write_text(text_of(rng, size,
                                                                    kind == "markdown"))
        counts[kind] += 1
        written += size
        number += 1
    return counts


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as stream:
            for line in stream:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Peak resident memory of this process and of the run's reader process."""

    def __init__(self, reader_pid: Callable[[], int | None]) -> None:
        super().__init__(daemon=True)
        self.reader_pid = reader_pid
        self.app_peak = self.reader_peak = self.both_peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            app = rss(os.getpid())
            pid = self.reader_pid()
            reader = rss(pid) if pid else 0
            self.app_peak = max(self.app_peak, app)
            self.reader_peak = max(self.reader_peak, reader)
            self.both_peak = max(self.both_peak, app + reader)


def measure(root: Path, home: Path) -> int:
    """Index ``root`` into a fresh workspace at ``home`` and print the figures (run in a
    process of its own, so nothing from generating the folder is in its memory)."""
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    space = Workspace(home)
    add_collection(space.db, "bench", [str(root)])
    run = index(space.db, "bench")
    start = rss(os.getpid())
    sampler = Sampler(lambda: run.reader.pid)
    sampler.start()
    started, cpu = time.monotonic(), time.process_time()
    for _event in run:
        pass
    took = time.monotonic() - started
    sampler.done.set()
    sampler.join()
    app_cpu = time.process_time() - cpu
    reader_cpu = sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), field)
                     for field in ("ru_utime", "ru_stime"))
    chunks = space.db.execute("SELECT COUNT(*) FROM doc_chunks").fetchone()[0]
    space.close()
    database = sum(p.stat().st_size for p in home.glob("workbench.db*"))
    total = sampler.both_peak - start
    print(f"indexed {human_size(size)}: " + ", ".join(
        f"{n:,} {status}" for status, n in run.counts.items())
        + f", {chunks:,} passages; database {human_size(database)}")
    print(f"time: {human_duration(took)} ({human_rate(size / took)}); CPU: app "
          f"{human_duration(app_cpu)}, reader {human_duration(reader_cpu)} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"app process: {human_size(start)} at the start, peak {human_size(sampler.app_peak)}"
          f", growth {human_size(sampler.app_peak - start)}")
    print(f"reader process: peak {human_size(sampler.reader_peak)}")
    print(f"app + reader: growth {human_size(total)} "
          f"(target under {human_size(TARGET)}: {'met' if total < TARGET else 'NOT met'})")
    return 0 if total < TARGET else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    parser.add_argument("--measure", nargs=2, type=Path, metavar=("FOLDER", "HOME"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("reads /proc: Linux only")
        return 2
    if args.measure:
        return measure(*args.measure)
    scratch = Path(tempfile.mkdtemp(prefix="bench-docs-"))
    root = args.keep or scratch / "folder"
    try:
        if not root.exists():
            started = time.monotonic()
            counts = generate(root, int(args.gigabytes * 1e9))
            print(f"generated {human_size(sum(p.stat().st_size for p in root.rglob('*')))} in "
                  f"{human_duration(time.monotonic() - started)}: "
                  + ", ".join(f"{n:,} {kind}" for kind, n in counts.items()), flush=True)
        return subprocess.run([sys.executable, __file__, "--measure", str(root),
                               str(scratch / "home")], check=False).returncode
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
