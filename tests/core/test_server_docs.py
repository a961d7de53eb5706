"""An alias with a collection (issue 22, item 6): a chat completion to it is answered from
the collection's passages, and the citations travel in the response, read here through the
real ``openai`` client (extra fields are kept in ``model_extra``). Real llama.cpp, loopback
only; nothing depends on the model's wording."""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest
from click.testing import CliRunner
from docs_files import papers_collection

from workbench.cli import cli
from workbench.errors import InvalidInputError, NotFoundError
from workbench.server.aliases import find_alias, set_alias
from workbench.server.serve import RunningServer
from workbench.workspace import Workspace

QUESTION = "What is the refund period for damaged parcels?"


@pytest.fixture(scope="module")
def space(make_space, tmp_path_factory) -> Workspace:
    space = make_space("server-docs")
    papers_collection(space.db, tmp_path_factory.mktemp("papers"),
                      "# Canteen\n\nThe canteen serves soup on Fridays.\n")
    set_alias(space.db, "handbook", "smollm2", {"max_tokens": 6, "temperature": 0,
                                                "docs": ["papers"], "k": 2})
    set_alias(space.db, "plain", "smollm2", {"max_tokens": 3, "temperature": 0})
    return space


def _check_citations(citations: list[dict]) -> None:
    assert 1 <= len(citations) <= 2
    first = citations[0]
    assert first["number"] == 1 and first["collection"] == "papers"
    assert first["path"].endswith("handbook.pdf") and first["page"] == 2
    assert isinstance(first["chunk_id"], int) and first["score"] > 0
    assert all(isinstance(c["cited"], bool) for c in citations)


def test_an_alias_with_docs_answers_with_citations(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="handbook", messages=[{"role": "user", "content": QUESTION}])
    message = answer.choices[0].message
    assert message.model_extra is not None
    _check_citations(message.model_extra["citations"])
    # the passages went into the prompt: far more tokens than the question alone
    plain = client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": QUESTION}])
    assert answer.usage.prompt_tokens > plain.usage.prompt_tokens + 20
    assert "citations" not in (plain.choices[0].message.model_extra or {})


def test_a_streamed_answer_carries_the_citations_in_its_last_chunk(
        client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="handbook", messages=[{"role": "user", "content": QUESTION}], stream=True))
    last = [c for c in chunks if c.choices and c.choices[0].finish_reason][-1]
    _check_citations((last.choices[0].delta.model_extra or {})["citations"])
    assert all("citations" not in (c.choices[0].delta.model_extra or {})
               for c in chunks if c.choices and c is not last)


def test_raw_json_and_refusals(server: RunningServer, space: Workspace) -> None:
    request = urllib.request.Request(
        server.url + "/chat/completions", method="POST",
        data=json.dumps({"model": "handbook", "messages": [
            {"role": "user", "content": QUESTION}]}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
    _check_citations(body["choices"][0]["message"]["citations"])
    completion = urllib.request.Request(
        server.url + "/completions", method="POST",
        data=json.dumps({"model": "handbook", "prompt": "Hi"}).encode(),
        headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(completion, timeout=60)
    assert refused.value.code == 400
    assert "answers from documents" in json.loads(refused.value.read())["error"]["message"]
    with pytest.raises(NotFoundError, match="no collection named 'nope'"):
        set_alias(space.db, "bad", "smollm2", {"docs": ["nope"]})
    with pytest.raises(InvalidInputError, match="alias --k: give the collections"):
        set_alias(space.db, "bad", "smollm2", {"k": 3})


def test_alias_set_with_docs_from_the_cli(space: Workspace, monkeypatch) -> None:
    monkeypatch.setenv("LLM_WORKBENCH_HOME", str(space.root))
    result = CliRunner().invoke(cli, ["alias", "set", "ask", "smollm2", "--docs", "papers",
                                      "--k", "3"])
    assert result.exit_code == 0, result.output
    made = find_alias(space.db, "ask")
    assert made is not None and (made.docs, made.k) == (["papers"], 3)
    result = CliRunner().invoke(cli, ["alias", "set", "ask", "smollm2", "--docs", "gone"])
    assert result.exit_code != 0 and "no collection named 'gone'" in result.output
