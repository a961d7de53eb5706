"""Grounded answers from the server: an alias with collections answers from their passages.

A chat completion to an alias set with ``--docs`` retrieves the ``k`` best passages for the
last user message (on the request's database thread, so an unknown collection is a 404
before anything runs), and fits them into that message on the engine thread, with the
model's own tokenizer: the same :func:`~workbench.documents.grounding.retrieve` and
:func:`~workbench.documents.grounding.ground` as ``chat --docs`` and trials. The client's
messages are kept as sent (History, when kept, saves the question as asked).

The citations travel in the response as an extra field, ``citations``, a list of the
passages given to the model by number (collection, path, page, section, chunk id, score,
offsets, and ``cited``: whether the reply cited that number):

- on ``choices[0].message`` of a whole answer;
- on ``choices[0].delta`` of the last chunk of a stream (the one with ``finish_reason``).

``docs_note`` beside it says when passages were cut to fit the context. OpenAI's clients
keep unknown fields: ``message.model_extra["citations"]`` in the Python client.
A plain completion (``/v1/completions``) to such an alias is refused: its prompt is raw text
with no question to ground.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlite_utils import Database

from workbench.documents.grounding import ground, retrieve
from workbench.documents.search import Passage
from workbench.engine import Engine, Message
from workbench.server.host import Job
from workbench.server.protocol import APIError
from workbench.trials.sources import cited_numbers


def ground_job(db: Database, job: Job, docs: list[str], k: int, raw_prompt: bool,
               model: str) -> None:
    """Retrieve for the request's last user message and have the host fit the passages in
    before the reply (nothing when the alias names no collection)."""
    if not docs:
        return
    if raw_prompt:
        raise APIError(400, f"model '{model}': answers from documents; use "
                       "/v1/chat/completions", param="model")
    last = job.messages[-1] if job.messages else {}
    question = last.get("content")
    if last.get("role") != "user" or not isinstance(question, str) or not question.strip():
        raise APIError(400, f"model '{model}': answers from documents, so the last message "
                       "must be the user's question (text)", param="messages")
    passages = retrieve(db, docs, question, k)
    job.ground = functools.partial(_fit, job, passages)


def _fit(job: Job, passages: list[Passage], engine: Engine) -> list[Message]:
    """On the engine thread: the messages with the passages fitted in."""
    messages, job.grounding = ground(engine, job.path, list(job.messages), passages,
                                     job.load, job.sampling)
    return messages


def add_citations(target: dict[str, Any], job: Job, text: str) -> dict[str, Any]:
    """``target`` (a message or a last delta) with the citations of a grounded job."""
    grounding = job.grounding
    if grounding is None:
        return target
    cited = set(cited_numbers(text))
    target["citations"] = [{**c, "cited": c["number"] in cited} for c in grounding.citations()]
    if grounding.note:
        target["docs_note"] = grounding.note
    return target


def last_delta(job: Job) -> dict[str, Any] | None:
    """The last chunk's delta of a grounded stream (its citations); None otherwise."""
    if job.grounding is None:
        return None
    return add_citations({}, job, job.reply.text if job.reply is not None else "")
