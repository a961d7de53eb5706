"""The settings that shape a model load and a reply, recorded with every reply."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import InvalidInputError
from workbench.settings import max_threads
from workbench.units import reply_metrics

GpuLayers = int | str  # a number, "all" or "auto"

def check_threads(value: Any) -> int | None:
    """``value`` if it is a usable thread count (None: llama.cpp's choice), else an error."""
    if value is None:
        return None
    top = max_threads()
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise InvalidInputError(f"threads {value!r}: must be a whole number from 1 to {top} "
                                "(or unset for llama.cpp's choice)")
    return value


def check_number(name: str, value: Any, low: float, high: float | None = None, *,
                 whole: bool = False, unset: bool = False) -> None:
    """One line unless ``value`` is a finite number (``whole``: an integer) from ``low`` to
    ``high`` (None: unset, where ``unset`` allows it). The one check of a setting's range:
    the CLI, the window, trials and the server all build their settings through the
    dataclasses below, so nan, infinities and negative limits stop here for every one."""
    if value is None and unset:
        return
    kind = "a whole number" if whole else "a number"
    span = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
    fits = not isinstance(value, bool) and isinstance(value, int if whole else (int, float))
    if fits:
        number = float(value)
        fits = math.isfinite(number) and low <= number and (high is None or number <= high)
    if not fits:
        raise InvalidInputError(f"setting {name}={value!r}: must be {kind} {span}"
                                + (" (or unset)" if unset else ""))


@dataclass(frozen=True)
class LoadSettings:
    """What a model is loaded with: a change here means a reload."""

    n_ctx: int = 4096
    n_threads: int | None = None
    gpu_layers: GpuLayers = "auto"
    use_mmap: bool = True
    n_batch: int = 512
    #: Workers (llama.cpp RPC servers, ``HOST:PORT``) the model is split across with this
    #: computer; empty: this computer only (and left out of :meth:`to_dict`, so records
    #: without workers read as before). Resolved from ``workers=all|ADDR,...`` by
    #: :func:`workbench.workers.resolve_workers`.
    workers: tuple[str, ...] = ()
    #: How the layers are split across this computer and the workers
    #: (:mod:`workbench.split_choice`): ``auto`` (by free memory, some here), ``workers``
    #: (every layer on the workers, as ``llama-server --rpc`` does) or proportions
    #: ``1,2,2`` (this computer first). ``auto`` is left out of :meth:`to_dict`.
    split: str = "auto"
    #: The vision projector (mmproj GGUF) paired with the model, opened on the first reply
    #: that carries images (:mod:`workbench.engine.vision`); None: the model cannot see.
    mmproj: str | None = None

    def __post_init__(self) -> None:
        from workbench.engine.rpc import normal_address

        if not isinstance(self.workers, tuple) or not all(
                isinstance(w, str) for w in self.workers):
            raise InvalidInputError(f"setting workers={self.workers!r}: must be addresses")
        for worker in self.workers:
            try:
                normal_address(worker)
            except ValueError as error:
                raise InvalidInputError(f"worker {worker!r}: {error}") from None
        if len(set(self.workers)) != len(self.workers):
            raise InvalidInputError("setting workers: the same worker twice")
        from workbench.split_choice import check_split, parse_split

        object.__setattr__(self, "split", parse_split(self.split))
        check_split(self.split, self.workers)
        check_threads(self.n_threads)
        check_number("n_ctx", self.n_ctx, 1, whole=True)
        check_number("n_batch", self.n_batch, 1, whole=True)
        if not isinstance(self.use_mmap, bool):
            raise InvalidInputError(f"setting use_mmap={self.use_mmap!r}: must be true or "
                                    "false")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        if self.workers:
            values["workers"] = list(self.workers)
        else:
            del values["workers"]
        if self.split == "auto":  # records from before the choice read as before
            del values["split"]
        if self.mmproj is None:  # a model that cannot see reads as it did before images
            del values["mmproj"]
        return values


@dataclass(frozen=True)
class SamplingSettings:
    """What a reply is sampled with: changing these needs no reload."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int | None = 512
    seed: int | None = None
    template: str | None = None  # None or "auto": the file's own, else a family name
    #: A JSON schema (as JSON text) the reply must follow, enforced by llama.cpp's grammar;
    #: ``"{}"`` (the empty schema) allows any JSON value. None: free text.
    json_schema: str | None = None
    #: Tools the model may call (OpenAI's function format, canonical JSON text from
    #: :func:`~workbench.engine.tools.check_tools`) and ``auto``/``none``/``required`` or a
    #: tool's name; None: no tools (and left out of :meth:`to_dict`, so records without tools
    #: read as before).
    tools: str | None = None
    tool_choice: str | None = None
    parallel_tool_calls: bool = True
    #: Speculative decoding (:mod:`workbench.engine.speculative`): the draft model's file (a
    #: library reference is resolved to it by :func:`~workbench.model_settings.runnable`), the
    #: most tokens it drafts at a time, and the least probability a drafted token needs
    #: (llama.cpp's ``--draft-max`` and ``--draft-p-min``). None: no draft (and the three are
    #: left out of :meth:`to_dict`, so records without a draft read as before).
    draft: str | None = None
    draft_max: int = 8
    draft_p_min: float = 0.75

    def __post_init__(self) -> None:
        check_number("temperature", self.temperature, 0)
        check_number("top_p", self.top_p, 0, 1)
        check_number("top_k", self.top_k, 0, whole=True)
        check_number("min_p", self.min_p, 0, 1)
        check_number("repeat_penalty", self.repeat_penalty, 0)
        check_number("max_tokens", self.max_tokens, 1, whole=True, unset=True)
        check_number("seed", self.seed, -(2**63), 2**64 - 1, whole=True, unset=True)
        for name in ("tools", "tool_choice"):  # checked whole by workbench.engine.tools
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise InvalidInputError(f"setting {name}: must be JSON text")
        if not isinstance(self.parallel_tool_calls, bool):
            raise InvalidInputError("setting parallel_tool_calls: must be true or false")
        if self.draft is not None and (not isinstance(self.draft, str) or not self.draft):
            raise InvalidInputError("setting draft: must name a model or a .gguf file")
        check_number("draft_max", self.draft_max, 1, MAX_DRAFT, whole=True)
        check_number("draft_p_min", self.draft_p_min, 0, 1)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        if not self.tools:
            for key in ("tools", "tool_choice", "parallel_tool_calls"):
                del values[key]
        if not self.draft:
            for key in DRAFT_KEYS:
                del values[key]
        return values


#: The settings of speculative decoding (see :class:`SamplingSettings`).
DRAFT_KEYS = ("draft", "draft_max", "draft_p_min")
#: The longest draft: llama.cpp's verify batch grows with it, and past a few dozen tokens a
#: draft is almost never accepted whole.
MAX_DRAFT = 64


#: Presets shown in the window; their values are visible and editable there.
PRESETS: dict[str, SamplingSettings] = {
    "precise": SamplingSettings(temperature=0.1, top_p=0.9, top_k=20, repeat_penalty=1.05),
    "balanced": SamplingSettings(),
    "creative": SamplingSettings(temperature=1.0, top_p=0.98, top_k=100, min_p=0.02),
}


#: The schema that allows any JSON value (``--json``).
ANY_JSON = "{}"

#: Said with a reply constrained to JSON wherever it is shown (chat, History, trials' checks)
#: when the token limit ended it before its JSON was complete. Its finish reason stays
#: ``length`` and its text stays as generated, as OpenAI's API returns such a reply.
JSON_CUT_NOTE = "the JSON was cut at the token limit"


def json_cut_note(finish_reason: str | None, json_schema: Any, text: str) -> str | None:
    """:data:`JSON_CUT_NOTE` when a reply constrained to JSON (``json_schema`` set) ended at
    the token limit inside its JSON; else None.

    The grammar keeps the text the start of a JSON value, so a cut one does not parse. One
    that parses closed exactly at the limit and is complete (only a bare number at the root
    could be cut and still parse; the grammar's objects and arrays cannot)."""
    if finish_reason != "length" or not json_schema:
        return None
    try:
        json.loads(text)
    except ValueError:
        return JSON_CUT_NOTE
    return None


def check_json_schema(value: Any, where: str = "json_schema") -> str | None:
    """``value`` as canonical JSON text if llama.cpp can turn it into a grammar, else a
    one-line error naming ``where``. Stored canonical, so the same schema is one contender.
    The bounds of :mod:`workbench.engine.schema_limits` are checked before the grammar is
    made, so no schema can stall the caller or crash the engine."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from workbench.engine.schema_limits import (
        check_grammar_size,
        check_schema_limits,
        check_schema_size,
    )

    if value is None or value == "":
        return None
    if isinstance(value, str):
        check_schema_size(value, where)
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"{where}: not JSON ({error.msg} at line {error.lineno}, "
                                    f"column {error.colno})") from None
        except (ValueError, RecursionError) as error:  # 4,300+ digits; nested past the stack
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            raise InvalidInputError(f"{where}: not usable JSON ({reason[:120]})") from None
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: a JSON schema must be an object, not "
                                f"{type(value).__name__}")
    check_schema_limits(value, where)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    check_schema_size(text, where)
    try:
        grammar = json_schema_to_gbnf(text)
    except RecursionError:
        raise InvalidInputError(f"{where}: llama.cpp cannot make a grammar of it (its "
                                "references recurse too deeply)") from None
    except KeyError as error:
        raise InvalidInputError(f"{where}: llama.cpp cannot make a grammar of it (a $ref it "
                                f"cannot follow: {str(error)[:120]}; recursive references "
                                "are not supported)") from None
    except Exception as error:  # the converter raises AssertionError/ValueError...
        raise InvalidInputError(f"{where}: llama.cpp cannot make a grammar of it "
                                f"({str(error)[:160] or type(error).__name__})") from None
    check_grammar_size(grammar, where)
    return text


#: The largest schema file read; a real schema is a few kilobytes.
MAX_SCHEMA_FILE = 1 << 20


def read_json_schema(path: str | Path, where: str | None = None) -> str:
    """A schema file's canonical text (what is stored, so a trial reproduces without the
    file); a missing, unreadable or unusable file is one line naming it."""
    where = where or f"schema file {path}"
    try:
        with Path(path).expanduser().open("rb") as stream:
            data = stream.read(MAX_SCHEMA_FILE + 1)
    except OSError as error:
        raise InvalidInputError(f"{where}: cannot read it ({error.strerror or error})") from None
    if len(data) > MAX_SCHEMA_FILE:
        raise InvalidInputError(f"{where}: larger than {MAX_SCHEMA_FILE >> 20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{where}: not UTF-8 text") from None
    if not text.strip():
        raise InvalidInputError(f"{where}: empty")
    checked = check_json_schema(text, where)
    assert checked is not None
    return checked


def schema_value(value: Any, where: str = "json_schema") -> str | None:
    """A ``json_schema`` setting as given on a command line or in a contender: ``any`` (or
    ``json``) for any JSON, the schema itself as JSON text, or a schema file's path; the
    result is always the canonical schema text (or None for free text)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return check_json_schema(value, where)
    text = str(value).strip()
    if text.lower() in ("", "none", "null", "off"):
        return None
    if text.lower() in ("any", "json", "any json"):
        return ANY_JSON
    if text.startswith("{"):
        return check_json_schema(text, where)
    return read_json_schema(text, f"{where} {text}")


def describe_schema(text: str | None) -> str:
    """A schema in a few words, for labels: its title, else a short fingerprint."""
    import hashlib
    import json

    if not text:
        return "off"
    if text == ANY_JSON:
        return "any JSON"
    try:
        title = json.loads(text).get("title")
    except (ValueError, AttributeError):
        title = None
    if isinstance(title, str) and title.strip():
        return f"schema {title.strip()[:40]}"
    return f"schema {hashlib.sha256(text.encode()).hexdigest()[:8]}"


def parse_gpu_layers(value: str | int | None) -> GpuLayers:
    """A GPU-layers value from a command line, a contender or a model's settings: the
    ``gpu_layers`` setting's own definition checks it (one parser for the CLI, the window and
    the engine); unset means ``auto`` and a negative number ``all``, as llama.cpp reads -1."""
    from workbench.settings import definition

    if value is None or value == "":
        return "auto"
    if not isinstance(value, bool) and str(value).strip().lstrip("-").isdigit() \
            and int(str(value).strip()) < 0:
        return "all"
    return definition("gpu_layers").convert(value)


@dataclass
class ReplyStats:
    """Everything measured about one reply. Definitions are in the README (Metrics)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
    prompt_tps: float | None = None
    gen_tps: float | None = None
    load_ms: float | None = None
    peak_rss: int = 0
    total_ms: float = 0.0
    finish_reason: str = ""
    dropped_turns: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    #: Tokens the reply's images took in the context, and the time spent encoding them and
    #: decoding their embeddings (replies with images only; also kept in ``settings``).
    image_tokens: int = 0
    image_ms: float | None = None
    #: What speculative decoding did (:class:`~workbench.engine.speculative.DraftFigures`'
    #: record: drafted, accepted, acceptance, speedup...); None without a draft. Stored in
    #: the reply's settings record as ``speculative``, so no column is needed.
    speculative: dict[str, Any] | None = None

    #: The measured numbers every stored reply keeps in columns of the same names.
    MEASURED = ("prompt_tokens", "completion_tokens", "ttft_ms", "prompt_tps", "gen_tps",
                "load_ms", "peak_rss")

    def measurements(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.MEASURED}

    def timed(self, token_times: list[float], started: float, ended: float) -> None:
        """The figures a reply's token times give (a reply in this process or a cell of a
        batch): tokens, total time, time to the first token, and the generation speed
        (tokens after the first over the time from the first to the last)."""
        self.completion_tokens = len(token_times)
        self.total_ms = (ended - started) * 1000
        if token_times:
            self.ttft_ms = (token_times[0] - started) * 1000
        if len(token_times) > 1 and token_times[-1] > token_times[0]:
            self.gen_tps = (len(token_times) - 1) / (token_times[-1] - token_times[0])

    def summary(self) -> str:
        """The long form of :func:`workbench.units.reply_metrics`: the line the window shows."""
        return reply_metrics({**self.measurements(), "dropped_turns": self.dropped_turns,
                              "image_tokens": self.image_tokens, "image_ms": self.image_ms,
                              "speculative": self.speculative}, self.finish_reason)
