"""The OpenAI-compatible HTTP API: a Starlette app over Workbench's engine.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` (streamed as server-sent events
or not), ``POST /v1/completions`` and ``POST /v1/embeddings`` (made
by the same model in the same engine process). Every request goes through the
:class:`~workbench.server.host.ModelHost` queue, so one model is in memory and requests are
answered in arrival order. Errors have OpenAI's shape and status; usage is in every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlite_utils import Database
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from workbench import conversations as convs
from workbench.chat import save_exchange
from workbench.engine import Reply, ReplyStats
from workbench.errors import (
    ContextOverflowError,
    EngineCrashed,
    InvalidInputError,
    ModelNotFound,
    NotFoundError,
    TemplateError,
    WorkbenchError,
)
from workbench.library import Model, get_model, list_models
from workbench.model_settings import Runnable, runnable
from workbench.server.aliases import alias_model, find_alias, list_aliases
from workbench.server.embeddings import EmbeddingRequest, embedding_request, embedding_response
from workbench.server.grounded import add_citations, ground_job, last_delta
from workbench.server.guard import Allowed, Guard
from workbench.server.host import EmbedJob, Event, Job, ModelHost, stats_usage
from workbench.server.images import alias_sees, chat_with_images, seeing
from workbench.server.limits import ServerLimits
from workbench.server.protocol import (
    MAX_BODY_BYTES,
    APIError,
    GenerationRequest,
    StopWatcher,
    check_model_name,
    completion_request,
    parse_body,
)
from workbench.server.tool_deltas import end_deltas, tool_deltas
from workbench.server.tools import tool_answer
from workbench.settings import get_setting
from workbench.workspace import Workspace

log = logging.getLogger(__name__)

#: How often a waiting request looks whether its client is still there.
DISCONNECT_POLL_S = 0.25


@dataclass
class ServerState:
    """What every request needs: the workspace (each thread its own connection), the model
    host and the key, if one is required."""

    workspace: Workspace
    host: ModelHost
    api_key: str | None = None
    allowed: Allowed = field(default_factory=Allowed)
    limits: ServerLimits = field(default_factory=ServerLimits)

    async def with_db(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a (quick) database call ``func(db, *args)`` on a worker thread, handed that
        thread's connection (as the window's operations are: no lock, no shared one)."""
        def run() -> Any:
            return func(self.workspace.db, *args)
        return await anyio.to_thread.run_sync(run)


@dataclass
class Target:
    """The model a request names, and the settings it is served with."""

    model: Model
    overrides: dict[str, Any]
    system_prompt: str = ""
    docs: list[str] = field(default_factory=list)  # collections it answers from, with k
    k: int = 5

    def ready(self, db: Database, asked: dict[str, Any] | None = None) -> Runnable:
        """The model ready to run with the request's settings over the alias's: its file
        checked, an unknown setting refused (400) and a missing file one line."""
        return runnable(db, self.model, {**self.overrides, **(asked or {})})


def resolve_target(db: Database, name: str) -> Target:
    """An alias (case-insensitive), else a library id or unique name prefix; else 404."""
    alias = find_alias(db, name)
    if alias is not None:
        try:
            return Target(alias_model(db, alias), *alias.serving())
        except NotFoundError as error:
            raise APIError(404, str(error), code="model_not_found", param="model") from None
    try:
        return Target(get_model(db, name), {})
    except ModelNotFound as error:
        message = str(error).replace("has that id or name", "has that id or name, and no "
                                     "alias has that name")
        raise APIError(404, f"{message} (see GET /v1/models)", code="model_not_found",
                       param="model") from None


def model_ids(db: Database) -> list[dict[str, Any]]:
    """What ``GET /v1/models`` lists: aliases, then library models by name (by id where two
    share a name)."""
    models = list_models(db)
    names = [m.name for m in models]
    entries = []
    for alias in list_aliases(db):
        entries.append({"id": alias.name, "object": "model", "created": _stamp(alias.updated_at),
                        "owned_by": "workbench-alias", "vision": alias_sees(db, alias)})
    for model in models:
        shown = model.name if names.count(model.name) == 1 else str(model.id)
        entries.append({"id": shown, "object": "model", "created": _stamp(model.added_at),
                        "owned_by": "workbench", "vision": model.sees})
    return entries


def _stamp(iso: str | None) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(iso)).timestamp())
    except (TypeError, ValueError):
        return 0


def error_response(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def api_error(error: WorkbenchError) -> APIError:
    """The HTTP answer for an error the engine or the library raised."""
    if isinstance(error, APIError):
        return error
    if isinstance(error, ContextOverflowError):
        return APIError(400, str(error), code="context_length_exceeded", param="messages")
    if isinstance(error, InvalidInputError | TemplateError):
        return APIError(400, str(error))
    if isinstance(error, ModelNotFound | NotFoundError):
        return APIError(404, str(error), code="model_not_found", param="model")
    if isinstance(error, EngineCrashed):
        return APIError(500, f"the engine stopped: {error}", type="server_error",
                        code="engine_crashed")
    return APIError(500, str(error), type="server_error")


Handler = Callable[[Request, ServerState], Awaitable[Response]]


def endpoint(func: Handler, state: ServerState) -> Callable[[Request], Awaitable[Response]]:
    """The checks every /v1 endpoint shares: the key, the count, errors in OpenAI's shape
    (a client's mistake or departure never prints a traceback; a bug in the server is one
    logged 500 in the same shape)."""

    async def handle(request: Request) -> Response:
        state.host.count_request()
        if state.api_key is not None:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    token.strip().encode(), state.api_key.encode()):
                what = "missing" if not given else "wrong"
                return error_response(APIError(
                    401, f"API key: {what} (send it as 'Authorization: Bearer KEY')",
                    code="invalid_api_key"))
        try:
            return await func(request, state)
        except APIError as error:
            return error_response(error)
        except WorkbenchError as error:
            return error_response(api_error(error))
        except (_ClientGone, ClientDisconnect):
            return Response(status_code=499)  # nobody is there to read it
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(APIError(500, "the server failed on this request (see its "
                                           "log)", type="server_error"))

    return handle


async def read_body(request: Request, state: ServerState) -> bytes:
    """The request's body, read no further than :data:`MAX_BODY_BYTES` (a larger one is a
    413 before it is all in memory), and cut when it has not all arrived within the body
    timeout (408: a client that never finishes its body holds nothing for long)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise APIError(413, f"request body: larger than {MAX_BODY_BYTES >> 20} MiB")
    parts: list[bytes] = []

    async def read() -> None:
        size = 0
        async for part in request.stream():
            size += len(part)
            if size > MAX_BODY_BYTES:
                raise APIError(413, f"request body: larger than {MAX_BODY_BYTES >> 20} MiB")
            parts.append(part)

    timeout = state.limits.body_timeout_s
    try:
        await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        raise APIError(408, f"request body: not all sent within {timeout:g} s",
                       code="timeout") from None
    return b"".join(parts)


async def checked_body(request: Request, state: ServerState,
                       check: Callable[[dict[str, Any]], Any]) -> Any:
    """The body read, parsed and checked by ``check`` off the event loop (a response_format
    schema is made into a grammar there), all within the preparation bound (400 past it)."""
    raw = await read_body(request, state)

    def parse() -> Any:
        return check(parse_body(raw))

    timeout = state.limits.prepare_timeout_s
    try:
        return await asyncio.wait_for(anyio.to_thread.run_sync(parse), timeout)
    except asyncio.TimeoutError:
        raise APIError(400, f"request: checking it took more than {timeout:g} s; send a "
                       "smaller one", code="request_too_large") from None


async def models_endpoint(request: Request, state: ServerState) -> Response:
    entries = await state.with_db(model_ids)
    wanted = request.path_params.get("model_id")
    if wanted is None:
        return JSONResponse({"object": "list", "data": entries})
    if not wanted.strip():
        raise APIError(404, "model: no id given (GET /v1/models lists them)",
                       code="model_not_found", param="model")
    wanted = check_model_name(wanted)
    for entry in entries:
        if entry["id"] == wanted:
            return JSONResponse(entry)
    target = await state.with_db(resolve_target, wanted)  # ids and prefixes work too
    return JSONResponse({"id": wanted, "object": "model", "created": _stamp(
        target.model.added_at), "owned_by": "workbench", "vision": target.model.sees})


async def chat_endpoint(request: Request, state: ServerState) -> Response:
    wanted = await checked_body(request, state, chat_with_images)
    return await generate(request, state, wanted, chat=True)


async def completions_endpoint(request: Request, state: ServerState) -> Response:
    wanted = await checked_body(request, state, completion_request)
    return await generate(request, state, wanted, chat=False)


def _events_for(job: Any) -> asyncio.Queue[Event]:
    """The queue this request reads ``job``'s events from: the host's thread puts them on
    the event loop's side (none once the loop has closed: the server is stopping)."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Event] = asyncio.Queue()

    def emit(event: Event) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(events.put_nowait, event)

    job.emit = emit
    return events


async def embeddings_endpoint(request: Request, state: ServerState) -> Response:
    """Embeddings from the named model, made in its engine process on the host's queue, so
    they take turns with generation and use the model already in memory (see
    :mod:`workbench.server.embeddings` for the bounds; vectors are L2-normalised)."""
    wanted = await checked_body(request, state, embedding_request)
    job = await state.with_db(_prepare_embedding, wanted)
    events = _events_for(job)
    state.host.submit(job)
    try:
        kind, value = await _next(request, job, events)
    except BaseException:
        job.cancel()
        raise
    if kind == "error":
        raise api_error(value)
    vectors, tokens = value
    return JSONResponse(embedding_response(wanted, vectors, tokens))


def _prepare_embedding(db: Database, wanted: EmbeddingRequest) -> EmbedJob:
    """The job for an embeddings request: the model loaded as for generation (same settings,
    so a chat and an embedding request reuse one load)."""
    ready = resolve_target(db, wanted.model).ready(db)
    return EmbedJob(ready.model.name, ready.model.path, ready.load, wanted.texts,
                    emit=lambda _event: None, model_id=ready.model.id)


def _prepare(db: Database, wanted: GenerationRequest, host: ModelHost) -> tuple[Job, bool]:
    """The job for a request (resolved on a worker thread, on its connection)."""
    target = resolve_target(db, wanted.model)
    ready = seeing(target.ready(db, wanted.sampling), wanted.messages, wanted.model)
    messages = list(wanted.messages)
    if target.system_prompt and not wanted.raw_prompt and \
            not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": target.system_prompt})
    keep = bool(get_setting(db, "server_keep_history"))
    job = Job(ready.model.name, ready.model.path, messages, ready.load, ready.sampling,
              emit=lambda _event: None, model_id=ready.model.id)
    ground_job(db, job, target.docs, target.k, wanted.raw_prompt, wanted.model, host)
    return job, keep


def _saver(state: ServerState, job: Job, model: str, finish: Callable[[], str]
           ) -> Callable[[Reply], None]:
    """Saves the request and its answer in History (only when the user turned that on)."""

    def save(reply: Reply) -> None:
        asked = [m for m in job.messages if m["role"] == "user"]
        title = "API: " + convs.title_from(asked[-1]["content"] if asked else model)
        # on the thread that ran the reply, with that thread's own connection
        save_exchange(state.workspace.db, job.messages, job.model_id, reply.text, reply.stats,
                      title=title, finish_reason=finish(),
                      record={"model_name": job.model_name, "via": "server",
                              "requested_model": model})

    return save


async def generate(request: Request, state: ServerState, wanted: GenerationRequest, *,
                   chat: bool) -> Response:
    job, keep = await state.with_db(_prepare, wanted, state.host)
    events = _events_for(job)
    watcher = StopWatcher(wanted.stop)
    if keep:
        job.after = _saver(state, job, wanted.model,
                           lambda: _finish(job.reply.stats if job.reply else ReplyStats(),
                                           watcher))
    state.host.submit(job)
    ident = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
    created = int(time.time())
    if wanted.stream:
        return StreamingResponse(_stream(request, job, events, watcher, wanted, ident, created,
                                         chat), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    text: list[str] = []
    try:
        while True:
            kind, value = await _next(request, job, events)
            if kind == "piece":
                text.append(watcher.feed(value))
                if watcher.hit:
                    job.cancel()
            elif kind == "error":
                raise api_error(value)
            else:
                text.append(watcher.flush())
                stats: ReplyStats = value
                break
    except BaseException:
        job.cancel()
        raise
    finish = _finish(stats, watcher)
    content = "".join(text)
    if chat:
        message, called = tool_answer(content, stats, wanted.sampling)
        choice: dict[str, Any] = {"index": 0, "message": add_citations(message, job, content),
                                  "logprobs": None, "finish_reason": called or finish}
    else:
        choice = {"index": 0, "text": content, "logprobs": None, "finish_reason": finish}
    return JSONResponse({"id": ident, "object": "chat.completion" if chat else
                         "text_completion", "created": created, "model": wanted.model,
                         "choices": [choice], "usage": stats_usage(stats)})


class _ClientGone(Exception):
    pass


async def _next(request: Request, job: Job | EmbedJob, events: asyncio.Queue[Event]) -> Event:
    """The job's next event; a client that went away while waiting cancels the job."""
    while True:
        try:
            return await asyncio.wait_for(events.get(), DISCONNECT_POLL_S)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                job.cancel()
                raise _ClientGone() from None


def _finish(stats: ReplyStats, watcher: StopWatcher) -> str:
    """OpenAI's finish reason: a stop string counts as ``stop``; running out of tokens is
    ``length``."""
    if watcher.hit:
        return "stop"
    return "length" if stats.finish_reason == "length" else "stop"


def _sse(value: Any) -> str:
    return f"data: {json.dumps(value, ensure_ascii=False)}\n\n"


async def _stream(request: Request, job: Job, events: asyncio.Queue[Event],
                  watcher: StopWatcher, wanted: GenerationRequest, ident: str, created: int,
                  chat: bool) -> AsyncIterator[str]:
    """Server-sent events in OpenAI's chunk shape; the client leaving stops the reply."""
    kind_name = "chat.completion.chunk" if chat else "text_completion"

    def chunk(text: str | None, finish: str | None = None, *, role: bool = False,
              delta: dict[str, Any] | None = None) -> dict[str, Any]:
        if chat:
            delta = delta or ({"role": "assistant", "content": ""} if role else
                              ({"content": text} if text is not None else {}))
            choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None,
                                      "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None,
                      "finish_reason": finish}
        return {"id": ident, "object": kind_name, "created": created, "model": wanted.model,
                "choices": [choice]}

    ended = False
    tooling = tool_deltas(chat, wanted.sampling)  # None: no tools, pieces are content
    try:
        if chat:
            yield _sse(chunk(None, role=True))
        while True:
            try:
                kind, value = await _next(request, job, events)
            except _ClientGone:
                return
            if kind == "piece":
                text = watcher.feed(value)
                for delta in tooling.feed(text, job) if tooling else []:
                    yield _sse(chunk(delta.get("content"), delta=delta))
                if text and tooling is None:
                    yield _sse(chunk(text))
                if watcher.hit:
                    job.cancel()
            elif kind == "error":
                ended = True
                yield _sse(api_error(value).body())
                return
            else:
                ended = True
                deltas, called = end_deltas(tooling, watcher.flush(), value)
                for delta in deltas:
                    yield _sse(chunk(delta.get("content"), delta=delta))
                yield _sse(chunk(None, called or _finish(value, watcher), delta=last_delta(job)))
                if wanted.include_usage:
                    yield _sse({"id": ident, "object": kind_name, "created": created,
                                "model": wanted.model, "choices": [],
                                "usage": stats_usage(value)})
                yield "data: [DONE]\n\n"
                return
    finally:
        if not ended:  # cancelled by a disconnect, or the loop is going away
            job.cancel()


async def _http_error(request: Request, error: Exception) -> Response:
    status = error.status_code if isinstance(error, HTTPException) else 500
    message = f"{request.method} {request.url.path}: " + (
        "no such endpoint" if status == 404 else "method not allowed" if status == 405
        else str(getattr(error, "detail", "") or "failed"))
    return error_response(APIError(status, message))


def create_app(state: ServerState) -> Guard:
    """The API behind the Host, Origin and Content-Type checks of
    :mod:`workbench.server.guard`."""
    def route(path: str, handler: Handler, method: str) -> Route:
        return Route(path, endpoint(handler, state), methods=[method])

    return Guard(Starlette(
        routes=[
            route("/v1/models", models_endpoint, "GET"),
            route("/v1/models/{model_id:path}", models_endpoint, "GET"),
            route("/v1/chat/completions", chat_endpoint, "POST"),
            route("/v1/completions", completions_endpoint, "POST"),
            route("/v1/embeddings", embeddings_endpoint, "POST"),
        ],
        exception_handlers={HTTPException: _http_error},
    ), state.allowed)
