"""Whether an address is this computer: the one rule for everything that may connect out.

Offline mode lets Workbench reach only this computer (loopback), and several things check it:
the Hub client, remote endpoints, MCP servers over HTTP, RPC workers, and the local server's
bind address (anything but loopback needs a key). One function each for a host and a URL, so
they cannot disagree about what "this computer" is: ``localhost`` and its subdomains
(RFC 6761 reserves them for loopback), 127.0.0.0/8 and ``::1``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address, IPv6 with or without brackets) is this
    computer."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this computer."""
    return is_loopback(urlsplit(url).hostname or "")
