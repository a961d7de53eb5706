"""Where a remote endpoint's key lives: the OS keyring, or an environment variable, never the
database, a log or an error message.

The ``keyring`` package (MIT) reaches the platform's own store (macOS Keychain, Windows
Credential Locker, the Secret Service on Linux desktops). A machine without one (a headless
server, a container: keyring's ``fail`` backend, or the package not installed) has no keyring
here, and the user names an environment variable instead (``endpoint add --key-env VAR``),
read each time the key is used. :func:`redact` takes any key out of a text before it is shown.
"""

from __future__ import annotations

import os
import re
from typing import Any

from workbench.errors import InvalidInputError

#: The keyring's service name; each endpoint's key is stored under its endpoint's name.
SERVICE = "llm-workbench endpoint"
#: How a redacted key reads.
HIDDEN = "[key hidden]"


def _keyring() -> Any | None:
    """The keyring module when it has a usable backend, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken backend configuration is "no keyring", not a crash
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return None
    return keyring


def keyring_available() -> bool:
    return _keyring() is not None


def save_key(name: str, key: str) -> None:
    """Keep ``key`` in the OS keyring under the endpoint ``name``; one line where there is
    no keyring (naming the way that works instead)."""
    store = _keyring()
    if store is None:
        raise InvalidInputError(f"endpoint {name}: this computer has no OS keyring to keep a "
                                "key in; give its key in an environment variable instead: "
                                "--key-env VAR")
    try:
        store.set_password(SERVICE, name, key)
    except Exception as error:
        raise InvalidInputError(f"endpoint {name}: the OS keyring refused the key "
                                f"({redact(str(error), key)})") from None


def keyring_key(name: str) -> str | None:
    store = _keyring()
    if store is None:
        return None
    try:
        value = store.get_password(SERVICE, name)
    except Exception:
        return None
    return value or None


def delete_key(name: str) -> None:
    store = _keyring()
    if store is None:
        return
    try:
        store.delete_password(SERVICE, name)
    except Exception:  # nothing stored under that name: nothing to delete
        return


def env_key(name: str, variable: str) -> str:
    """The key in environment variable ``variable``, read now; one line when it is not set."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise InvalidInputError(f"endpoint {name}: its key is read from the environment "
                                f"variable {variable}, which is not set here")
    return value


_BEARER = re.compile(r"(?i)(bearer\s+|api[_-]?key[=:\s\"']+)[A-Za-z0-9._~+/=-]{4,}")


def redact(text: str, *keys: str | None) -> str:
    """``text`` with each key in ``keys`` and anything that looks like a bearer token or an
    ``api_key=`` value replaced by :data:`HIDDEN`."""
    for key in keys:
        if key and len(key) >= 3:
            text = text.replace(key, HIDDEN)
    return _BEARER.sub(lambda m: m.group(1) + HIDDEN, text)
