"""Tools a model may call: checked once, rendered into its prompt, and the grammar that
makes a forced call parse.

Tools come in OpenAI's function format (``{"type": "function", "function": {"name",
"description", "parameters"}}``) and are kept as canonical JSON text on
:class:`~workbench.engine.settings.SamplingSettings` (``tools``), like ``json_schema``, so they
cross to the engine process and into a reply's record unchanged. Every parameters schema
goes through the same bounds as structured output (:mod:`.schema_limits`, then llama.cpp's
grammar converter) and through ``jsonschema``'s own check, so a schema that is invalid,
recursive or huge is refused in one line naming the tool before anything runs.

How a model is prompted follows llama.cpp's ``common/chat.cpp``: a template that uses the
``tools`` variable renders them itself (Hugging Face's convention); one that knows no tools
gets the *generic* treatment: the tools and the answer's shape described in the system
message, and the answer a JSON object choosing a tool call or a reply, held to that shape
by a grammar. With ``tool_choice`` ``required`` or a named tool, a grammar in the model's
own call syntax makes the call parse and its arguments validate. llama.cpp binds that
grammar lazily (``llama_sampler_init_grammar_lazy_patterns``: free text until a call
begins); Workbench does the same through that binding for ``auto`` in the Hermes, Mistral
and Granite syntaxes (:meth:`ToolPlan.lazy_grammar`); a forced call gets the grammar from
the first token; other syntaxes under ``auto`` are free text, read by :mod:`.tool_parse`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from workbench.errors import InvalidInputError

#: The most tools one request may offer (OpenAI's own limit is 128).
MAX_TOOLS = 128
#: The most tool calls read from one reply.
MAX_CALLS = 16
#: The most characters of one tool's description.
MAX_DESCRIPTION = 8_000
#: The most characters of one tool result given to the model; the rest is cut with a note
#: (a 50 MB result must not become a 50 MB prompt).
MAX_RESULT_CHARS = 200_000
#: The most model steps of a tool loop before it stops with :data:`STEPS_LINE`.
MAX_STEPS = 8
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CHOICES = ("auto", "none", "required")

#: llama.cpp's generic instruction for templates that know no tools.
GENERIC_INSTRUCTION = ("Respond in JSON format, either with `tool_call` (a request to call "
                       "tools) or with `response` reply to the user's request")


def check_tools(value: Any, where: str = "tools") -> str | None:
    """``value`` (a list, or its JSON text) as canonical JSON text, or a one-line
    :class:`InvalidInputError` naming the tool and what is wrong."""
    from workbench.engine.settings import check_json_schema

    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        if len(value) > 4 * MAX_TOOLS * 256_000:
            raise InvalidInputError(f"{where}: too large")
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise InvalidInputError(f"{where}: not JSON") from None
    if not isinstance(value, list):
        raise InvalidInputError(f"{where}: must be a list of tools")
    if len(value) > MAX_TOOLS:
        raise InvalidInputError(f"{where}: {len(value):,} tools; at most {MAX_TOOLS}")
    tools, names = [], set()
    for index, tool in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or \
                not isinstance(tool.get("function"), dict):
            raise InvalidInputError(f"{here}: must be {{\"type\": \"function\", "
                                    "\"function\": {...}}")
        function = tool["function"]
        name = function.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInputError(f"{here}.function.name: 1 to 64 letters, digits, _ . or -")
        if name in names:
            raise InvalidInputError(f"{here}.function.name: '{name}' is offered twice")
        names.add(name)
        description = function.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidInputError(f"{here}.function.description: text of at most "
                                    f"{MAX_DESCRIPTION:,} characters")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        schema_where = f"{here}.function.parameters ({name})"
        if not isinstance(parameters, dict):
            raise InvalidInputError(f"{schema_where}: must be a JSON schema object")
        _check_with_jsonschema(parameters, schema_where)
        text = check_json_schema(parameters, schema_where)
        entry: dict[str, Any] = {"name": name, "parameters": json.loads(text or "{}")}
        if description:
            entry["description"] = description
        tools.append({"type": "function", "function": entry})
    return json.dumps(tools, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_with_jsonschema(schema: dict[str, Any], where: str) -> None:
    import jsonschema

    from workbench.engine.schema_limits import check_schema_limits

    check_schema_limits(schema, where)  # before jsonschema walks it (depth, references)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        raise InvalidInputError(f"{where}: not a valid JSON schema "
                                f"({error.message[:160]})") from None
    except RecursionError:
        raise InvalidInputError(f"{where}: its references recurse") from None


def check_tool_choice(value: Any, tools: str | None, where: str = "tool_choice") -> str | None:
    """``auto``, ``none``, ``required`` or a tool's name; OpenAI's object form
    ``{"type": "function", "function": {"name": ...}}`` becomes the name."""
    if value is None:
        return None
    if isinstance(value, dict):
        function = value.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if value.get("type") != "function" or not isinstance(name, str):
            raise InvalidInputError(f"{where}: must be auto, none, required or "
                                    "{\"type\": \"function\", \"function\": {\"name\": ...}}")
        value = name
    if not isinstance(value, str):
        raise InvalidInputError(f"{where}: must be auto, none, required or a tool's name")
    if value in CHOICES:
        if value == "required" and not tools:
            raise InvalidInputError(f"{where}: required needs tools")
        return value
    if value not in tool_names(tools):
        raise InvalidInputError(f"{where}: '{value[:64]}' is not one of the tools offered")
    return value


def tool_list(tools: str | None) -> list[dict[str, Any]]:
    return json.loads(tools) if tools else []


def tool_names(tools: str | None) -> list[str]:
    return [t["function"]["name"] for t in tool_list(tools)]


def parameters_of(tools: str | None) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"]["parameters"] for t in tool_list(tools)}


def argument_problem(schema: dict[str, Any], arguments: Any) -> str | None:
    """Why ``arguments`` do not follow the tool's schema, in one line; None when they do."""
    import jsonschema

    if not isinstance(arguments, dict):
        return "the arguments are not a JSON object"
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    if error is None:
        return None
    place = "/".join(str(p) for p in error.absolute_path) or "the arguments"
    return f"{place}: {error.message[:160]}"


# --- how the model is prompted ------------------------------------------------------------

#: The call syntaxes recognised in a template, checked in order (llama.cpp's detection in
#: ``common_chat_templates_apply_jinja``: the marker a family's template writes).
_FORMATS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("harmony", ("<|channel|>",)),
    ("qwen3-coder", ("<function=", "<parameter=")),
    ("hermes", ("<tool_call>",)),
    ("granite", ("<|tool_call|>",)),
    ("mistral", ("[TOOL_CALLS]",)),
    ("llama3", ("<|start_header_id|>", "ipython")),
    ("llama3", ("<|python_tag|>",)),
)


def detect_format(template: str) -> str:
    """The call syntax a chat template's source teaches its model; ``generic`` when the
    template never uses ``tools`` (llama.cpp's generic format)."""
    if "tools" not in template:
        return "generic"
    for name, markers in _FORMATS:
        if all(marker in template for marker in markers):
            return name
    if "tool_calls" in template and "[" in template and "(" in template and \
            "python" in template.lower():
        return "pythonic"
    return "generic"


@dataclass(frozen=True)
class ToolPlan:
    """How one reply offers its tools: the syntax, the messages as the template will see
    them, and the grammar (GBNF) when the output must be held to a call."""

    format: str
    tools: list[dict[str, Any]]
    choice: str
    parallel: bool = True

    @property
    def active(self) -> bool:
        return bool(self.tools) and self.choice != "none"

    def template_tools(self) -> list[dict[str, Any]] | None:
        """The ``tools`` variable the template renders (None for the generic format and for
        ``none``: the template then writes no tool prompt at all)."""
        return self.tools if self.active and self.format != "generic" else None

    def messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The conversation as the template should see it: calls' arguments as objects
        (Hugging Face templates write ``arguments | tojson``); for the generic format, calls
        and results written as the JSON the model is asked for, and the tools in the system
        message (llama.cpp's ``common_chat_template::add_system``)."""
        shaped = [_shaped(m, generic=self.format == "generic") for m in messages]
        if not self.active or self.format != "generic":
            return shaped
        text = ("You can call any of the following tools to satisfy the user's requests: "
                + json.dumps(self.tools, indent=2, ensure_ascii=False) + "\n\n"
                + GENERIC_INSTRUCTION)
        if shaped and shaped[0]["role"] == "system":
            return [{**shaped[0], "content": f"{shaped[0]['content']}\n\n{text}"}, *shaped[1:]]
        return [{"role": "system", "content": text}, *shaped]

    def grammar(self) -> str | None:
        """GBNF for the whole reply: always for the generic format (llama.cpp does the same),
        and for a forced call in the model's own syntax; None when free."""
        if not self.active:
            return None
        forced = self.choice != "auto"
        if self.format != "generic":
            return self._call_grammar() if forced else None
        call = self._call()
        if self.parallel:
            calls = {"type": "object", "properties": {"tool_calls": {
                "type": "array", "items": call, "minItems": 1}}, "required": ["tool_calls"]}
        else:
            calls = {"type": "object", "properties": {"tool_call": call},
                     "required": ["tool_call"]}
        schema = calls if forced else {"anyOf": [calls, {
            "type": "object", "properties": {"response": {"type": "string"}},
            "required": ["response"]}]}
        return _gbnf(schema)

    def lazy_grammar(self) -> tuple[str | None, tuple[str, ...]]:
        """With ``auto``: the call grammar and the trigger that binds it once a call has
        begun (llama.cpp's ``llama_sampler_init_grammar_lazy_patterns``; the pattern is
        llama.cpp's own ``^[\\s\\S]*?(WORD)[\\s\\S]*``), so text stays free and a call the
        model starts always parses and validates. ``(None, ())`` when not applicable."""
        trigger = _TRIGGERS.get(self.format)
        if not self.active or self.choice != "auto" or trigger is None:
            return None, ()
        return self._call_grammar(), (trigger,)

    def _call(self) -> dict[str, Any]:
        """The JSON schema of one call: a chosen tool's name and its arguments."""
        chosen = [t for t in self.tools if self.choice in CHOICES
                  or t["function"]["name"] == self.choice]
        key = "parameters" if self.format == "llama3" else "arguments"
        return {"anyOf": [_call_schema(t, key) for t in chosen]} if len(chosen) > 1 \
            else _call_schema(chosen[0], key)

    def _call_grammar(self) -> str:
        call = self._call()
        wrap = {"hermes": ('"<tool_call>\\n"', '"\\n</tool_call>"', '"\\n"'),
                "mistral": ('"[TOOL_CALLS]["', '"]"', '", "'),
                "granite": ('"<|tool_call|>["', '"]"', '", "'),
                "llama3": ('""', '""', '"; "')}.get(self.format)
        if wrap is None:  # a syntax this slice cannot constrain: the generic JSON call
            return _gbnf(call)
        body = _gbnf(call).replace("root ::=", "tool-call ::=", 1)
        head, tail, between = wrap
        if self.format in ("hermes",):
            one = f"{head} tool-call {tail}"
            rule = f"root ::= {one} ({between} {one})*" if self.parallel else f"root ::= {one}"
        else:
            more = f"({between} tool-call)*" if self.parallel else ""
            rule = f"root ::= {head} tool-call {more} {tail}"
        return rule + "\n" + body


#: Where a call begins, per syntax (llama.cpp's grammar triggers for these formats).
_TRIGGERS = {"hermes": r"^[\s\S]*?(<tool_call>)[\s\S]*",
             "mistral": r"^[\s\S]*?(\[TOOL_CALLS\])[\s\S]*",
             "granite": r"^[\s\S]*?(<\|tool_call\|>)[\s\S]*"}


def _call_schema(tool: dict[str, Any], key: str = "arguments") -> dict[str, Any]:
    function = tool["function"]
    return {"type": "object", "properties": {"name": {"const": function["name"]},
                                             key: function["parameters"]},
            "required": ["name", key]}


def _gbnf(schema: dict[str, Any]) -> str:
    from workbench.engine.json_grammar import json_gbnf

    return json_gbnf(schema, "tools")


def bounded_result(text: str) -> str:
    """A tool result as the model will read it: at most :data:`MAX_RESULT_CHARS`."""
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return (text[:MAX_RESULT_CHARS] + f"\n[the result was cut: {len(text) - MAX_RESULT_CHARS:,}"
            " more characters]")


def _shaped(message: dict[str, Any], *, generic: bool) -> dict[str, Any]:
    calls = message.get("tool_calls")
    if message.get("role") == "tool":
        message = {**message, "content": bounded_result(str(message.get("content") or ""))}
    if message.get("role") == "tool" and generic:
        result = {"tool_response": {"tool": message.get("name", ""),
                                    "content": message.get("content", "")}}
        return {"role": "user", "content": json.dumps(result, ensure_ascii=False)}
    if not calls:
        return message
    objects = [{"id": c.get("id", ""), "type": "function", "function": {
        "name": c["function"]["name"], "arguments": _as_object(c["function"]["arguments"])}}
        for c in calls]
    if generic:
        written = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                   for c in objects]
        content = json.dumps({"tool_calls": written}, ensure_ascii=False)
        return {"role": "assistant", "content": content}
    return {**message, "content": message.get("content") or "", "tool_calls": objects}


def _as_object(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def plan_for(template_source: str, tools: str | None, choice: str | None,
             parallel: bool = True) -> ToolPlan | None:
    """The plan for a reply, or None when no tools are offered."""
    if not tools:
        return None
    if choice and choice not in CHOICES and choice not in tool_names(tools):
        raise InvalidInputError(f"tool_choice: '{choice[:64]}' is not one of the tools offered")
    return ToolPlan(detect_format(template_source), tool_list(tools), choice or "auto",
                    parallel)
