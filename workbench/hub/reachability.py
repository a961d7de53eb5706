"""Is the Hub's host reachable at all? One quick look before a Hub call, so that with no network
the user reads "No internet connection" within two seconds instead of sitting through
huggingface_hub's retries (25 s of "Searching..." before a raw ``[Errno -2]``).

The look is a name lookup and a TCP connect to the endpoint's host and port, with one deadline
for both. The lookup runs on a helper thread because ``getaddrinfo`` takes no timeout and a
broken resolver can hang for tens of seconds. A host that answers is remembered for a short
while (no second look per call); a failure is not remembered, so the next try after the
network comes back goes through.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from urllib.parse import urlsplit

from workbench.errors import HubError, NoConnectionError

#: The whole look (lookup and connect) gives up after this many seconds (so that, with the
#: answer drawn, the user reads "No internet connection" within two seconds).
DEFAULT_DEADLINE_S = 1.5
#: A host that answered is not looked at again for this long.
REMEMBER_S = 60.0
NO_CONNECTION = "No internet connection: your local models still work"

#: Connect errors that mean "no route out" rather than "that host said no".
_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}

_reached: dict[tuple[str, int], float] = {}
_lock = threading.Lock()


def host_and_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if not host:
        raise HubError(f"hub_endpoint '{endpoint}': no host name in it")
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def _lookup(host: str, port: int, deadline_s: float) -> list[tuple]:
    """``getaddrinfo`` bounded in time (on a daemon thread, which is left to finish alone)."""
    found: list[list[tuple]] = []
    failed: list[BaseException] = []

    def look() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as error:
            failed.append(error)

    thread = threading.Thread(target=look, name="wb-dns", daemon=True)
    thread.start()
    thread.join(deadline_s)
    if found:
        return found[0]
    reason = f"cannot resolve {host}" if failed else f"{host} not resolved within {deadline_s:g} s"
    raise NoConnectionError(f"{NO_CONNECTION} ({reason})")


def check_reachable(endpoint: str, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
    """Return when the endpoint's host accepts a TCP connection; otherwise raise
    :class:`NoConnectionError` (no network: name not resolved, no route, no answer in time) or
    :class:`HubError` (the host is there but refused the connection: a wrong port or address).
    """
    host, port = host_and_port(endpoint)
    key = (host, port)
    with _lock:
        if time.monotonic() - _reached.get(key, -REMEMBER_S) < REMEMBER_S:
            return
    started = time.monotonic()
    addresses = _lookup(host, port, deadline_s)
    refused: OSError | None = None
    for family, kind, proto, _name, address in addresses:
        left = deadline_s - (time.monotonic() - started)
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        sock.settimeout(left)
        try:
            sock.connect(address)
        except TimeoutError:
            continue
        except OSError as error:
            if error.errno not in _NO_ROUTE:
                refused = error
            continue
        finally:
            sock.close()
        with _lock:
            _reached[key] = time.monotonic()
        return
    if refused is not None:
        reason = refused.strerror or str(refused)
        raise HubError(f"cannot reach {host}:{port} ({reason.lower()})")
    raise NoConnectionError(f"{NO_CONNECTION} ({host} did not answer within {deadline_s:g} s)")


def forget() -> None:
    """Forget the hosts that answered (tests, or after the endpoint setting changes)."""
    with _lock:
        _reached.clear()
