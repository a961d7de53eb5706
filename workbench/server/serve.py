"""Running the server: the address check, the socket, and uvicorn in the foreground (the
``serve`` command) or on a background thread (the window's Server switch, the tests).

The socket is bound here, before uvicorn starts, so a port in use or an address this machine
does not have is one line naming it rather than uvicorn's log and exit. The names and web
origins the server accepts (:mod:`workbench.server.guard`) are the settings' and the
command line's together; the connection bounds are :class:`~workbench.server.limits.ServerLimits`.
The access log leaves out query strings (a key sent as ``?api_key=`` must not be kept).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from workbench.addresses import is_loopback
from workbench.engine import Engine
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.server.host import ModelHost
from workbench.server.limits import ServerLimits
from workbench.settings import get_setting, split_names
from workbench.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
START_TIMEOUT_S = 15.0


def check_bind(host: str, api_key: str | None) -> None:
    """Private by default: any address but loopback needs a key, said in one line."""
    if api_key is not None and not api_key.strip():
        raise InvalidInputError("API key: empty; give a key, or leave the option out")
    if not is_loopback(host) and not api_key:
        raise InvalidInputError(
            f"--host {host}: other computers could use your models; serving beyond this "
            "computer (127.0.0.1) needs a key: --api-key-file FILE (or WORKBENCH_API_KEY)")


def bind_socket(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"--port {port}: must be from 0 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        reason = "already in use" if error.errno in (48, 98, 10048) else \
            (error.strerror or str(error))
        raise InvalidInputError(f"{host}:{port}: cannot listen there ({reason})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@dataclass
class RunningServer:
    """A server on a background thread; :meth:`stop` ends it and unloads the model."""

    host: str
    port: int
    model_host: ModelHost
    thread: threading.Thread
    uvicorn_server: object
    api_key: str | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/v1"

    def stop(self, timeout: float = 30.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.model_host.close(timeout)  # first: a reply streaming would hold uvicorn's shutdown
        self.uvicorn_server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(timeout)


class _NoQueryString(logging.Filter):
    """Drops the query string from uvicorn's access log lines (``?api_key=...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def _build(workspace: Workspace, host: str, port: int, api_key: str | None,
           idle_unload_s: float | None, access_log: bool, engine: Engine | None = None,
           engine_worker: Executor | None = None, allow_hosts: list[str] | None = None,
           allow_origins: list[str] | None = None, limits: ServerLimits | None = None,
           workers: tuple[str, ...] | None = None) -> tuple[Any, socket.socket, ModelHost]:
    import uvicorn

    from workbench.server.app import ServerState, create_app
    from workbench.server.guard import allowed_from

    check_bind(host, api_key)
    db = workspace.db
    allowed = allowed_from(
        host, [*split_names(get_setting(db, "server_allowed_hosts") or ""), *(allow_hosts or [])],
        [*split_names(get_setting(db, "server_allowed_origins") or ""), *(allow_origins or [])])
    if idle_unload_s is None:
        idle_unload_s = float(get_setting(db, "server_idle_unload_minutes")) * 60
    limits = limits or ServerLimits()
    sock = bind_socket(host, port)
    model_host = ModelHost(idle_unload_s=idle_unload_s, engine=engine,
                           engine_worker=engine_worker, workers=workers)
    state = ServerState(workspace, model_host, api_key, allowed, limits)
    config = uvicorn.Config(create_app(state), log_level="info" if access_log else "warning",
                            access_log=access_log, lifespan="off", timeout_graceful_shutdown=5,
                            **limits.uvicorn_options())
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _NoQueryString) for f in access.filters):
        access.addFilter(_NoQueryString())
    return uvicorn.Server(config), sock, model_host


def start_server(workspace: Workspace, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 api_key: str | None = None, idle_unload_s: float | None = None,
                 engine: Engine | None = None, engine_worker: Executor | None = None,
                 allow_hosts: list[str] | None = None, allow_origins: list[str] | None = None,
                 limits: ServerLimits | None = None) -> RunningServer:
    """Start the server on a thread and return once it answers (port 0: a free port).

    The window passes its own engine and the worker that calls it (see
    :class:`~workbench.server.host.ModelHost`), so chat and server share one model."""
    server, sock, model_host = _build(workspace, host, port, api_key, idle_unload_s, False,
                                      engine, engine_worker, allow_hosts, allow_origins,
                                      limits)
    bound_port = sock.getsockname()[1]
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as error:  # uvicorn exits with SystemExit on a startup failure
            failure.append(error)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name="server-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        thread.join(5)
        model_host.close()
        raise WorkbenchError(f"the server did not start on {host}:{bound_port}"
                             + (f" ({failure[0]})" if failure else ""))
    return RunningServer(host, bound_port, model_host, thread, server, api_key)


def serve_forever(workspace: Workspace, *, host: str, port: int, api_key: str | None,
                  ready: Callable[[str], None] | None = None,
                  allow_hosts: list[str] | None = None,
                  allow_origins: list[str] | None = None,
                  workers: tuple[str, ...] | None = None) -> None:
    """The ``serve`` command: uvicorn in the foreground until Ctrl+C; ``ready`` gets the
    address once the socket is bound; ``workers``: every model split across them."""
    server, sock, model_host = _build(workspace, host, port, api_key, None, True,
                                      allow_hosts=allow_hosts, allow_origins=allow_origins,
                                      workers=workers)
    if ready is not None:
        shown = f"[{host}]" if ":" in host else host
        ready(f"http://{shown}:{sock.getsockname()[1]}/v1")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        model_host.close()
