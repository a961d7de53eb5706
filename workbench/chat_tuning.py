"""Whether a model's names and tags mark it as tuned for chat: pure text rules, no imports.

A leaf of its own because two layers need it: the library labels base models with it, and a
schema migration (``store/migrations.py``, below the library) judges the rows that were added
before the label existed. Living in ``library`` it made the store import the domain above it
(an import circle: library -> store.db -> store.migrations -> library).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Words that mark a model tuned to follow instructions or chat, anywhere in a name or tag...
_CHAT_WORDS = ("instruct", "chat")
#: ...and whole words (between non-letters) that do: Gemma's "-it", training methods, and
#: the names of well-known chat fine-tunes.
_CHAT_TOKENS = frozenset({
    "it", "inst", "sft", "dpo", "orpo", "kto", "rlhf", "assistant", "conversational",
    "hermes", "openhermes", "zephyr", "vicuna", "openchat", "tulu", "alpaca", "dolphin",
    "wizardlm", "orca", "roleplay", "rp",
})


def marks_chat_tuning(texts: Iterable[str]) -> bool:
    """Whether any of these names, fine-tune labels or tags marks an instruct or chat model."""
    for text in texts:
        lowered = text.lower()
        if any(word in lowered for word in _CHAT_WORDS):
            return True
        if _CHAT_TOKENS & set(re.split(r"[^a-z]+", lowered)):
            return True
    return False
