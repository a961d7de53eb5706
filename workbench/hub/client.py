"""The one door to the Hugging Face Hub: address, token, offline mode, privacy, errors.

Every Hub call in Workbench goes through a :class:`HubClient`, which holds what the user chose
(the Hub's address or a mirror, a token, offline mode) and turns every failure of
``huggingface_hub`` or its HTTP client into one line naming the thing and the reason. The HTTP
session is huggingface_hub's own (``get_session``); Workbench only gives it a transport that puts
a time limit on calls the library makes without one (paginated listings), so a stalled server
ends in an error instead of a hang.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# Privacy first: no telemetry, no update checks, no agent-registry lookups. These are read by
# huggingface_hub when it is imported, so they are set before the import below, and forced on
# the constants afterwards in case something imported the library earlier.
for _var in ("HF_HUB_DISABLE_TELEMETRY", "HF_HUB_DISABLE_UPDATE_CHECK", "DO_NOT_TRACK"):
    os.environ[_var] = "1"

from huggingface_hub import HfApi, constants  # noqa: E402
from huggingface_hub.errors import (  # noqa: E402
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, set_client_factory  # noqa: E402
from huggingface_hub.utils._http import hf_request_event_hook  # noqa: E402

try:  # huggingface_hub 2.x speaks httpx2, 1.x httpx: use whichever its session is made of
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

from workbench import __version__  # noqa: E402
from workbench.errors import HubError, NoConnectionError, OfflineError  # noqa: E402
from workbench.hub.reachability import DEFAULT_DEADLINE_S, check_reachable  # noqa: E402
from workbench.safe_text import redact, visible  # noqa: E402

constants.HF_HUB_DISABLE_TELEMETRY = True

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_TIMEOUT = 10.0
OFFLINE_MESSAGE = (
    "Workbench is offline (the 'offline' setting or HF_HUB_OFFLINE=1), so it does not "
    "contact the Hub; turn offline mode off to search or download"
)
TOKEN_HINT = "set HF_TOKEN or `llm-workbench settings hub_token <token>`"

#: The time limit for calls the library makes without one (see ``_DefaultTimeout``).
_call_timeout: contextvars.ContextVar[float] = contextvars.ContextVar(
    "workbench_hub_timeout", default=DEFAULT_TIMEOUT
)
_install_lock = threading.Lock()
_installed = False


class _DefaultTimeout(httpx.HTTPTransport):
    """Give requests that carry no time limit the current call's limit.

    ``HfApi.list_models`` and ``list_repo_tree`` page through results with ``timeout=None``,
    which on a stalled server would wait forever.
    """

    def handle_request(self, request: Any) -> Any:
        limits = request.extensions.get("timeout") or {}
        if all(value is None for value in limits.values()):
            limit = _call_timeout.get()
            request.extensions["timeout"] = {
                "connect": limit, "read": limit, "write": limit, "pool": limit,
            }
        return super().handle_request(request)


def _client_factory() -> Any:
    """huggingface_hub's default session, with the time-limit transport underneath."""
    return httpx.Client(
        event_hooks={"request": [hf_request_event_hook]},
        follow_redirects=True,
        timeout=None,
        transport=_DefaultTimeout(),
    )


def _install_session() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            set_client_factory(_client_factory)
            _installed = True


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


@dataclass
class HubClient:
    """What Workbench needs to talk to the Hub, chosen by the user and nothing else."""

    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = field(default=None, repr=False)
    offline: bool = False
    #: Seconds without an answer (connect or read) before a call gives up.
    timeout: float = DEFAULT_TIMEOUT
    #: How many times a download retries a broken connection before it stops (and can resume).
    retries: int = 5
    #: Seconds before the first retry (doubling after each); tests make it small.
    backoff: float = 1.0

    def __post_init__(self) -> None:
        self.endpoint = self.endpoint.rstrip("/")
        scheme = urlsplit(self.endpoint).scheme
        if scheme not in ("http", "https") or not urlsplit(self.endpoint).netloc:
            raise HubError(f"hub_endpoint '{self.endpoint}': not an http(s) address")

    @classmethod
    def from_settings(cls, db: Any, **overrides: Any) -> HubClient:
        """Build from the workspace settings and the environment.

        The address is the ``hub_endpoint`` setting, else ``HF_ENDPOINT``, else the Hub; the token
        is ``HF_TOKEN``, else the ``hub_token`` setting; offline is the ``offline`` setting or
        ``HF_HUB_OFFLINE``. Nothing is read from huggingface_hub's own token file: the token is
        the one the user gave Workbench.
        """
        from workbench.settings import get_setting, is_offline

        endpoint = (
            get_setting(db, "hub_endpoint") or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
        )
        token = os.environ.get("HF_TOKEN") or get_setting(db, "hub_token") or None
        offline = is_offline(db)
        timeout = float(os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or DEFAULT_TIMEOUT)
        values: dict[str, Any] = {
            "endpoint": endpoint, "token": token, "offline": offline, "timeout": timeout,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def host(self) -> str:
        return _host(self.endpoint)

    def require_online(self) -> None:
        """Refuse before any connection is made when Workbench is offline."""
        from workbench.settings import offline_by_environment

        if self.offline or offline_by_environment():
            raise OfflineError(OFFLINE_MESSAGE)
        _install_session()

    def api(self) -> HfApi:
        self.require_online()
        return HfApi(
            endpoint=self.endpoint,
            token=self.token or False,
            library_name="llm-workbench",
            library_version=__version__,
        )

    def headers(self, url: str | None = None) -> dict[str, str]:
        """Request headers; the token goes only to the Hub's own address, never to a CDN."""
        headers = build_hf_headers(
            token=self.token or False, library_name="llm-workbench", library_version=__version__
        )
        if url is not None and _host(url) != self.host:
            headers.pop("authorization", None)
            headers.pop("Authorization", None)
        return dict(headers)

    @contextmanager
    def call(self, what: str) -> Iterator[None]:
        """A short, synchronous Hub call: a time limit, and failures as one-line errors.

        The host is looked at first (:mod:`workbench.hub.reachability`): with no network the
        call ends within two seconds with "No internet connection", instead of running through
        huggingface_hub's retries.
        """
        self.require_online()
        try:
            check_reachable(self.endpoint, min(self.timeout, DEFAULT_DEADLINE_S))
        except NoConnectionError:
            raise
        except HubError as error:
            raise HubError(f"{what}: {error}") from None
        reset = _call_timeout.set(self.timeout)
        try:
            with self.errors(what):
                yield
        finally:
            _call_timeout.reset(reset)

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn huggingface_hub and HTTP failures into :class:`HubError` lines about ``what``.

        Safe to hold across the yields of a generator (it keeps no per-thread state).
        """
        try:
            yield
        except OfflineModeIsEnabled:
            raise OfflineError(OFFLINE_MESSAGE) from None
        except GatedRepoError:
            raise HubError(
                f"{what}: the repository is gated; accept its terms on the Hub, then give "
                f"Workbench a token ({TOKEN_HINT})"
            ) from None
        except RepositoryNotFoundError:
            hint = "" if self.token else (
                f"; if it is private or gated, a token is needed ({TOKEN_HINT})"
            )
            raise HubError(f"{what}: no such repository on {self.host}{hint}") from None
        except RevisionNotFoundError:
            raise HubError(f"{what}: no such revision in the repository") from None
        except RemoteEntryNotFoundError:
            raise HubError(f"{what}: no such file in the repository") from None
        except HfHubHTTPError as error:
            raise HubError(f"{what}: {self._http_reason(error)}") from None
        except httpx.TimeoutException as error:
            raise HubError(
                f"{what}: {self.host_of(error)} did not answer within {self.timeout:g} s"
            ) from None
        except (httpx.TransportError, ConnectionError) as error:
            raise HubError(f"{what}: cannot reach {self.host_of(error)} "
                           f"({redact(_short(error), self.token)})") from None
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError,
                RecursionError):  # RecursionError: JSON nested thousands deep
            raise HubError(
                f"{what}: {self.host} sent an answer Workbench cannot read (malformed JSON)"
            ) from None
        except (ValueError, OverflowError) as error:
            # huggingface_hub parses some fields itself (``lastModified: "yesterday"``).
            raise HubError(
                f"{what}: {self.host} sent an answer Workbench cannot read "
                f"({redact(_short(error), self.token)[:120]})"
            ) from None

    def host_of(self, error: BaseException) -> str:
        """The host whose request failed: after a redirect (the Hub sends downloads to a
        CDN) that is not the configured one."""
        try:
            host = _host(str(error.request.url))  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):  # no request attached to the error
            return self.host
        return visible(host) if isinstance(host, str) and host else self.host

    def _http_reason(self, error: HfHubHTTPError) -> str:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
        # A server may echo the request's headers back: the token never reaches the line.
        server = redact(error.server_message or "", self.token).strip().splitlines()
        detail = f" ({server[0][:160]})" if server else ""
        if status == 401:
            return f"{self.host} refused the token (HTTP 401){detail}; {TOKEN_HINT}"
        if status == 403:
            return f"{self.host} denied access (HTTP 403){detail}"
        if status == 429:
            return f"{self.host} is rate-limiting requests (HTTP 429); try again later"
        if status is not None and status >= 500:
            return f"{self.host} failed with a server error (HTTP {status}){detail}"
        return f"{self.host} answered HTTP {status}{detail}"


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
