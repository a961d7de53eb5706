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


# The window's and the command line's ways in ---------------------------------------------

@pytest.fixture
def person_file(tmp_path):
    path = tmp_path / "person.json"
    path.write_text(json.dumps({"title": "Person", **PERSON}, indent=2))
    return path


@pytest.fixture
def run(workspace):
    from click.testing import CliRunner

    from workbench.cli import cli

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--data-dir", str(workspace.root), *args])

    return invoke


def _one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), \
        result.output
    return lines[0]


def test_chat_json_schema_and_json(run, person_file, tmp_path) -> None:
    common = ("--seed", "1", "--max-tokens", "60", "--ctx", "1024", "--threads", "1")
    result = run("chat", "1", "Describe a person.", "--json-schema", str(person_file), *common)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.splitlines()[0])
    assert isinstance(data["name"], str) and isinstance(data["age"], int)
    stored = json.loads(run("history", "show", "1", "--json").output)
    assert stored["messages"][1]["settings"]["json_schema"] == check_json_schema(PERSON | {
        "title": "Person"})
    result = run("chat", "1", "Say hello.", "--json", *common)
    assert result.exit_code == 0, result.output
    json.loads(json.loads(run("history", "show", "2", "--json").output)["messages"][1]["content"])
    missing = tmp_path / "nope.json"
    assert f"--json-schema {missing}: cannot read it" in _one_line(
        run("chat", "1", "hi", "--json-schema", str(missing)))
    (tmp_path / "bad.json").write_text('{"type": "object", "properties": 3}')
    assert f"--json-schema {tmp_path / 'bad.json'}: " in _one_line(
        run("chat", "1", "hi", "--json-schema", str(tmp_path / "bad.json")))
    assert "give one of them" in _one_line(
        run("chat", "1", "hi", "--json", "--json-schema", str(person_file)))


def test_contender_schema_given_as_file_is_stored_as_the_schema(db, library_model,
                                                                 person_file) -> None:
    from workbench.trials.contenders import make_contender, parse_set_options

    values = parse_set_options([f"json_schema={person_file}", "seed=1"])
    canonical = check_json_schema({"title": "Person", **PERSON})
    assert values["json_schema"] == canonical
    contender = make_contender(db, library_model, values)
    assert contender.settings["json_schema"] == canonical
    assert contender.sampling.json_schema == canonical
    assert "json_schema=schema Person" in contender.label and "{" not in contender.label
    person_file.unlink()  # the trial no longer needs the file
    again = make_contender(db, library_model, {"json_schema": canonical, "seed": 1})
    assert again.id == contender.id  # the same schema is the same contender
    assert parse_set_options(["json_schema=any"])["json_schema"] == ANY_JSON
    with pytest.raises(InvalidInputError) as error:
        parse_set_options([f"json_schema={person_file}"])
    assert str(error.value).startswith(f"setting json_schema {person_file}: cannot read it")


def test_trial_shows_the_schema_makes_a_small_model_pass(db, engine, library_model,
                                                         person_file) -> None:
    """The demo: a suite with JSON checks; SmolLM2 without a schema fails them, the same
    model with the schema passes them (real, seeded, greedy runs)."""
    from workbench.trials.contenders import make_contender
    from workbench.trials.results import trial_summary
    from workbench.trials.runner import TrialRun, create_trial
    from workbench.trials.suites import SuitePrompt, create_suite

    base = {"n_ctx": 1024, "n_threads": 1, "gpu_layers": 0, "temperature": 0.0, "seed": 7,
            "max_tokens": 60}
    free = make_contender(db, library_model, base)
    schema = make_contender(db, library_model, {**base, "json_schema": str(person_file)})
    checks = [{"type": "json"}, {"json_schema": PERSON}]
    suite = create_suite(db, "people as JSON", [
        SuitePrompt("Give a person's name and age as JSON.", checks=checks),
        SuitePrompt("Who wrote Hamlet, and how old was he when he died?", checks=checks),
    ])
    trial_id = create_trial(db, suite.id, [free, schema], seed=7)
    list(TrialRun(db, engine, trial_id))
    summary = {c["label"]: c for c in trial_summary(db, trial_id)["contenders"]}
    assert summary[free.label]["passed"] == 0 and summary[free.label]["checked"] == 2
    assert summary[schema.label]["passed"] == 2
