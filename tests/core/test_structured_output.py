"""Structured output: a JSON schema constrains the reply through llama.cpp's grammar."""

import json

import pytest

from workbench.engine import LoadSettings, SamplingSettings
from workbench.engine.settings import ANY_JSON, check_json_schema
from workbench.errors import InvalidInputError

PERSON = {"type": "object", "properties": {"name": {"type": "string"},
                                           "age": {"type": "integer"}},
          "required": ["name", "age"]}


def _reply(engine, model_path, schema: str | None) -> str:
    reply = engine.reply(model_path, [{"role": "user", "content": "A person's name and age?"}],
                         load=LoadSettings(n_ctx=1024, n_threads=1),
                         sampling=SamplingSettings(seed=1, max_tokens=80, json_schema=schema))
    return "".join(reply)


def test_a_schema_makes_the_reply_follow_it(engine, model_path) -> None:
    data = json.loads(_reply(engine, model_path, check_json_schema(PERSON)))
    assert set(data) == {"name", "age"}
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


def test_any_json_parses(engine, model_path) -> None:
    json.loads(_reply(engine, model_path, ANY_JSON))


@pytest.mark.parametrize("bad, reason", [
    ("{not json", "not JSON"),
    ("[1, 2]", "must be an object"),
    ('{"type": 5}', "cannot make a grammar"),
])
def test_a_bad_schema_is_one_line_naming_it(bad: str, reason: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        check_json_schema(bad, where="schema.json")
    message = str(raised.value)
    assert message.startswith("schema.json: ") and reason in message and "\n" not in message


def test_the_same_schema_is_stored_the_same_way() -> None:
    spaced = json.dumps(PERSON, indent=2)
    assert check_json_schema(spaced) == check_json_schema(PERSON)
