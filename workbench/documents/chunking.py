"""Passages cut from a file's blocks: they keep to one page and one section (a passage never
runs across a page or heading boundary, so its citation is exact), break at a paragraph, then
a sentence, then a word, and overlap their neighbour a little so a fact cut at a boundary is
still whole in one of them."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.documents.blocks import Block

#: Characters per passage: a few paragraphs, a few hundred tokens: small enough that several
#: fit a small model's context with the question, large enough to hold a fact with its context.
TARGET = 1000
#: Characters shared with the passage before.
OVERLAP = 150
#: Blocks are joined with this in the file's extracted text (offsets count it).
JOIN = "\n\n"


@dataclass(frozen=True)
class Chunk:
    text: str
    page: int | None
    section: str | None
    start: int  # offsets in the file's extracted text (the blocks joined by JOIN)
    end: int


def chunk(blocks: list[Block], target: int = TARGET, overlap: int = OVERLAP) -> list[Chunk]:
    full = JOIN.join(block.text for block in blocks)
    chunks: list[Chunk] = []
    offset = 0
    group_start = 0
    for index, block in enumerate(blocks):
        end = offset + len(block.text)
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if following is None or (following.page, following.section) != (block.page,
                                                                        block.section):
            chunks.extend(_windows(full, group_start, end, block, target, overlap))
            group_start = end + len(JOIN)
        offset = end + len(JOIN)
    return chunks


def _windows(full: str, start: int, end: int, block: Block, target: int,
             overlap: int) -> list[Chunk]:
    found: list[Chunk] = []
    pos = start
    while pos < end:
        stop = end if end - pos <= target else _break(full, pos, pos + target)
        text = full[pos:stop]
        lead = len(text) - len(text.lstrip())
        text = text.strip()
        if text:
            found.append(Chunk(text, block.page, block.section, pos + lead,
                               pos + lead + len(text)))
        if stop >= end:
            break
        after = max(stop - overlap, pos + 1)
        space = full.find(" ", after, stop)
        pos = space + 1 if space != -1 else after
    return found


def _break(full: str, low: int, high: int) -> int:
    """The best place to end a passage in ``full[low:high]``: the last paragraph break in
    its second half, else the last sentence end, else the last space, else ``high``."""
    half = low + (high - low) // 2
    for mark in ("\n\n", ". ", "\n", " "):
        at = full.rfind(mark, half, high)
        if at != -1:
            return at + len(mark)
    return high
