"""User settings: one typed definition of each, kept in the database beside the data it governs.

Each :class:`Setting` says its key, what values it allows, its default, and the label, help and
group the window shows. The CLI (``settings KEY VALUE``), the window's dialog and the engine
(through :mod:`workbench.model_settings`) all go through these definitions, so a bad value is
refused when it is set, with the values allowed, and never reaches a model load.

Values are stored as JSON so a setting keeps its type. Reading an unset key gives its default,
so a new setting needs no migration. A stored value that is no longer valid (written by an
older version, or by hand) is not trusted: the default is used and a line is logged. Secrets
(the Hub token) are stored like any setting, only on this machine, and never printed:
``public_settings`` masks them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from workbench.errors import InvalidInputError

log = logging.getLogger(__name__)

#: The groups of the window's Settings dialog, in the order shown.
GROUPS = ("Models", "Performance", "Network and privacy", "Appearance")

#: Words that mean "no value: use the automatic choice" where a setting allows that.
AUTOMATIC_WORDS = ("", "auto", "automatic", "default", "none", "null")


class InvalidSettingError(InvalidInputError):
    """A value given for a setting is outside what the setting allows.

    ``key`` names the setting and ``detail`` says what is wrong without naming it, so the
    window can put the setting's label in front instead of its key.
    """

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"setting '{key}': {detail}")
        self.key = key
        self.detail = detail


@dataclass(frozen=True)
class Setting:
    """One setting: its key, kind of value, default and the words the window shows.

    ``automatic`` is what ``None`` means for settings that may be left unset (the models
    folder, threads, the Hub address, the token); settings without it always have a value.
    """

    key: str
    label: str
    help: str
    group: str
    default: Any
    automatic: str = ""
    secret: bool = False

    def allowed(self) -> str:
        """The values allowed, in words: what an error and the README table say."""
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        """``value`` (text from the command line, or a typed value) as this setting's type;
        raises :class:`InvalidSettingError` naming the allowed values."""
        raise NotImplementedError

    def check(self, value: Any) -> Any:
        """The value to store for ``value``, or :class:`InvalidSettingError`."""
        if value is None or (isinstance(value, str) and value.strip().lower() in
                             AUTOMATIC_WORDS and self.automatic):
            if self.automatic:
                return None
            raise self.refuse(value)
        return self.convert(value)

    def check_stored(self, value: Any) -> Any:
        """A stored value, checked for its type and range only: reading a setting must not
        touch the disk (a folder is checked when it is set, and again where it is used)."""
        return self.check(value)

    def refuse(self, value: Any, reason: str = "") -> InvalidSettingError:
        shown = json.dumps(value) if not isinstance(value, str) else repr(value)
        if self.secret:
            shown = "the value given"
        why = f" ({reason})" if reason else ""
        return InvalidSettingError(self.key, f"{shown} is not allowed{why}; "
                                             f"allowed: {self.allowed_with_automatic()}")

    def allowed_with_automatic(self) -> str:
        text = self.allowed()
        return f"{text}, or auto ({self.automatic})" if self.automatic else text


@dataclass(frozen=True)
class IntegerSetting(Setting):
    minimum: int = 0
    maximum: int = 0
    unit: str = ""

    def allowed(self) -> str:
        return f"a whole number from {self.minimum:,} to {self.maximum:,}"

    def convert(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.refuse(value)
        if isinstance(value, float):
            if not math.isfinite(value) or value != int(value):
                raise self.refuse(value)
            value = int(value)
        if isinstance(value, str):
            try:
                value = int(value.strip().replace("_", ""))
            except ValueError:
                raise self.refuse(value) from None
        if not isinstance(value, int):
            raise self.refuse(value)
        if not self.minimum <= value <= self.maximum:
            raise self.refuse(value, "out of range")
        return value


@dataclass(frozen=True)
class ChoiceSetting(Setting):
    choices: tuple[tuple[str, str], ...] = ()  # (value, what the window shows)

    def allowed(self) -> str:
        return "one of " + ", ".join(value for value, _ in self.choices)

    def convert(self, value: Any) -> str:
        text = str(value).strip().lower() if isinstance(value, str) else None
        for choice, _label in self.choices:
            if text == choice:
                return choice
        raise self.refuse(value)


@dataclass(frozen=True)
class FlagSetting(Setting):
    TRUE = ("true", "yes", "on", "1")
    FALSE = ("false", "no", "off", "0")

    def allowed(self) -> str:
        return "true or false"

    def convert(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if text in self.TRUE:
                return True
            if text in self.FALSE:
                return False
        raise self.refuse(value)


@dataclass(frozen=True)
class GpuLayersSetting(Setting):
    maximum: int = 100_000

    def allowed(self) -> str:
        return "auto, all, or a number of layers from 0"

    def convert(self, value: Any) -> int | str:
        if isinstance(value, bool):
            raise self.refuse(value)
        text = str(value).strip().lower()
        if text in ("auto", "all"):
            return text
        try:
            number = int(text)
        except ValueError:
            raise self.refuse(value) from None
        if not 0 <= number <= self.maximum:
            raise self.refuse(value, "out of range")
        return number


@dataclass(frozen=True)
class FolderSetting(Setting):
    def allowed(self) -> str:
        return "a folder Workbench can write to (created if missing)"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            raise self.refuse(value)
        folder = Path(value.strip()).expanduser().absolute()
        reason = folder_problem(folder)
        if reason:
            raise self.refuse(value, reason)
        return str(folder)

    def check_stored(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            raise self.refuse(value)
        return value


@dataclass(frozen=True)
class UrlSetting(Setting):
    def allowed(self) -> str:
        return "an http:// or https:// address"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.refuse(value)
        text = value.strip().rstrip("/")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:
            raise self.refuse(value) from None
        if parts.scheme not in ("http", "https") or not parts.hostname or any(
                c.isspace() or ord(c) < 32 for c in text):
            raise self.refuse(value)
        return text


@dataclass(frozen=True)
class TokenSetting(Setting):
    def allowed(self) -> str:
        return "an access token (letters, digits and punctuation, no spaces)"

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.refuse(value)
        text = value.strip()
        if not text or len(text) > 4096 or not text.isprintable() or " " in text:
            raise self.refuse(value)
        return text


def normalize_origin(text: str) -> str:
    """A web origin as a browser sends it (``scheme://host[:port]``, lower case, no path),
    or ``*`` (any); raises ValueError for anything else."""
    text = text.strip().rstrip("/")
    if text == "*":
        return text
    parts = urlsplit(text)
    port = parts.port  # raises ValueError on a port that is not a number
    if parts.scheme not in ("http", "https") and not (parts.scheme and parts.netloc) or \
            not parts.hostname or parts.path or parts.query or parts.fragment or \
            parts.username or any(c.isspace() or ord(c) < 32 for c in text):
        raise ValueError(text)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme.lower()}://{host.lower()}" + (f":{port}" if port else "")


def normalize_host(text: str) -> str:
    """A host name or address a client may use for the server (no port, no brackets, lower
    case), or ``*`` (any); raises ValueError for anything else."""
    text = text.strip().lower()
    if text == "*":
        return text
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if not bare or len(bare) > 253 or not bare.isascii() or \
            any(not (c.isalnum() or c in ".-:_") for c in bare):
        raise ValueError(text)
    return bare


def split_names(value: Any) -> list[str]:
    """A list setting's items: a list, or text separated by commas or spaces."""
    if isinstance(value, str):
        return [item for item in value.replace(",", " ").split() if item]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return [item for item in value if item.strip()]
    raise ValueError(value)


@dataclass(frozen=True)
class NameListSetting(Setting):
    """Host names or web origins (``kind``) the local server accepts besides its own,
    stored as one comma-separated text."""

    kind: str = "host"

    def allowed(self) -> str:
        if self.kind == "origin":
            return "web origins such as http://localhost:3000, separated by commas (* for any)"
        return "host names such as mybox.local, separated by commas (* for any)"

    def convert(self, value: Any) -> str | None:
        normalize = normalize_origin if self.kind == "origin" else normalize_host
        try:
            items = [normalize(item) for item in split_names(value)]
        except ValueError:
            raise self.refuse(value) from None
        return ", ".join(dict.fromkeys(items)) or None


def folder_problem(folder: Path) -> str:
    """Why ``folder`` cannot hold models ("" when it can): it is created if missing, then a
    file is written in it and removed, which is the only check that file systems agree on."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except FileExistsError:
        return "a file is in the way"
    except NotADirectoryError:
        return "a file is in the way"
    except OSError as error:
        return error.strerror or type(error).__name__
    return ""


#: llama.cpp's own ceiling (GGML_MAX_N_THREADS); past it, it crashes rather than refuses.
LLAMA_MAX_THREADS = 512


def max_threads() -> int:
    """The most CPU threads a model may be given: 4 per CPU, at least 64, at most llama.cpp's
    512. More threads than CPUs only slow generation down; thousands take minutes to start
    and 100,000 crash llama.cpp, so such a value is refused with the allowed range."""
    return min(LLAMA_MAX_THREADS, max(64, 4 * (os.cpu_count() or 1)))


#: The engine's sampling presets (``workbench.engine.PRESETS``; a test keeps the two equal),
#: named here so that reading a setting never has to load llama.cpp.
PRESET_CHOICES = (("precise", "Precise"), ("balanced", "Balanced"), ("creative", "Creative"))


DEFINITIONS: tuple[Setting, ...] = (
    FolderSetting(
        "models_dir", "Models folder", "Where downloaded models are saved. Models you add "
        "from elsewhere stay where they are.", "Models", None,
        automatic="the models folder inside the data folder"),
    ChoiceSetting(
        "sampling_preset", "Answer style", "How new chats choose their words: precise "
        "sticks to the likeliest words, creative takes more chances. Each chat can change it.",
        "Models", "balanced", choices=PRESET_CHOICES),
    IntegerSetting(
        "min_pass_rate", "Pass bar for recommendations", "A model is recommended by a trial "
        "only if it passes at least this share of the checks (0: no bar).", "Models", 80,
        minimum=0, maximum=100, unit="%"),
    IntegerSetting(
        "threads", "Processor threads", "How many processor threads a model uses. Automatic "
        "leaves one core free, which keeps the computer responsive.", "Performance", None,
        automatic="chosen for this computer", minimum=1, maximum=max_threads()),
    GpuLayersSetting(
        "gpu_layers", "Graphics card use", "How much of a model runs on the graphics card: "
        "automatic (auto) fits what the card's memory allows, whole model (all) puts all of "
        "it there, processor only (0) leaves the card alone; or type a number of layers.",
        "Performance", "auto"),
    IntegerSetting(
        "context_length", "Chat memory (context)", "How much of a conversation a model can keep "
        "in mind, in tokens (about ¾ of a word each). More needs more memory; a model's own "
        "limit is never exceeded.", "Performance", 4096, minimum=256, maximum=1_048_576,
        unit=" tokens"),
    FlagSetting(
        "offline", "Offline mode", "Never connect to the internet. Your models keep "
        "working; searching and downloading are off.", "Network and privacy", False),
    UrlSetting(
        "hub_endpoint", "Model hub address", "Where models are searched and downloaded: "
        "Hugging Face, or a mirror your organisation runs.", "Network and privacy", None,
        automatic="HF_ENDPOINT, else https://huggingface.co"),
    TokenSetting(
        "hub_token", "Hugging Face token", "Needed only for gated or private models. Stored "
        "only on this computer, in the data folder, and never shown.",
        "Network and privacy", None, automatic="no token", secret=True),
    IntegerSetting(
        "server_idle_unload_minutes", "Server: unload after", "The local server frees the "
        "model's memory when no app has asked it anything for this many minutes; the next "
        "request loads it again.", "Performance", 10, minimum=1, maximum=1440, unit=" min"),
    IntegerSetting(
        "server_port", "Server: port", "The port the window's server listens on, on this "
        "computer only (127.0.0.1). The command line takes --port instead.", "Network and "
        "privacy", 8080, minimum=1, maximum=65535),
    FlagSetting(
        "server_keep_history", "Server: keep requests in History", "Save what other apps ask "
        "the local server, and its answers, in History like chats. Off: nothing is kept.",
        "Network and privacy", False),
    NameListSetting(
        "server_allowed_hosts", "Server: other names for it", "Names the local server also "
        "answers to besides 127.0.0.1 and localhost; others are refused, so a web page cannot "
        "reach it under a name of its own.", "Network and privacy", None,
        automatic="only 127.0.0.1, localhost and the address it listens on", kind="host"),
    NameListSetting(
        "server_allowed_origins", "Server: web apps allowed", "Web pages (such as "
        "http://localhost:3000) that may use the local server from your browser. Other pages "
        "are refused.",
        "Network and privacy", None, automatic="no web page", kind="origin"),
    ChoiceSetting(
        "theme", "Theme", "Light, dark, or whatever the system uses.", "Appearance",
        "system", choices=(("system", "Follow the system"), ("light", "Light"),
                           ("dark", "Dark"))),
)
SETTINGS: dict[str, Setting] = {s.key: s for s in DEFINITIONS}
DEFAULTS: dict[str, Any] = {s.key: s.default for s in DEFINITIONS}
SECRET_KEYS = {s.key for s in DEFINITIONS if s.secret}


def definition(key: str) -> Setting:
    try:
        return SETTINGS[key]
    except KeyError:
        raise InvalidSettingError(key, f"unknown (known: {', '.join(SETTINGS)})") from None


def check_value(key: str, value: Any) -> Any:
    """``value`` checked and converted by ``key``'s definition (what would be stored)."""
    return definition(key).check(value)


def _stored(key: str, raw: str) -> Any:
    """A stored value, or the default (with a log line) when it is not valid any more."""
    setting = SETTINGS[key]
    try:
        value = json.loads(raw)
        return setting.check_stored(value) if value is not None or setting.automatic else \
            setting.default
    except (ValueError, InvalidSettingError) as error:
        log.warning("setting %s: the stored value is not valid (%s); using the default %r",
                    key, "hidden" if setting.secret else error, setting.default)
        return setting.default


def get_setting(db: Database, key: str) -> Any:
    definition(key)
    rows = list(db.table("settings").rows_where("key = ?", [key]))
    return _stored(key, rows[0]["value"]) if rows else DEFAULTS[key]


def offline_by_environment() -> bool:
    """``HF_HUB_OFFLINE=1`` (the Hub's own switch): offline whatever the setting says."""
    return (os.environ.get("HF_HUB_OFFLINE") or "").strip().lower() in {"1", "true", "yes", "on"}


def is_offline(db: Database) -> bool:
    """Offline mode: the ``offline`` setting or ``HF_HUB_OFFLINE``. The one test every
    connection out makes (the Hub, remote endpoints, MCP servers over HTTP, RPC workers):
    offline, only this computer may be contacted."""
    return bool(get_setting(db, "offline")) or offline_by_environment()


def set_setting(db: Database, key: str, value: Any) -> Any:
    """Check ``value`` against the definition, store it, and return what was stored."""
    checked = check_value(key, value)
    db.table("settings").upsert({"key": key, "value": json.dumps(checked)}, pk="key")
    return checked


def reset_setting(db: Database, key: str) -> None:
    definition(key)
    db.table("settings").delete_where("key = ?", [key])


def all_settings(db: Database) -> dict[str, Any]:
    values = dict(DEFAULTS)
    for row in db.table("settings").rows:
        if row["key"] in values:
            values[row["key"]] = _stored(row["key"], row["value"])
    return values


def mask(value: Any) -> Any:
    if not value:
        return value
    text = str(value)
    return text[:3] + "…" + "*" * 4 if len(text) > 6 else "*" * 4


def public_settings(db: Database) -> dict[str, Any]:
    """All settings with secrets masked: the only form that is ever shown or logged."""
    return {k: (mask(v) if k in SECRET_KEYS else v) for k, v in all_settings(db).items()}
