"""Which files in the library are quantizations of one model.

Files of one model share the architecture, the parameter count (quantizing changes the bits
per weight, never the number of weights) and a name once its quantization label is taken
out ("SmolLM2-135M-Instruct.Q4_K_M" and "SmolLM2-135M-Instruct-Q8_0"). The vocabulary is
checked when a comparison starts (:func:`workbench.quant.compare.check_vocabularies`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workbench.library import Model

#: llama.cpp's file-type names and the usual float ones, as they appear in file names.
_QUANT = re.compile(
    r"[-_. ]?(?:i?q[0-9]_[0-9a-z_]+|i?q[0-9]_?[a-z]*|f16|f32|bf16|fp16|fp32|mxfp4)"
    r"(?:[-_. ]?imatrix)?$", re.IGNORECASE)


def stem(model: Model, *, lower: bool = True) -> str:
    """The file's name without its quantization label and extension; lowered and with one
    kind of separator, it is the key ("Llama-3.2-1B" and "llama_3.2_1b" are one model)."""
    name = model.file_name or model.name
    name = re.sub(r"(-\d{5}-of-\d{5})?\.gguf$", "", name, flags=re.IGNORECASE)
    previous = None
    while previous != name:  # "x.Q4_K_M-imatrix" and stacked labels
        previous, name = name, _QUANT.sub("", name)
    if not lower:  # for display: as the file spells it
        return name.strip("-_. ")
    return re.sub(r"[-_. ]+", "-", name).strip("-").lower()


@dataclass
class QuantGroup:
    """One model's files in the library, largest first (the usual reference)."""

    name: str
    architecture: str
    parameters: int
    models: list[Model] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.architecture}/{self.parameters}/{self.name.lower()}"

    def label(self) -> str:
        count = len(self.models)
        return f"{self.name} ({count} file{'s' * (count != 1)})"


def quant_groups(models: list[Model]) -> list[QuantGroup]:
    """Groups with two files or more first (those can be compared), then by name."""
    groups: dict[tuple[str, int, str], QuantGroup] = {}
    for model in models:
        key = (model.architecture, model.parameters, stem(model))
        group = groups.setdefault(key, QuantGroup(stem(model, lower=False), key[0], key[1]))
        group.models.append(model)
    for group in groups.values():
        group.models.sort(key=lambda m: (-m.file_size, m.id))
    return sorted(groups.values(), key=lambda g: (len(g.models) < 2, g.name, g.parameters))
