"""Remote endpoints: OpenAI-compatible servers the user runs, named once and used like models.

``endpoint add NAME URL`` keeps the name, the base URL and the models the server lists; its key
goes to the OS keyring (:mod:`workbench.keychain`), or stays in an environment variable the
user names, read when it is used: never in this database. ``endpoint:NAME/MODEL`` is then
accepted wherever a model is (:func:`workbench.model_settings.runnable` turns it into a
:class:`~workbench.library.Model` whose path is the endpoint's
:class:`~workbench.engine.remote.Target`), and shown as ``NAME/MODEL (remote: HOST)``.

Offline mode refuses every endpoint not on this computer, before any connection, in one line;
:func:`contacts` lists each address Workbench may contact, for the privacy page.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from workbench.addresses import is_loopback, is_loopback_url
from workbench.engine.endpoint_http import Target, check_url, list_models
from workbench.errors import InvalidInputError, NotFoundError, OfflineError, WorkbenchError
from workbench.keychain import delete_key, redact, save_key
from workbench.library import Model, now
from workbench.settings import get_setting, is_offline

#: What a reference to an endpoint's model starts with: ``endpoint:NAME/MODEL``.
REF_PREFIX = "endpoint:"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass
class Endpoint:
    name: str
    url: str
    models: list[str] = field(default_factory=list)
    key_env: str | None = None
    keyring: bool = False
    created_at: str = ""

    @property
    def host(self) -> str:
        return Target(self.name, self.url, "").host

    @property
    def shown(self) -> str:
        return f"remote: {self.host}"

    @property
    def key_text(self) -> str:
        """Where its key is, in words (never the key)."""
        if self.key_env:
            return f"environment variable {self.key_env}"
        return "OS keyring" if self.keyring else "no key"

    def target(self, model: str) -> Target:
        return Target(self.name, self.url, model, self.key_env, self.keyring)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "host": self.host, "shown": self.shown,
                "models": self.models, "key": self.key_text,
                "loopback": is_loopback_url(self.url), "created_at": self.created_at}


def check_online(db: Database, target: Target) -> None:
    """One line, before any connection, when offline mode forbids reaching ``target``."""
    if not is_loopback_url(target.url) and is_offline(db):
        raise OfflineError(f"endpoint {target.name} (remote: {target.host}): Workbench is "
                           "offline, so it contacts no other computer; turn offline mode "
                           "off to use it")


def _from_row(row: dict[str, Any]) -> Endpoint:
    return Endpoint(row["name"], row["url"], json.loads(row["models"] or "[]"),
                    row["key_env"] or None, bool(row["keyring"]), row["created_at"] or "")


def list_endpoints(db: Database) -> list[Endpoint]:
    if "endpoints" not in db.table_names():
        return []
    return [_from_row(r) for r in db.table("endpoints").rows_where(order_by="name")]


def get_endpoint(db: Database, name: str) -> Endpoint:
    found = [e for e in list_endpoints(db) if e.name == name.strip()]
    if not found:
        names = ", ".join(e.name for e in list_endpoints(db)) or "none yet"
        raise NotFoundError(f"endpoint '{name}': not added (added: {names}; add one with "
                            "endpoint add NAME URL)")
    return found[0]


def add_endpoint(db: Database, name: str, url: str, *, key_env: str | None = None,
                 key: str | None = None) -> tuple[Endpoint, str]:
    """Add an endpoint and list its models (one short try); returns it and a line about its
    models. ``key`` goes to the OS keyring (refused where there is none); ``key_env`` names
    an environment variable read at each use. A name already added is refused."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise InvalidInputError(f"endpoint name {name!r}: use letters, digits, '.', '-' or "
                                "'_' (up to 64, no '/')")
    url = check_url(url)
    if key_env is not None and not _ENV.fullmatch(key_env):
        raise InvalidInputError(f"--key-env {key_env!r}: not an environment variable's name")
    if key is not None and key_env is not None:
        raise InvalidInputError("endpoint: give its key in the keyring or in --key-env, "
                                "not both")
    if key is not None and not key.strip():
        raise InvalidInputError("endpoint key: empty; give a key, or leave it out")
    if any(e.name == name for e in list_endpoints(db)):
        raise InvalidInputError(f"endpoint '{name}': already added (endpoint rm {name} "
                                "first to change it)")
    if key is not None:
        save_key(name, key.strip())
    endpoint = Endpoint(name, url, [], key_env, key is not None, now())
    note = ""
    try:
        check_online(db, endpoint.target(""))
        endpoint.models = list_models(endpoint.target(""))
        note = (f"it serves {', '.join(endpoint.models[:5])}"
                + (f" and {len(endpoint.models) - 5} more" if len(endpoint.models) > 5 else "")
                if endpoint.models else "it lists no models")
    except WorkbenchError as error:  # added all the same: the server may be down for now
        note = f"its models could not be listed now ({redact(str(error), key)})"
    db.table("endpoints").insert({
        "name": name, "url": url, "models": json.dumps(endpoint.models),
        "key_env": key_env, "keyring": int(key is not None), "created_at": endpoint.created_at})
    return endpoint, note


def remove_endpoint(db: Database, name: str) -> Endpoint:
    """Forget an endpoint and its key in the keyring. Trials and comparisons that used it
    keep their replies (their contenders carry the endpoint's address)."""
    endpoint = get_endpoint(db, name)
    db.execute("DELETE FROM endpoints WHERE name = ?", [endpoint.name])
    if endpoint.keyring:
        delete_key(endpoint.name)
    return endpoint


def is_endpoint_ref(ref: object) -> bool:
    return isinstance(ref, str) and ref.strip().lower().startswith(REF_PREFIX)


def resolve(db: Database, ref: str) -> Target:
    """``endpoint:NAME/MODEL`` (or ``endpoint:NAME`` for its only listed model) as a target;
    one line when the endpoint is unknown or the model cannot be told."""
    text = ref.strip()[len(REF_PREFIX):]
    name, _, model = text.partition("/")
    endpoint = get_endpoint(db, name)
    model = model.strip()
    if not model:
        if len(endpoint.models) != 1:
            listed = ", ".join(endpoint.models[:10]) or "none listed"
            raise InvalidInputError(f"{ref}: name the model, endpoint:{endpoint.name}/MODEL "
                                    f"(it lists: {listed})")
        model = endpoint.models[0]
    return endpoint.target(model)


def remote_model(target: Target) -> Model:
    """The model a target serves, as the library's shape: its path is the target's, no file,
    no hash, no size (nothing about it is here)."""
    return Model(id=0, name=target.shown, path=target.path, file_name=target.model,
                 architecture="", parameters=0, quantization="", context_length=None,
                 has_chat_template=True, license=None, file_size=0, sha256="",
                 source=f"remote: {target.host}", added_at="")


def contacts(db: Database) -> list[dict[str, str]]:
    """Every address Workbench may contact, and when: the privacy page's list."""
    hub = get_setting(db, "hub_endpoint") or os.environ.get("HF_ENDPOINT") or \
        "https://huggingface.co"
    rows = [{"address": str(hub), "when": "only when you search or download models"}]
    for endpoint in list_endpoints(db):
        local = is_loopback_url(endpoint.url)
        rows.append({"address": endpoint.url,
                     "when": f"endpoint {endpoint.name} ({endpoint.shown}): when you use it"
                             + (" (this computer)" if local else "; never while offline")})
    from workbench.mcp.servers import list_servers
    from workbench.workers import list_workers

    for server in list_servers(db):
        if server.transport == "http" and server.url:
            local = is_loopback_url(server.url)
            rows.append({"address": server.url,
                         "when": f"MCP server {server.name}: when a chat uses it"
                                 + (" (this computer)" if local else "; never while offline")})
    for address in list_workers(db):
        local = is_loopback(address.rsplit(":", 1)[0])
        rows.append({"address": address,
                     "when": "worker: when a model is split across it"
                             + (" (this computer)" if local else "; never while offline")})
    return rows


def model_choices(db: Database) -> list[tuple[int | str, str]]:
    """What a model picker offers: each library model as (id, name), then each model each
    endpoint listed as (``endpoint:NAME/MODEL``, ``NAME/MODEL (remote: HOST)``); both kinds
    of reference are taken wherever a model is."""
    from workbench.library import list_models as library_models

    choices: list[tuple[int | str, str]] = [(m.id, m.name) for m in library_models(db)]
    for endpoint in list_endpoints(db):
        for model in endpoint.models:
            choices.append((f"{REF_PREFIX}{endpoint.name}/{model}",
                            endpoint.target(model).shown))
    return choices
