"""The ``grounded`` check's judging prompt: is every claim of the reply supported by the
passages the model was given?

Graded by the judge machinery of :mod:`workbench.trials.judge` (one pass after the cells,
greedy, a JSON answer ``{"score", "reason"}`` enforced by llama.cpp's grammar, the prompt's
sha256 stored with every grade); only what the judge reads differs: the passages as the
model read them (from the cell's grounding record), the question and the reply, against a
fixed rubric.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

GROUNDED_SYSTEM = (
    "You are a careful, strict fact checker. You read numbered passages from the user's "
    "documents, a question and an assistant's reply, and you grade whether every claim in "
    "the reply is supported by the passages. Use only the passages, not what you know. "
    'Answer with JSON only: {"score": a whole number from 1 (worst) to the top of the '
    'scale (best), "reason": one short sentence naming an unsupported claim, if any}.')
GROUNDED_TEMPLATE = (
    "Passages:\n{context}\n\nQuestion:\n{prompt}\n\nReply to check:\n{reply}\n\n"
    "Grade the reply from 1 to {scale}. {scale} means every claim in it is supported by the "
    "passages (a reply that says the passages do not answer the question, when they do "
    "not, is supported); 1 means its claims are not supported by them or contradict them.")
GROUNDED_PROMPT = "\n\n".join((GROUNDED_SYSTEM, GROUNDED_TEMPLATE))
GROUNDED_PROMPT_SHA256 = hashlib.sha256(GROUNDED_PROMPT.encode()).hexdigest()
#: The passages are quoted up to this many characters (the cut is marked); the question and
#: the reply as for any judge.
MAX_CONTEXT_CHARS = 8000


def grounded_messages(prompt: str, reply: str, grounding: Mapping[str, Any], scale: int,
                      quote: Any) -> list[dict[str, str]]:
    """The judging conversation for one reply; ``quote`` cuts the question and the reply as
    the judge does (:func:`workbench.trials.judge._quote`)."""
    context = str(grounding.get("context") or "").strip() or "(no passage was given)"
    if len(context) > MAX_CONTEXT_CHARS:
        context = (context[:MAX_CONTEXT_CHARS]
                   + f"\n[... cut: {len(context) - MAX_CONTEXT_CHARS:,} more characters]")
    user = GROUNDED_TEMPLATE.format(context=context, prompt=quote(prompt),
                                    reply=quote(reply) or "(empty reply)", scale=scale)
    return [{"role": "system", "content": GROUNDED_SYSTEM}, {"role": "user", "content": user}]
