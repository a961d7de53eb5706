"""``worker`` (serve this computer to another one, with llama.cpp's RPC server) and ``workers``
(the list of computers a model can be split across)."""

from __future__ import annotations

import os
import signal
import threading

import click

from workbench.addresses import is_loopback
from workbench.cli.common import echo_json, pass_workspace
from workbench.cli.group import cli
from workbench.engine import rpc
from workbench.errors import InvalidInputError, WorkbenchError
from workbench.workspace import Workspace


def check_worker_options(host: str, port: int, allow_network: bool) -> None:
    """Loopback unless ``--allow-network``: llama.cpp's RPC has no authentication."""
    if not 1 <= port <= 65535:
        raise InvalidInputError(f"--port {port}: must be from 1 to 65535")
    if not is_loopback(host) and not allow_network:
        raise InvalidInputError(
            f"--host {host}: a worker reachable from other computers needs --allow-network "
            "(llama.cpp's RPC has no authentication or encryption: use a private network, or "
            "keep 127.0.0.1 and an SSH tunnel)")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but this computer needs --allow-network.")
@click.option("--port", default=rpc.DEFAULT_PORT, show_default=True, type=int)
@click.option("--threads", type=click.IntRange(1, 1024), default=None,
              help="Threads for the CPU device (default: half the cores, as llama.cpp's "
                   "rpc-server).")
@click.option("--device", "devices", multiple=True, metavar="NAME",
              help="A llama.cpp device to serve (CPU, CUDA0...); repeat for more. Default: "
                   "every GPU, else the CPU.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None,
              help="Keep large tensors in this folder, so the next load of the same model "
                   "sends hashes instead of the weights.")
@click.option("--allow-network", is_flag=True,
              help="Allow an address other computers can reach (no authentication, no "
                   "encryption: a private network only).")
def worker(host: str, port: int, threads: int | None, devices: tuple[str, ...],
           cache_dir: str | None, allow_network: bool) -> None:
    """Serve this computer's memory and compute to another computer's Workbench.

    Runs llama.cpp's RPC server until Ctrl+C. On the main computer: 'llm-workbench workers
    add THIS-HOST:PORT', then chat or serve with --workers."""
    check_worker_options(host, port, allow_network)
    if not rpc.available():
        raise WorkbenchError(rpc.missing_line())
    reason = _port_taken(host, port)
    if reason:
        raise WorkbenchError(f"worker: cannot listen on {host}:{port} ({reason})")
    if not is_loopback(host):
        click.echo(rpc.NETWORK_WARNING.format(host=host), err=True)
    if cache_dir:
        try:
            os.makedirs(cache_dir, exist_ok=True)
        except OSError as error:
            raise WorkbenchError(f"--cache {cache_dir}: cannot make it "
                                 f"({error.strerror or error})") from None
    failure: list[BaseException] = []

    def run() -> None:
        try:
            rpc.serve(host, port, threads=threads or max(1, (os.cpu_count() or 2) // 2),
                      devices=list(devices) or None, cache_dir=cache_dir)
        except Exception as error:  # an unknown device, a broken build: said in one line
            failure.append(error)
        finally:
            done.set()

    done = threading.Event()
    # llama.cpp's server loop never returns to Python: it runs on a thread, and Ctrl+C (or
    # SIGTERM) ends the process from here.
    threading.Thread(target=run, name="rpc-server", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        os._exit(0)
    if failure:
        raise WorkbenchError(f"worker: {failure[0]}")
    raise WorkbenchError(f"worker: llama.cpp's RPC server stopped on {host}:{port} (see its "
                         "output above)")


def _port_taken(host: str, port: int) -> str | None:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        return error.strerror or str(error)
    return None


@cli.group()
def workers() -> None:
    """Other computers running 'llm-workbench worker' that a model can be split across."""


@workers.command("add")
@click.argument("address")
@pass_workspace
def workers_add(workspace: Workspace, address: str) -> None:
    """Add the worker at ADDRESS (HOST:PORT; the port defaults to 50052)."""
    from workbench.workers import add_worker

    click.echo(f"Added worker {add_worker(workspace.db, address)}.")


@workers.command("rm")
@click.argument("address")
@pass_workspace
def workers_rm(workspace: Workspace, address: str) -> None:
    """Remove the worker at ADDRESS."""
    from workbench.workers import remove_worker

    click.echo(f"Removed worker {remove_worker(workspace.db, address)}.")


@workers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_workspace
def workers_list(workspace: Workspace, as_json: bool) -> None:
    """The workers added, each with its last check (not asked again: see 'workers check')."""
    from workbench.workers import recorded_checks

    found = recorded_checks(workspace.db)
    if as_json:
        echo_json([{"address": a, "last_check": c.to_dict() if c else None}
                   for a, c in found.items()])
        return
    if not found:
        click.echo("No workers. Start 'llm-workbench worker' on another computer, then: "
                   "llm-workbench workers add HOST:PORT")
    for address, check in found.items():
        if check is None:
            click.echo(f"{address}  (not checked yet: llm-workbench workers check)")
        else:
            click.echo(f"{address}  {check.shown().removeprefix(f'worker {address}: ')}")


@workers.command("check")
@click.argument("address", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--timeout", type=click.FloatRange(0.5, 120), default=10.0, show_default=True,
              help="Seconds to wait for each worker.")
@pass_workspace
def workers_check(workspace: Workspace, address: str | None, as_json: bool,
                  timeout: float) -> None:
    """Ask each worker (or ADDRESS) its state, memory, round-trip time, bandwidth and
    protocol (llama.cpp's RPC protocol does not carry a device's name)."""
    from workbench.workers import check_all, check_worker, record_checks

    if address:
        checks = [check_worker(address, timeout)]
        record_checks(workspace.db, checks)
    else:
        checks = check_all(workspace.db, timeout)
    if as_json:
        echo_json([c.to_dict() for c in checks])
        return
    if not checks:
        click.echo("No workers to check (see 'llm-workbench workers add').")
    for check in checks:
        click.echo(check.line)
