"""Chat templates: the model's own, or the right family's when the file has none.

A GGUF usually carries ``tokenizer.chat_template`` (Jinja, as on the Hub) and we render it in
llama-cpp-python's sandboxed Jinja environment. When the file has none, llama-cpp-python falls
back to the Llama 2 format, which makes a ChatML model such as SmolLM2 talk nonsense, so we pick
the family from the special tokens in the vocabulary, then the architecture and name, and say
which we chose. The user can always override it by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from workbench.errors import InvalidInputError
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


@dataclass
class ChatTemplate:
    """The template a model will be prompted with, and why it was chosen."""

    name: str  # "gguf" for the file's own, else a family name
    source: str  # "file", "override", "vocabulary", "architecture", "default"
    template: str
    stop: tuple[str, ...] = ()
    bos_token: str = ""
    eos_token: str = ""
    _formatter: Any = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        if self.source == "file":
            return "the model's own chat template"
        return f"{self.name} (chosen by {self.source})"

    def render(self, messages: list[dict[str, str]]) -> tuple[str, list[str], bool]:
        """Prompt text, stop strings, and whether the text already holds the BOS token."""
        if self._formatter is None:
            self._formatter = Jinja2ChatFormatter(
                template=self.template,
                eos_token=self.eos_token,
                bos_token=self.bos_token,
                add_generation_prompt=True,
            )
        result = self._formatter(messages=messages)
        stops = list(self.stop)
        if isinstance(result.stop, str):
            stops.append(result.stop)
        elif result.stop:
            stops.extend(result.stop)
        added_bos = bool(self.bos_token) and result.prompt.startswith(self.bos_token)
        return result.prompt, [s for s in dict.fromkeys(stops) if s], added_bos


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
