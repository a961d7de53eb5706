"""One way to get a model ready to run (``runnable``), and the other operations every front
end shares (the chat turn, ``save_reply``, ``contenders_from``): a model that cannot run is
refused in the same one line from the CLI and from the server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openai
import pytest
from click.testing import CliRunner

from workbench import conversations as convs
from workbench.chat import save_exchange
from workbench.chat_runner import ChatRunner, Finished, Loading, Started, TurnRequest
from workbench.cli import cli
from workbench.engine import ReplyStats
from workbench.errors import InvalidInputError, ModelFileError, ModelNotFound
from workbench.library import add_model, get_model
from workbench.model_settings import runnable
from workbench.trials.contenders import contenders_from
from workbench.workspace import Workspace

ODD_ALIAS = "odd"


@pytest.fixture(scope="module")
def space(make_space, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The test model; a copy of it whose file has since gone (both names start "SmolLM2",
    so that prefix is ambiguous); and an alias stored with a key that is not a setting, as an
    older version or a hand edit could leave it (``alias set`` refuses one)."""
    space = make_space("runnable")
    demo = get_model(space.db, "smollm2-135m")
    copy = tmp_path_factory.mktemp("gone") / "SmolLM2-gone.gguf"
    shutil.copyfile(demo.path, copy)
    with copy.open("ab") as stream:
        stream.write(b"\0")  # its own sha256: a second entry, not the same model
    add_model(space.db, copy)
    copy.unlink()
    space.db.table("server_aliases").insert({
        "name": ODD_ALIAS, "model_id": demo.id, "created_at": "", "updated_at": "",
        "settings": json.dumps({"temperature": 0, "colour": "blue"})})
    return space


def cli_error(space: Workspace, *args: str) -> str:
    """The one line the CLI says for a refused command."""
    result = CliRunner().invoke(cli, ["--data-dir", str(space.root), *args])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def server_error(client: openai.OpenAI, model: str) -> tuple[int, str]:
    """The status and the one-line message of a refused chat request."""
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, max_tokens=2,
                                       messages=[{"role": "user", "content": "Hi"}])
    message = caught.value.body["message"]  # type: ignore[index]
    assert "\n" not in message
    return caught.value.status_code, message


# --- runnable in the core ------------------------------------------------------------------


def test_runnable_finds_checks_and_resolves(space: Workspace) -> None:
    ready = runnable(space.db, "smollm2-135m", {"temperature": 0.2, "n_ctx": 256,
                                                "system_prompt": "Be brief."})
    assert ready.model.name == "SmolLM2-135M-Instruct.Q4_1"
    assert ready.sampling.temperature == 0.2 and ready.load.n_ctx == 256
    assert ready.load.n_threads == 1  # the workspace's own setting, under the overrides
    assert ready.system_prompt == "Be brief."
    assert runnable(space.db, ready.model.id).model.id == ready.model.id


def test_runnable_refuses_in_one_line(space: Workspace) -> None:
    with pytest.raises(InvalidInputError, match="setting 'colour': unknown"):
        runnable(space.db, "smollm2-135m", {"colour": "blue"})
    with pytest.raises(ModelFileError, match="SmolLM2-gone.*its file is missing"):
        runnable(space.db, "smollm2-gone")
    with pytest.raises(ModelNotFound, match="matches several models"):
        runnable(space.db, "smollm2")
    with pytest.raises(InvalidInputError, match="threads"):
        runnable(space.db, "smollm2-135m", {"n_threads": "many"})


# --- the same refusals from the CLI and from the server ------------------------------------


def test_an_unknown_setting_is_refused_by_the_cli_and_the_server(
        space: Workspace, client: openai.OpenAI) -> None:
    said = cli_error(space, "compare", "Hi", "-m", "smollm2-135m", "-m", "smollm2-135m",
                     "--set", "colour=blue")
    assert "setting 'colour': unknown (known: " in said
    status, message = server_error(client, ODD_ALIAS)
    assert status == 400 and "setting 'colour': unknown (known: " in message


def test_a_missing_file_is_refused_by_the_cli_and_the_server(
        space: Workspace, client: openai.OpenAI) -> None:
    said = cli_error(space, "chat", "smollm2-gone", "Hi")
    assert "'SmolLM2-gone': its file is missing" in said
    status, message = server_error(client, "smollm2-gone")
    assert status == 500 and "'SmolLM2-gone': its file is missing" in message


def test_an_ambiguous_name_is_refused_by_the_cli_and_the_server(
        space: Workspace, client: openai.OpenAI) -> None:
    said = cli_error(space, "chat", "smollm2", "Hi")
    assert "model 'smollm2': matches several models" in said
    status, message = server_error(client, "smollm2")
    assert status == 404 and "model 'smollm2': matches several models" in message


# --- the other shared operations -----------------------------------------------------------


def test_contenders_from_pairs_with_shared_settings(space: Workspace) -> None:
    demo = get_model(space.db, "smollm2-135m")
    first, second = contenders_from(
        space.db, [(demo.id, ["temperature=0"]), ("smollm2-135m", ["system_prompt=Be brief.",
                                                                   "max_tokens=9"])],
        {"max_tokens": 8, "seed": 3})
    assert first.model_id == second.model_id == demo.id and first.id != second.id
    assert first.settings["temperature"] == 0 and first.settings["max_tokens"] == 8
    assert second.settings["max_tokens"] == 9 and second.settings["seed"] == 3
    assert second.system_prompt == "Be brief." and first.system_prompt is None
    again = contenders_from(space.db, [(demo.id, ["temperature=0"])], {"max_tokens": 8,
                                                                        "seed": 3})
    assert [c.id for c in again] == [first.id]  # the same model and settings: reused
    with pytest.raises(InvalidInputError, match="setting 'colour': unknown"):
        contenders_from(space.db, [(demo.id, ["colour=blue"])])
    with pytest.raises(ModelFileError):
        contenders_from(space.db, [("smollm2-gone", [])])


def test_save_reply_and_save_exchange_keep_what_made_the_reply(space: Workspace) -> None:
    db = space.db
    stats = ReplyStats(prompt_tokens=5, completion_tokens=3, gen_tps=12.5, peak_rss=1,
                       finish_reason="length", dropped_turns=1, settings={"seed": 4})
    conversation = convs.create_conversation(db, model_id=None, system_prompt="")
    asked = convs.add_message(db, conversation, "user", "Hi", parent_id=None)
    reply = convs.add_message(db, conversation, "assistant", "", parent_id=asked,
                              status=convs.STREAMING)
    convs.save_reply(db, reply, "Hello", stats, status="stopped",
                     record={"model_name": "m", "via": "test"})
    saved = convs.get_message(db, reply)
    assert (saved.content, saved.status, saved.finish_reason) == ("Hello", "stopped", "length")
    assert saved.metrics["completion_tokens"] == 3 and saved.metrics["gen_tps"] == 12.5
    assert saved.settings == {"seed": 4, "model_name": "m", "via": "test"}
    made = save_exchange(db, [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "Hi"}], None, "Hello", stats,
                         title="API: Hi", finish_reason="stop", record={"via": "server"})
    messages = convs.branch(db, made)
    assert [(m.role, m.content) for m in messages] == [("user", "Hi"), ("assistant", "Hello")]
    assert messages[1].finish_reason == "stop" and messages[1].settings["via"] == "server"
    assert convs.get_conversation(db, made)["system_prompt"] == "Be brief."


def test_the_chat_turn_in_the_core(space: Workspace) -> None:
    """The turn the window and ``chat`` both run: loading, started, the text, finished."""
    from workbench.engine import Engine

    engine = Engine()
    try:
        runner = ChatRunner(space.db, engine, TurnRequest(
            "send", "smollm2-135m", prompt="Hi", overrides={"max_tokens": 4, "seed": 1}))
        events = list(runner)
    finally:
        engine.unload()
    assert isinstance(events[0], Loading) and isinstance(events[1], Started)
    assert isinstance(events[-1], Finished) and events[-1].status == "done"
    text = "".join(e for e in events if isinstance(e, str))
    assert text == events[-1].text
    saved = convs.get_message(space.db, events[1].reply_message_id)
    assert saved.content == text
    assert saved.settings["model_name"] == "SmolLM2-135M-Instruct.Q4_1"


def test_the_models_folder_is_the_cores(space: Workspace, tmp_path: Path) -> None:
    """The window asks the core for the folder (a disk that went away is one line)."""
    from workbench.settings import reset_setting, set_setting
    from workbench.workspace import models_dir

    assert models_dir(space.db, space.root) == space.models_dir == space.root / "models"
    chosen = tmp_path / "disk" / "models"
    set_setting(space.db, "models_dir", str(chosen))
    try:
        assert models_dir(space.db, space.root) == chosen and chosen.is_dir()
        shutil.rmtree(tmp_path / "disk")
        (tmp_path / "disk").write_text("")  # the folder cannot be made again: a disk gone
        with pytest.raises(InvalidInputError, match="cannot be used now"):
            models_dir(space.db, space.root)
    finally:
        reset_setting(space.db, "models_dir")
