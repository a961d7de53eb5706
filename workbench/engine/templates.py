"""Chat templates: the model's own, or the right family's when the file has none.

A GGUF usually carries ``tokenizer.chat_template`` (Jinja, as on the Hub) and we render it in
a sandboxed Jinja environment with a time and size budget (:mod:`.template_guard`), set up as
llama-cpp-python and Transformers set theirs up. When the file has none, llama-cpp-python falls
back to the Llama 2 format, which makes a ChatML model such as SmolLM2 talk nonsense, so we pick
the family from the special tokens in the vocabulary, then the architecture and name, and say
which we chose. The user can always override it by name.

A template is code from the file: every way it can fail (a syntax error, the sandbox's
refusal, its own ``raise_exception``, an empty prompt, the budget) is one :class:`TemplateError`
line naming the model, and a template that refuses or drops the system role gets the system
prompt folded into the first user message instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import SecurityError

from workbench.engine.template_guard import (
    TemplateBudgetExceeded,
    TemplateRaised,
    compile_template,
    render_template,
)
from workbench.errors import InvalidInputError, TemplateError
from workbench.gguf_header import GGUFHeader


@dataclass(frozen=True)
class Family:
    name: str
    template: str
    stop: tuple[str, ...] = ()
    #: Vocabulary tokens that identify the family (all must be present).
    markers: tuple[str, ...] = ()


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "chatml",
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
            ("<|im_end|>",),
            ("<|im_start|>", "<|im_end|>"),
        ),
        Family(
            "llama-3",
            "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}"
            "<|end_header_id|>\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}"
            "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n"
            "{% endif %}",
            ("<|eot_id|>",),
            ("<|start_header_id|>", "<|eot_id|>"),
        ),
        Family(
            "gemma",
            "{{ bos_token }}{% set sys = namespace(text='') %}{% for m in messages %}"
            "{% if m.role == 'system' %}{% set sys.text = m.content + '\n\n' %}{% else %}"
            "<start_of_turn>{{ 'model' if m.role == 'assistant' else 'user' }}\n"
            "{% if m.role == 'user' %}{{ sys.text }}{% set sys.text = '' %}{% endif %}"
            "{{ m.content | trim }}<end_of_turn>\n{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}",
            ("<end_of_turn>",),
            ("<start_of_turn>", "<end_of_turn>"),
        ),
        Family(
            "phi-3",
            "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
            ("<|end|>",),
            ("<|user|>", "<|end|>", "<|assistant|>"),
        ),
        Family(
            "zephyr",
            "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n"
            "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
            ("</s>",),
            ("<|user|>", "<|assistant|>"),
        ),
        Family(
            "mistral",
            "{{ bos_token }}{% set sys = namespace(text='') %}{% for m in messages %}"
            "{% if m.role == 'system' %}{% set sys.text = m.content + '\n\n' %}"
            "{% elif m.role == 'user' %}[INST] {{ sys.text }}{{ m.content }} [/INST]"
            "{% set sys.text = '' %}{% else %}{{ m.content }}{{ eos_token }}{% endif %}"
            "{% endfor %}",
            (),
            ("[INST]", "[/INST]"),
        ),
        Family(
            "llama-2",
            "{% set sys = namespace(text='') %}{% for m in messages %}"
            "{% if m.role == 'system' %}{% set sys.text = '<<SYS>>\n' + m.content + "
            "'\n<</SYS>>\n\n' %}{% elif m.role == 'user' %}{{ bos_token }}[INST] {{ sys.text }}"
            "{{ m.content | trim }} [/INST]{% set sys.text = '' %}{% else %} "
            "{{ m.content | trim }} {{ eos_token }}{% endif %}{% endfor %}",
            (),
        ),
        # No chat template: the text as it is (the server's /v1/completions, base models).
        Family("raw", "{% for m in messages %}{{ m.content }}{% endfor %}", ()),
    )
}

#: Architecture or name fragments, checked in order, when the vocabulary gives no clue.
_BY_NAME: tuple[tuple[str, str], ...] = (
    ("gemma", "gemma"),
    ("llama-3", "llama-3"),
    ("llama3", "llama-3"),
    ("phi3", "phi-3"),
    ("phi-3", "phi-3"),
    ("mistral", "mistral"),
    ("mixtral", "mistral"),
    ("qwen", "chatml"),
    ("smollm", "chatml"),
    ("llama", "llama-2"),
)
DEFAULT_FAMILY = "chatml"


#: Recorded in a reply's settings when the system prompt had to be folded.
FOLDED_NOTE = "system prompt folded into the first user message"


@dataclass
class Rendered:
    """A conversation as the model will read it."""

    prompt: str
    stops: list[str]
    added_bos: bool  # the text already starts with the BOS token
    folded: bool  # the system prompt was folded into the first user message


@dataclass
class ChatTemplate:
    """The template a model will be prompted with, and why it was chosen."""

    name: str  # "gguf" for the file's own, else a family name
    source: str  # "file", "override", "vocabulary", "architecture", "default"
    template: str
    stop: tuple[str, ...] = ()
    bos_token: str = ""
    eos_token: str = ""
    #: Named in error messages (the caller sets it: the template does not know its model).
    model: str = "model"
    _compiled: Any = field(default=None, repr=False, compare=False)
    #: Whether this template needs the system prompt folded; decided at the first render.
    _fold: bool | None = field(default=None, repr=False, compare=False)
    _tools: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        if self.source == "file":
            return "the model's own chat template"
        return f"{self.name} (chosen by {self.source})"

    def render(self, messages: list[dict[str, Any]],
               tools: list[dict[str, Any]] | None = None) -> Rendered:
        """Render the conversation; raises TemplateError with one line naming the model.

        When the template refuses a system message (Gemma 2 raises "System role not
        supported", Mistral's role check trips) or drops it (Phi-3 and Orion render nothing
        for it), the system prompt is folded into the first user message, as llama.cpp does,
        so a system prompt always reaches the model. ``tools`` is the template's ``tools``
        variable (Hugging Face's convention; see :mod:`.tools`)."""
        self._tools = tools
        system = messages[0] if messages and messages[0]["role"] == "system" else None
        if system is None or not system["content"].strip():
            return self._rendered([m for m in messages if m is not system], folded=False)
        if self._fold is None:
            self._fold = self._needs_folding(messages)
        if self._fold:
            return self._rendered(fold_system_prompt(messages), folded=True)
        return self._rendered(messages, folded=False)

    def _needs_folding(self, messages: list[dict[str, str]]) -> bool:
        try:
            with_system = self._render_text(messages)
        except _TemplateFailed as failure:
            if failure.budget:
                raise self._error(failure) from None
            try:
                self._render_text(fold_system_prompt(messages))
            except _TemplateFailed:
                raise self._error(failure) from None  # the first reason is the clearer one
            return True
        try:
            without = self._render_text(messages[1:])
        except _TemplateFailed:
            return False  # it renders only with a system message: it uses it
        return with_system == without

    def _rendered(self, messages: list[dict[str, str]], *, folded: bool) -> Rendered:
        try:
            prompt = self._render_text(messages)
        except _TemplateFailed as failure:
            raise self._error(failure) from None
        if not prompt.strip():
            raise TemplateError(f"{self.model}: {self.describe()} rendered an empty prompt")
        stops = [*self.stop, self.eos_token]
        added_bos = bool(self.bos_token) and prompt.startswith(self.bos_token)
        return Rendered(prompt, [s for s in dict.fromkeys(stops) if s], added_bos, folded)

    def _render_text(self, messages: list[dict[str, str]]) -> str:
        """The template's text for these messages; every failure is a _TemplateFailed."""
        try:
            if self._compiled is None:
                self._compiled = compile_template(self.template)
            extra = {"tools": self._tools} if self._tools else {}
            return render_template(self._compiled, messages=messages,
                                   eos_token=self.eos_token, bos_token=self.bos_token,
                                   add_generation_prompt=True, **extra)
        except TemplateBudgetExceeded as error:
            raise _TemplateFailed(str(error), budget=True) from None
        except TemplateRaised as error:
            raise _TemplateFailed(f"refused the conversation: {error}") from None
        except jinja2.TemplateSyntaxError as error:
            raise _TemplateFailed(f"is not valid Jinja (line {error.lineno}: "
                                  f"{error.message})") from None
        except SecurityError as error:
            raise _TemplateFailed(f"did something the sandbox forbids ({error})") from None
        except Exception as error:  # any failure: the template is code from the file
            reason = str(error) or type(error).__name__
            raise _TemplateFailed(f"failed ({type(error).__name__}: {reason})") from None

    def _error(self, failure: _TemplateFailed) -> TemplateError:
        text = " ".join(str(failure).split())  # one line, whatever the template raised
        if len(text) > 300:
            text = text[:297] + "..."
        return TemplateError(f"{self.model}: {self.describe()} {text}")


class _TemplateFailed(Exception):
    def __init__(self, reason: str, *, budget: bool = False) -> None:
        super().__init__(reason)
        self.budget = budget


def fold_system_prompt(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The system prompt moved to the start of the first user message, joined with one
    newline as llama.cpp joins it (``system_message_not_supported`` in its common/chat.cpp,
    and minja's polyfill), so a folded prompt reads the same in both; with no user message
    it becomes one."""
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    for message in rest:
        if message["role"] == "user":
            content = message["content"]
            message["content"] = f"{system}\n{content}" if content else system
            return rest
    return [{"role": "user", "content": system}, *rest]


def family_names() -> list[str]:
    return list(FAMILIES)


def guess_family(header: GGUFHeader) -> tuple[str, str]:
    """(family, how it was chosen) for a file that carries no chat template."""
    tokens = header.get("tokenizer.ggml.tokens")
    if isinstance(tokens, list):
        vocabulary = set(tokens)
        for family in FAMILIES.values():
            if family.markers and all(m in vocabulary for m in family.markers):
                return family.name, "vocabulary"
    text = " ".join(
        str(header.get(key, "")) for key in ("general.architecture", "general.name",
                                             "general.basename", "general.finetune")
    ).lower()
    for fragment, family_name in _BY_NAME:
        if fragment in text:
            return family_name, "architecture"
    return DEFAULT_FAMILY, "default"


def choose_template(
    header: GGUFHeader, *, override: str | None, bos_token: str, eos_token: str
) -> ChatTemplate:
    """The file's template unless overridden; else the family guessed from the header.

    ``header`` must have been read with ``keep_arrays=["tokenizer.ggml.tokens"]`` for the
    vocabulary check to work.
    """
    if override and override not in ("auto", "gguf"):
        if override not in FAMILIES:
            raise InvalidInputError(
                f"template '{override}': unknown (choose from gguf, {', '.join(FAMILIES)})"
            )
        family, source = FAMILIES[override], "override"
    elif header.chat_template:
        return ChatTemplate("gguf", "file", header.chat_template, (eos_token,) if eos_token
                            else (), bos_token, eos_token)
    else:
        name, source = guess_family(header)
        family = FAMILIES[name]
    return ChatTemplate(family.name, source, family.template, family.stop, bos_token, eos_token)


_defer_lock = threading.Lock()
_defer_depth = 0
_original_formatter: Any = None


@contextmanager
def file_templates_deferred() -> Iterator[None]:
    """Keep llama-cpp-python from compiling the file's chat templates while a model loads.

    ``Llama()`` compiles every ``tokenizer.chat_template*`` in the file for its own chat
    handlers, which Workbench never uses (it renders with :class:`ChatTemplate`). That compile
    is unguarded: a syntax error fails the load even with ``--template chatml``, and Jinja
    folds constants while compiling, so ``{{ 'ab ' * 100000000 }}`` took minutes and 11 GB
    before the model was even loaded. While this is active, those handlers compile only if
    they are ever called."""
    global _defer_depth, _original_formatter
    from llama_cpp import llama_chat_format

    with _defer_lock:
        if _defer_depth == 0:
            _original_formatter = llama_chat_format.Jinja2ChatFormatter
            llama_chat_format.Jinja2ChatFormatter = _deferred_class(  # type: ignore[misc]
                _original_formatter)
        _defer_depth += 1
    try:
        yield
    finally:
        with _defer_lock:
            _defer_depth -= 1
            if _defer_depth == 0:
                llama_chat_format.Jinja2ChatFormatter = (  # type: ignore[misc]
                    _original_formatter)


def _deferred_class(original: Any) -> Any:
    class DeferredFormatter(original):
        """llama-cpp-python's formatter, compiled at its first use instead of at load."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._deferred: tuple[Any, Any] | None = (args, kwargs)

        def __call__(self, **kwargs: Any) -> Any:
            if self._deferred is not None:
                args, init_kwargs = self._deferred
                self._deferred = None
                original.__init__(self, *args, **init_kwargs)
            return original.__call__(self, **kwargs)

    return DeferredFormatter
