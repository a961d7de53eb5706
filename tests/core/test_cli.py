"""The headless command line, as a user types it."""

import json
import os
import subprocess
import sys


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_models_add_list_show_rm(cli_run, model_path, tmp_path) -> None:
    result = cli_run("models", "add", str(model_path))
    assert result.exit_code == 0 and "Added" in result.output
    listed = json.loads(cli_run("models", "list", "--json").output)
    # The demo model (same file) is not added twice.
    assert [m["file_name"] for m in listed] == [model_path.name]
    shown = cli_run("models", "show", "SmolLM2")
    assert "Quantization:    Q4_1" in shown.output and "SHA-256:" in shown.output
    data = json.loads(cli_run("models", "show", "1", "--json").output)
    assert data["architecture"] == "llama"
    assert "the file was kept" in cli_run("models", "rm", "1").output
    assert model_path.exists()


def test_bad_input_is_one_line(cli_run, tmp_path) -> None:
    assert "no such file" in one_line_error(cli_run("models", "add", str(tmp_path / "x.gguf")))
    (tmp_path / "t.gguf").write_text("text")
    assert "not a GGUF file" in one_line_error(cli_run("models", "add", str(tmp_path / "t.gguf")))
    assert "no model" in one_line_error(cli_run("chat", "nope", "hi"))
    assert "no such conversation" in one_line_error(cli_run("history", "show", "42"))
    line = one_line_error(cli_run("chat", "1", "hi", "--gpu-layers", "many"))
    assert "gpu_layers" in line and "auto, all, or a number of layers" in line


def test_chat_history_search_export(cli_run, model_path, tmp_path) -> None:
    cli_run("models", "add", str(model_path))
    result = cli_run("chat", "1", "What is the capital of France?", "--seed", "1",
                     "--temperature", "0", "--max-tokens", "24", "--ctx", "1024", "--threads", "2")
    assert result.exit_code == 0, result.output
    assert "tok/s" in result.output and "[conversation 1]" in result.output
    follow = cli_run("chat", "1", "And of Italy?", "--continue", "1", "--seed", "1",
                     "--temperature", "0", "--max-tokens", "24", "--ctx", "1024")
    assert follow.exit_code == 0 and "[conversation 1]" in follow.output
    listed = json.loads(cli_run("history", "list", "--json").output)
    assert listed[0]["message_count"] == 4
    shown = json.loads(cli_run("history", "show", "1", "--json").output)
    assert shown["messages"][1]["settings"]["seed"] == 1
    answer = shown["messages"][1]["content"]
    assert len(answer) > 10 and answer.strip() in result.output
    assert "[Italy]" in cli_run("history", "search", "Italy").output
    out = tmp_path / "chat.md"
    assert cli_run("history", "export", "1", "--format", "md", "-o", str(out)).exit_code == 0
    assert answer.strip() in out.read_text()


def test_module_entry_point_and_version() -> None:
    result = subprocess.run([sys.executable, "-m", "workbench", "--version"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode == 0 and "llm-workbench" in result.stdout


def test_self_check_runs_the_model_and_the_trial_checks(model_path, tmp_path) -> None:
    """What the release workflow runs on every installer, here unfrozen."""
    result = subprocess.run([sys.executable, "-m", "workbench", "--self-check", str(model_path)],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, "LLM_WORKBENCH_HOME": str(tmp_path)}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["trial_checks"] and report["tokens"] > 0
    assert report["frozen"] is False


def test_settings_get_set_and_the_token_is_masked(cli_run) -> None:
    assert '"offline"' not in cli_run("settings").output  # names are printed bare
    assert "offline          false" in cli_run("settings").output
    assert "true" in cli_run("settings", "offline", "true").output
    assert json.loads(cli_run("settings", "--json").output)["offline"] is True
    secret = "hf_abcdefghijklmnop"
    shown = cli_run("settings", "hub_token", secret).output + cli_run("settings").output
    assert secret not in shown and "hf_" in shown
    assert "unknown" in one_line_error(cli_run("settings", "colour", "blue"))


def test_every_command_can_name_the_demo_model(cli_run) -> None:
    """A new user's first command may be 'compare' or 'trial run', not 'models list'."""
    result = cli_run("compare", "Say hi.", "--set", "max_tokens=4", "-m", "SmolLM2",
                     "--set", "temperature=0", "-m", "SmolLM2", "--set", "temperature=1")
    assert result.exit_code == 0, result.output
    assert "Comparison 1 stored" in result.output
