"""OpenAI's request and error shapes: read a body into what the engine needs, or say why not.

Fields the engine has no use for (``user``, ``logit_bias``…) are ignored, as other local
servers do, so that ordinary clients work; a field that would change the answer and is not
supported (``functions``, ``best_of``, ``suffix``, ``top_logprobs``…) is a 400
naming it rather than silently dropped, and a field that is there but wrong is a 400 that
names it (``param``), in OpenAI's error shape. A body is bounded before it is read into
messages: its nesting, its numbers (Python's 4,300-digit limit), lone surrogates, the number
of messages and their characters in all.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.settings import ANY_JSON, check_json_schema
from workbench.errors import InvalidInputError

MAX_BODY_BYTES = 16 << 20
MAX_STOPS = 4
#: The deepest nesting of a request body (a real one is under 10; a response_format schema
#: has its own, smaller bound).
MAX_BODY_DEPTH = 64
#: The most messages one chat request may hold.
MAX_MESSAGES = 10_000
#: The most characters of text a request's messages (or prompt) hold in all: more than the
#: largest context (about 1M tokens) can take, and little enough to tokenize in a second.
MAX_PROMPT_CHARS = 4_000_000
#: A model is named by an ASCII library id, a name or an alias; nothing longer than this.
MAX_MODEL_CHARS = 256
ROLES = ("system", "user", "assistant", "developer", "tool")


class APIError(Exception):
    """An answer in OpenAI's error shape: ``{"error": {message, type, param, code}}``."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def bad(message: str, param: str | None = None) -> APIError:
    return APIError(400, message, param=param, code="invalid_value" if param else None)


@dataclass
class GenerationRequest:
    """What a chat or completion request asks for, checked."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    #: Sampling values the request sets (on top of the alias's and the model's).
    sampling: dict[str, Any] = field(default_factory=dict)
    stop: list[str] = field(default_factory=list)
    raw_prompt: bool = False  # /v1/completions: the text as it is, no chat template


def parse_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; anything else (not JSON, nested past the bound, a number of
    more than 4,300 digits, a lone surrogate in a text) is a 400 in one line."""
    if len(raw) > MAX_BODY_BYTES:
        raise APIError(413, f"request body: larger than {MAX_BODY_BYTES >> 20} MiB")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise bad(f"request body: not JSON ({error})") from None
    except RecursionError:
        raise bad(f"request body: nested more than {MAX_BODY_DEPTH} deep") from None
    except ValueError as error:  # a number past Python's 4,300-digit limit
        raise bad(f"request body: a number is too long ({str(error)[:80]})") from None
    if not isinstance(body, dict):
        raise bad("request body: must be a JSON object")
    _check_tree(body)
    return body


def _check_tree(body: dict[str, Any]) -> None:
    """Every text in the body is real Unicode (a lone surrogate such as ``\\ud800`` cannot
    be stored or tokenized) and the body is nested at most :data:`MAX_BODY_DEPTH` deep;
    iterative, so nothing here can recurse too deep."""
    stack: list[tuple[Any, int, str | None]] = [(body, 1, None)]
    while stack:
        node, depth, field_name = stack.pop()
        if depth > MAX_BODY_DEPTH:
            raise bad(f"request body: nested more than {MAX_BODY_DEPTH} deep", field_name)
        if isinstance(node, dict):
            for key, value in node.items():
                name = field_name or key
                _check_text(key, name)
                if isinstance(value, str):
                    _check_text(value, name)
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1, name))
        elif isinstance(node, list):
            for value in node:
                if isinstance(value, str):
                    _check_text(value, field_name)
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1, field_name))


def _check_text(text: str, field_name: str | None) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise bad(f"{field_name or 'request body'}: a text holds a lone surrogate (not valid "
                  "Unicode)", field_name) from None


def check_model_name(value: Any, param: str = "model") -> str:
    """The model a request names: text of at most :data:`MAX_MODEL_CHARS` characters."""
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{param}: required (a library id, a model name or an alias)", param)
    if len(value) > MAX_MODEL_CHARS or not value.isprintable():
        raise bad(f"{param}: a library id, a model name or an alias of at most "
                  f"{MAX_MODEL_CHARS} printable characters", param)
    return value.strip()


#: Fields that would change the answer, and the value each may have here (None: absent).
UNSUPPORTED = {"best_of": (1,), "suffix": ("",),
               "top_logprobs": (0,)}


def _refuse_unsupported(body: dict[str, Any]) -> None:
    if body.get("functions"):  # the legacy form; tools are read by workbench.server.tools
        raise bad("functions: use tools (the legacy functions are not supported)",
                  "functions")
    if body.get("function_call") not in (None, "none"):
        raise bad("function_call: use tool_choice (the legacy form is not supported)",
                  "function_call")
    if body.get("logprobs"):
        raise bad("logprobs: not supported by this server", "logprobs")
    for key, fine in UNSUPPORTED.items():
        value = body.get(key)
        if value is not None and not any(value == ok and type(value) is type(ok)
                                         for ok in fine):
            raise bad(f"{key}: not supported by this server", key)


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or not low <= value <= high:
        raise bad(f"{key}: must be a number from {low:g} to {high:g}", key)
    return float(value)


def _whole(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad(f"{key}: must be a whole number from {low:,} to {high:,}", key)
    return value


def _content(value: Any, where: str) -> str:
    """A message's content: text, or a list of text parts (``image_url`` parts are read by
    :mod:`workbench.server.images`; any other kind is refused by name)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list):
        texts = []
        for index, part in enumerate(value):
            if isinstance(part, dict) and part.get("type") == "image_url":
                continue
            if not isinstance(part, dict) or part.get("type") != "text" or \
                    not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise bad(f"{where}[{index}]: only text and image_url parts are supported "
                          f"(got {kind})",
                          where)
            texts.append(part["text"])
        return "".join(texts)
    raise bad(f"{where}: must be text or a list of text parts", where)


def _common(body: dict[str, Any], *, chat: bool) -> GenerationRequest:
    model = check_model_name(body.get("model"))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("stream: must be true or false", "stream")
    options = body.get("stream_options")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise bad("stream_options: must be an object", "stream_options")
    include_usage = options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise bad("stream_options.include_usage: must be true or false", "stream_options")
    _refuse_unsupported(body)
    n = body.get("n")
    if n is not None and n != 1:
        raise bad("n: only 1 is supported (one model, one reply)", "n")
    sampling: dict[str, Any] = {}
    for key, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0),
                           ("min_p", 0.0, 1.0), ("repeat_penalty", 0.0, 10.0)):
        value = _number(body, key, low, high)
        if value is not None:
            sampling[key] = value
    top_k = _whole(body, "top_k", 0, 1_000_000)
    if top_k is not None:
        sampling["top_k"] = top_k
    tokens_key = "max_completion_tokens" if chat and body.get("max_completion_tokens") \
        is not None else "max_tokens"
    max_tokens = _whole(body, tokens_key, 1, 1_048_576)
    if max_tokens is not None:
        sampling["max_tokens"] = max_tokens
    seed = _whole(body, "seed", -(2**63), 2**63 - 1)
    if seed is not None:
        sampling["seed"] = seed % (2**31)
    stop = body.get("stop")
    stops: list[str]
    if stop is None:
        stops = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = list(stop)
    else:
        raise bad("stop: must be text or a list of texts", "stop")
    if len(stops) > MAX_STOPS or any(not s for s in stops):
        raise bad(f"stop: at most {MAX_STOPS} texts, none empty", "stop")
    return GenerationRequest(model, [], stream, include_usage, sampling, stops)


def chat_request(body: dict[str, Any]) -> GenerationRequest:
    """A /v1/chat/completions body, checked."""
    request = _common(body, chat=True)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages: required, a non-empty list", "messages")
    if len(messages) > MAX_MESSAGES:
        raise bad(f"messages: {len(messages):,} of them; at most {MAX_MESSAGES:,} in one "
                  "request", "messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad(f"{where}: must be an object with role and content", "messages")
        if message.get("role") not in ROLES:
            raise bad(f"{where}.role: must be one of {', '.join(ROLES)}", "messages")
    from workbench.server.tools import ToolRequestError, chat_messages, tool_settings

    try:
        tools = tool_settings(body)
        request.messages = chat_messages(messages, _content, bool(tools))
    except ToolRequestError as error:
        raise bad(str(error), error.param) from None
    _check_prompt_size(sum(len(m["content"]) for m in request.messages), "messages")
    request.sampling.update(_response_format(body.get("response_format")))
    request.sampling.update(tools)
    return request


def _check_prompt_size(chars: int, param: str) -> None:
    if chars > MAX_PROMPT_CHARS:
        raise bad(f"{param}: {chars:,} characters in all; at most {MAX_PROMPT_CHARS:,}",
                  param)


def completion_request(body: dict[str, Any]) -> GenerationRequest:
    """A /v1/completions body, checked: the prompt goes to the model as it is."""
    request = _common(body, chat=False)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise bad("prompt: required, one non-empty text", "prompt")
    if body.get("echo"):
        raise bad("echo: not supported", "echo")
    _check_prompt_size(len(prompt), "prompt")
    request.messages = [{"role": "user", "content": prompt}]
    request.raw_prompt = True
    request.sampling["template"] = "raw"
    return request


def _response_format(value: Any) -> dict[str, Any]:
    """``response_format`` as the engine's ``json_schema`` (llama.cpp's grammar enforces it)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad("response_format: must be an object", "response_format")
    kind = value.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"json_schema": check_json_schema({"type": "object"})}
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
            raise bad("response_format.json_schema: must be an object with a schema",
                      "response_format")
        schema = spec.get("schema") or json.loads(ANY_JSON)
        try:
            return {"json_schema": check_json_schema(schema, "response_format.json_schema")}
        except InvalidInputError as error:
            raise bad(str(error), "response_format") from None
    raise bad("response_format.type: must be text, json_object or json_schema",
              "response_format")


class StopWatcher:
    """Ends the text at the first of the request's stop strings, holding back only what could
    be the start of one, so no stream ever shows part of a stop string."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.buffer = ""
        self.hit = False

    def feed(self, piece: str) -> str:
        """The text that can be sent now."""
        if self.hit:
            return ""
        if not self.stops:
            return piece
        self.buffer += piece
        found = [i for i in (self.buffer.find(s) for s in self.stops) if i >= 0]
        if found:
            self.hit = True
            out, self.buffer = self.buffer[:min(found)], ""
            return out
        keep = self.hold
        out = self.buffer[:-keep] if keep else self.buffer
        self.buffer = self.buffer[len(out):]
        return out

    def flush(self) -> str:
        out, self.buffer = ("" if self.hit else self.buffer), ""
        return out
