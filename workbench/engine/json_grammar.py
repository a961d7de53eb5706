"""A JSON schema as the GBNF grammar llama.cpp samples under: the one converter for structured
output and for tool calls.

llama-cpp-python's converter writes JSON strings as ``[^"\\]``, which lets raw control
characters (a newline, a tab) into a string; JSON forbids them, so a reply held to the grammar
could still fail to parse (a forced tool call put ``"}}\n</tool_c:"`` in an argument with a real
newline). llama.cpp's own converter (``common/json-schema-to-grammar.cpp``) keeps them out; the
rule is rewritten here to match it, in one place for every grammar made from a schema.
"""

from __future__ import annotations

import json
from typing import Any

from workbench.engine.schema_limits import check_grammar_size

#: The string character as llama-cpp-python writes it, and as llama.cpp's converter does.
_LOOSE_CHAR = r'char ::= [^"\\]'
_STRICT_CHAR = r'char ::= [^"\\\x7F\x00-\x1F]'


def json_gbnf(schema: dict[str, Any] | str, where: str) -> str:
    """The grammar for ``schema`` (a dict or its JSON text), refused in one line naming
    ``where`` when it would be too large to parse."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    text = schema if isinstance(schema, str) else json.dumps(schema)
    grammar = json_schema_to_gbnf(text).replace(_LOOSE_CHAR, _STRICT_CHAR, 1)
    check_grammar_size(grammar, where)
    return grammar
