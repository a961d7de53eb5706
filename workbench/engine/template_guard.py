"""Chat templates are code that came with a file: run them within a time and size budget.

Jinja's sandbox stops a template from reaching Python's internals, but not from working
forever or building a string of gigabytes: two nested ``range(100000)`` loops never end and
``'ab ' * 100000000`` takes minutes and 11 GB. This environment keeps the sandbox and adds:

- a **time budget** (:data:`MAX_SECONDS`): checked at every call, attribute lookup, operator
  and ``range`` step, with a watchdog that interrupts loops that touch none of those;
- a **size budget** (:data:`MAX_CHARS`): every way a template can grow a string or a list
  (``*``, ``+``, ``%``, format widths, ``replace``, ``join``, ``center``, ``indent``,
  ``wordwrap``, ``batch``, ``slice``, namespace attributes, macro arguments and the output)
  is checked *before* the work is done where the size can be known, and after it otherwise.

Nothing here knows about models; :mod:`workbench.engine.templates` turns these failures into
one-line errors naming the model.
"""

from __future__ import annotations

import ctypes
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime
from functools import wraps
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import Namespace

#: Longest a template may take to compile or render.
MAX_SECONDS = 2.0
#: Largest string or list a template may build, and the largest prompt it may render.
MAX_CHARS = 2_000_000
#: Longest template source accepted (the largest real ones are about 20,000 characters).
MAX_SOURCE_CHARS = 1_000_000
#: Largest ``tojson`` indent and integer power, which have no size a check could know.
MAX_INDENT = 64
MAX_INT_BITS = 4096

_WIDTH = re.compile(r"%[#0\- +]*(\d+)?(?:\.(\d+))?|\{[^{}]*:([^{}]*)\}")


class TemplateBudgetExceeded(Exception):
    """The template ran out of time or tried to build something too large."""


class TemplateRaised(Exception):
    """The template called ``raise_exception``: its author's own message."""


_deadline: ContextVar[float | None] = ContextVar("template_deadline", default=None)


def _tick() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.perf_counter() > deadline:
        raise TemplateBudgetExceeded(f"took longer than {MAX_SECONDS:g} s")


def _size(count: int, what: str = "a string") -> None:
    if count > MAX_CHARS:
        raise TemplateBudgetExceeded(
            f"tried to build {what} of {count:,} characters or items "
            f"(the limit is {MAX_CHARS:,})"
        )


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple)) else None


def _check_result(value: Any) -> Any:
    length = _sized(value)
    if length is not None:
        _size(length)
    return value


def _check_format(text: str, args: tuple[Any, ...] = ()) -> None:
    """Widths and precisions in a %- or {}-format string, and ``*`` widths given as args."""
    for match in _WIDTH.finditer(text):
        for number in re.findall(r"\d+", "".join(g or "" for g in match.groups())):
            _size(int(number), "a formatted field")
    if "*" in text or "{" in text:
        for arg in args:
            if isinstance(arg, int) and not isinstance(arg, bool):
                _size(abs(arg), "a formatted field")


def _joined_size(separator: str, items: Any) -> None:
    if isinstance(items, (list, tuple)):
        parts = sum(len(item) for item in items if isinstance(item, str))
        _size(parts + len(separator) * max(len(items) - 1, 0))


def _replaced_size(text: str, old: str, new: str, count: int = -1) -> None:
    if len(new) <= len(old):
        return
    hits = text.count(old) if old else len(text) + 1
    if count >= 0:
        hits = min(hits, count)
    _size(len(text) + hits * (len(new) - len(old)))


def _check_str_method(name: str, text: str, args: tuple[Any, ...]) -> None:
    """Worst-case result sizes of the str methods that can grow a string."""
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _size(args[0])
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        _size(len(text) * max(size, 1))
    elif name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
        _replaced_size(text, args[0], args[1], count)
    elif name == "join" and args:
        _joined_size(text, args[0])
    elif name in ("format", "format_map"):
        _check_format(text, args)


class _Range:
    """``range`` as the sandbox bounds it (100,000 items), checking the clock as it runs."""

    def __init__(self, inner: range) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[int]:
        for index, value in enumerate(self._inner):
            if not index & 255:
                _tick()
            yield value

    def __len__(self) -> int:
        return len(self._inner)

    def __getitem__(self, key: Any) -> Any:
        value = self._inner[key]
        return _Range(value) if isinstance(value, range) else value

    def __contains__(self, value: Any) -> bool:
        return value in self._inner

    def __reversed__(self) -> Iterator[int]:
        return iter(_Range(self._inner[::-1]))

    def __repr__(self) -> str:
        return repr(self._inner)


def _range(*args: int) -> _Range:
    return _Range(safe_range(*args))


class _Namespace(Namespace):
    """``namespace()``, whose attributes are checked as a loop grows them."""

    def __setitem__(self, name: str, value: Any) -> None:
        _tick()
        _check_result(value)
        super().__setitem__(name, value)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    """As Transformers renders ``tojson`` in chat templates (not HTML-escaped)."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def _filter_precheck(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Sizes the growing filters will produce, known from their arguments."""
    value = args[0] if args else None
    rest = args[1:]
    text = str(value) if isinstance(value, str) else ""
    if name == "center":
        width = rest[0] if rest else kwargs.get("width", 80)
        if isinstance(width, int):
            _size(width)
    elif name == "indent":
        width = rest[0] if rest else kwargs.get("width", 4)
        step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        _size(len(text) + (text.count("\n") + 1) * step)
    elif name == "wordwrap":
        width = rest[0] if rest else kwargs.get("width", 79)
        wrap = rest[3] if len(rest) > 3 else kwargs.get("wrapstring") or "\n"
        if isinstance(width, int) and isinstance(wrap, str):
            _size(len(text) + (len(text) // max(width, 1) + 1) * len(wrap))
    elif name == "replace":
        old = rest[0] if rest else kwargs.get("old")
        new = rest[1] if len(rest) > 1 else kwargs.get("new")
        count = rest[2] if len(rest) > 2 else kwargs.get("count")
        if isinstance(old, str) and isinstance(new, str):
            _replaced_size(text, old, new, count if isinstance(count, int) else -1)
    elif name == "join":
        separator = rest[0] if rest else kwargs.get("d", "")
        if isinstance(separator, str):
            _joined_size(separator, value)
    elif name == "format":
        _check_format(text, rest)
    elif name in ("batch", "slice"):
        count = rest[0] if rest else kwargs.get("linecount", kwargs.get("slices"))
        if isinstance(count, int):
            _size(count, "a list")
    elif name == "tojson":
        indent = rest[1] if len(rest) > 1 else kwargs.get("indent")
        if isinstance(indent, int) and indent > MAX_INDENT:
            raise TemplateBudgetExceeded(f"asked for a tojson indent of {indent:,} "
                                         f"(the limit is {MAX_INDENT})")


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """The filter with the clock checked, its growth bounded and its result measured.

    ``wraps`` keeps Jinja's pass_context/pass_environment marks, so the filter is called
    with the same arguments; those leading arguments are skipped for the checks."""
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        _filter_precheck(name, args[skip:], kwargs)
        return _check_result(function(*args, **kwargs))

    return guarded


class _GenerationTag(jinja2.ext.Extension):
    """Transformers' ``{% generation %}`` tag (marks assistant text for training): its
    content is rendered as if the tag were not there, as llama-cpp-python does."""

    tags = {"generation"}

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class GuardedEnvironment(ImmutableSandboxedEnvironment):
    """llama-cpp-python's (and Transformers') chat-template environment, on a budget."""

    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self) -> None:
        super().__init__(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_GenerationTag, jinja2.ext.loopcontrols],
        )
        self.globals["range"] = _range
        self.globals["namespace"] = _Namespace
        self.globals.pop("lipsum", None)  # writes n paragraphs of filler: no template needs it
        self.filters["tojson"] = _tojson
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                length = _sized(seq)
                if length is not None and isinstance(times, int):
                    _size(length * max(times, 0))
            if isinstance(left, int) and isinstance(right, int):
                self._check_bits(left.bit_length() + right.bit_length())
        elif operator == "+":
            lengths = (_sized(left), _sized(right))
            if lengths[0] is not None and lengths[1] is not None:
                _size(lengths[0] + lengths[1])
        elif operator == "%" and isinstance(left, str):
            _check_format(left, right if isinstance(right, tuple) else (right,))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            self._check_bits(max(left.bit_length(), 1) * right)
        return _check_result(super().call_binop(context, operator, left, right))

    @staticmethod
    def _check_bits(bits: int) -> None:
        if bits > MAX_INT_BITS:
            raise TemplateBudgetExceeded(f"tried to build a {bits:,}-bit number "
                                         f"(the limit is {MAX_INT_BITS:,})")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        for arg in (*args, *kwargs.values()):
            _check_result(arg)
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(getattr(target, "__name__", ""), owner, args)
        return _check_result(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)


class _Watchdog:
    """Interrupts the calling thread when the budget runs out, even in a loop that calls
    nothing the environment sees (``{% for c in long_string %}``): CPython delivers an
    exception set with ``PyThreadState_SetAsyncExc`` between two bytecodes. A single long C
    call is not interrupted; the size checks are what keep those short."""

    def __init__(self, seconds: float) -> None:
        self._thread = threading.get_ident()
        self._lock = threading.Lock()
        self._done = False
        self._fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _set(self, exception: Any) -> None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread), exception)

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                self._fired = True
                self._set(ctypes.py_object(TemplateBudgetExceeded))

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            fired = self._fired
        if fired:
            self._set(None)  # a pending, undelivered interrupt must not land later


class _Budget:
    """The deadline for the checks and the watchdog, for one compile or render."""

    def __enter__(self) -> None:
        self._token = _deadline.set(time.perf_counter() + MAX_SECONDS)
        # The watchdog fires a little after the deadline, so that the checks, when the
        # template reaches one, stop it first.
        self._watchdog = _Watchdog(MAX_SECONDS + 0.25)
        self._watchdog.__enter__()

    def __exit__(self, *_exc: object) -> None:
        try:
            self._watchdog.__exit__()  # a late interrupt can land in here: still reset
        finally:
            _deadline.reset(self._token)


def _bounded(work: Callable[[], Any]) -> Any:
    try:
        with _Budget():
            return work()
    except TemplateBudgetExceeded as error:
        raise TemplateBudgetExceeded(str(error) or f"took longer than {MAX_SECONDS:g} s") \
            from None
    except RecursionError:
        raise TemplateBudgetExceeded("recursed too deeply") from None
    except MemoryError:
        raise TemplateBudgetExceeded("ran out of memory") from None


def compile_template(source: str) -> jinja2.Template:
    """Parse a template within the budget; syntax errors are jinja2's TemplateSyntaxError."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateBudgetExceeded(f"is {len(source):,} characters long "
                                     f"(the limit is {MAX_SOURCE_CHARS:,})")
    environment = GuardedEnvironment()
    template: jinja2.Template = _bounded(lambda: environment.from_string(source))
    return template


def _raise_exception(message: Any) -> None:
    raise TemplateRaised(str(message))


def _strftime_now(pattern: str) -> str:
    return datetime.now().strftime(str(pattern))


def render_template(template: jinja2.Template, **variables: Any) -> str:
    """Render within the budget, with the helpers chat templates expect
    (``raise_exception``, ``strftime_now``); the output counts against the size budget."""

    def work() -> str:
        pieces: list[str] = []
        length = 0
        for piece in template.generate(raise_exception=_raise_exception,
                                       strftime_now=_strftime_now, **variables):
            length += len(piece)
            _size(length, "a prompt")
            pieces.append(piece)
        return "".join(pieces)

    text: str = _bounded(work)
    return text
