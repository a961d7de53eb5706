"""Structured output: a JSON schema constrains the reply through llama.cpp's grammar.

Greedy replies differ between CPUs (SIMD paths round differently at near-ties), so no test
here may depend on how long one CPU's answer is: a schema that must complete bounds its own
length (:data:`PERSON` allows at most :data:`PERSON_BYTES` bytes, all ASCII, and every token
the grammar lets through is at least one byte, so :data:`ROOMY` tokens always hold it), a
schema that may run on (any JSON) is checked for "complete, or says it was cut", and the cut
is forced where it is tested (:data:`CUT`: no token of the vocabulary holds a whole Person).
"""

import json

import pytest

from workbench.engine import LoadSettings, SamplingSettings
from workbench.engine.settings import ANY_JSON, JSON_CUT_NOTE, check_json_schema, json_cut_note
from workbench.errors import InvalidInputError

#: A name of at most 12 ASCII letters or spaces and an integer (the grammar allows at most
#: 16 digits and a sign): with its keys, braces and the one optional space the grammar allows
#: between parts, never more than PERSON_BYTES bytes.
PERSON = {"type": "object", "properties": {"name": {"type": "string",
                                                    "pattern": "^[A-Za-z ]{1,12}$"},
                                           "age": {"type": "integer"}},
          "required": ["name", "age"]}
PERSON_BYTES = 56
ROOMY = PERSON_BYTES + 8  # the limit is checked after each token: leave room for the end
CUT = 2  # tokens: the shortest Person, {"age":0,"name":"A"}, is 20 bytes


def _reply(engine, model_path, schema: str | None, max_tokens: int = ROOMY):
    reply = engine.reply(model_path, [{"role": "user", "content": "A person's name and age?"}],
                         load=LoadSettings(n_ctx=1024, n_threads=1),
                         sampling=SamplingSettings(seed=1, max_tokens=max_tokens,
                                                   json_schema=schema))
    "".join(reply)
    return reply


def test_a_schema_makes_the_reply_follow_it(engine, model_path) -> None:
    reply = _reply(engine, model_path, check_json_schema(PERSON))
    assert reply.finish_reason == "stop" and reply.note is None
    data = json.loads(reply.text)
    assert set(data) == {"name", "age"}
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


def test_any_json_is_complete_or_says_it_was_cut(engine, model_path) -> None:
    """Any JSON has no bound: either the reply ended by itself as a JSON object, or the
    limit cut it and the reply says so (which happens depends on the CPU)."""
    reply = _reply(engine, model_path, ANY_JSON)
    assert reply.text.startswith("{")  # the grammar's "any JSON" is an object
    if reply.finish_reason == "stop":
        assert isinstance(json.loads(reply.text), dict) and reply.note is None
    else:
        assert reply.finish_reason == "length" and reply.note == JSON_CUT_NOTE


def test_a_reply_cut_by_the_token_limit_says_so(engine, model_path) -> None:
    reply = _reply(engine, model_path, check_json_schema(PERSON), max_tokens=CUT)
    assert reply.finish_reason == "length" and reply.stats.completion_tokens == CUT
    assert reply.text.startswith("{") and reply.note == JSON_CUT_NOTE
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.text)


def test_only_an_unfinished_json_reply_is_called_cut() -> None:
    schema = check_json_schema(PERSON)
    assert json_cut_note("length", schema, '{"age": 4') == JSON_CUT_NOTE
    assert json_cut_note("length", schema, "") == JSON_CUT_NOTE
    # closed exactly at the limit: complete
    assert json_cut_note("length", schema, '{"age": 4, "name": "Ann"}') is None
    assert json_cut_note("stop", schema, '{"age": 4') is None  # not the token limit
    assert json_cut_note("length", None, "Once upon a") is None  # free text: nothing to say


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


def _one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), \
        result.output
    return lines[0]


def test_chat_json_schema_and_json(cli_run, person_file, tmp_path) -> None:
    common = ("--seed", "1", "--ctx", "1024", "--threads", "1")
    result = cli_run("chat", "1", "Describe a person.", "--json-schema", str(person_file),
                     "--max-tokens", str(ROOMY), *common)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.splitlines()[0])
    assert isinstance(data["name"], str) and isinstance(data["age"], int)
    assert "finish: stop" in result.stderr and "cut" not in result.stderr
    stored = json.loads(cli_run("history", "show", "1", "--json").output)
    assert stored["messages"][1]["settings"]["json_schema"] == check_json_schema(PERSON | {
        "title": "Person"})
    result = cli_run("chat", "1", "Say hello.", "--json", "--max-tokens", "60", *common)
    assert result.exit_code == 0, result.output
    reply = json.loads(cli_run("history", "show", "2", "--json").output)["messages"][1]
    if reply["finish_reason"] == "stop":  # any JSON has no bound: complete, or said to be cut
        assert isinstance(json.loads(reply["content"]), dict)
    else:
        assert f"note: {JSON_CUT_NOTE}" in result.stderr
    missing = tmp_path / "nope.json"
    assert f"--json-schema {missing}: cannot read it" in _one_line(
        cli_run("chat", "1", "hi", "--json-schema", str(missing)))
    (tmp_path / "bad.json").write_text('{"type": "object", "properties": 3}')
    assert f"--json-schema {tmp_path / 'bad.json'}: " in _one_line(
        cli_run("chat", "1", "hi", "--json-schema", str(tmp_path / "bad.json")))
    assert "give one of them" in _one_line(
        cli_run("chat", "1", "hi", "--json", "--json-schema", str(person_file)))


def test_chat_says_when_the_token_limit_cut_the_json(cli_run, person_file) -> None:
    result = cli_run("chat", "1", "Describe a person.", "--json-schema", str(person_file),
                     "--max-tokens", str(CUT), "--seed", "1", "--ctx", "1024", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("{")  # the text so far is kept, as it is
    assert "finish: length" in result.stderr
    assert f"note: {JSON_CUT_NOTE} (raise --max-tokens" in result.stderr
    shown = cli_run("history", "show", "1").output
    assert "finish: length" in shown and f"note: {JSON_CUT_NOTE}" in shown


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
    schema = make_contender(db, library_model, {**base, "max_tokens": ROOMY,
                                                "json_schema": str(person_file)})
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


def test_a_json_check_on_a_cut_reply_fails_with_that_reason(db, engine, library_model,
                                                            person_file) -> None:
    from workbench.trials.contenders import make_contender
    from workbench.trials.runner import TrialRun, create_trial
    from workbench.trials.store import trial_cells
    from workbench.trials.suites import SuitePrompt, create_suite

    cut = make_contender(db, library_model, {
        "n_ctx": 1024, "n_threads": 1, "temperature": 0.0, "seed": 7, "max_tokens": CUT,
        "json_schema": str(person_file)})
    suite = create_suite(db, "cut people", [SuitePrompt(
        "Give a person's name and age as JSON.",
        checks=[{"type": "json"}, {"json_schema": PERSON}, {"contains": "{"}])])
    trial_id = create_trial(db, suite.id, [cut], seed=7)
    list(TrialRun(db, engine, trial_id))
    (cell,) = trial_cells(db, trial_id)
    assert cell["finish_reason"] == "length" and cell["passed"] == 0
    assert [(c["passed"], c["detail"]) for c in cell["check_results"]] == [
        (False, JSON_CUT_NOTE), (False, JSON_CUT_NOTE), (True, "found: '{'")]


def test_a_json_string_cannot_hold_a_control_character() -> None:
    """The grammar of structured output and of tool calls is llama.cpp's: a string's
    characters exclude control characters (llama-cpp-python's converter lets a raw newline
    in, so a reply held to the grammar could still fail to parse)."""
    from workbench.engine.generate import grammar_text
    from workbench.engine.reply import _grammar
    from workbench.engine.tools import _gbnf

    schema = {"type": "object", "properties": {"note": {"type": "string"}}}
    for grammar in (grammar_text(_grammar(json.dumps(schema))), _gbnf(schema)):
        assert grammar is not None
        assert r'char ::= [^"\\\x7F\x00-\x1F]' in grammar
        assert r'char ::= [^"\\]' not in grammar
