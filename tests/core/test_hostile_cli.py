"""The command line against hostile input: thread counts, prompts from stdin and files,
export paths, and escape sequences from files on the way to the terminal."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import gguf_craft as craft
import pytest
from click.testing import CliRunner

from workbench import safe_text
from workbench.cli import cli
from workbench.conversations import add_message, create_conversation
from workbench.safe_text import TerminalGuard, redact, visible
from workbench.settings import max_threads
from workbench.trials.report import _md, _md_table

#: Sequences that act on a terminal: clear screen, window title, OSC 52 clipboard write,
#: a C1 CSI, a bidi override that reverses what follows, and a carriage return.
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZWNobyBoaQ==\x07\x9b31m\u202egnp.exe"


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.mark.parametrize("threads", ["5000", "100000", "0", "-3", str(max_threads() + 1)])
def test_thread_counts_past_the_bound_are_refused(cli_run, library_model, threads) -> None:
    started = time.perf_counter()
    line = one_line_error(cli_run("chat", "1", "hi", "--threads", threads))
    assert "threads" in line and f"from 1 to {max_threads()}" in line
    assert time.perf_counter() - started < 5


def test_the_thread_bound_is_sane() -> None:
    assert 64 <= max_threads() <= 512


def test_prompt_from_stdin(cli_run, library_model) -> None:
    result = cli_run("chat", "1", "-", "--max-tokens", "4", "--seed", "1", "--ctx", "1024",
                     input="Say hello.\n")
    assert result.exit_code == 0, result.output
    shown = cli_run("history", "show", "1")
    assert "[user] Say hello." in shown.output


def test_a_megabyte_prompt_from_a_file(cli_run, library_model, tmp_path: Path) -> None:
    """A prompt too long for any command line gets through, and is refused by the context
    length (one line), not by the system's argument limit."""
    big = tmp_path / "long.txt"
    big.write_text("All work and no play makes a dull model. " * 25_000)
    assert big.stat().st_size > 1_000_000
    line = one_line_error(cli_run("chat", "1", "--prompt-file", str(big), "--ctx", "1024"))
    assert "do not fit the 1,024-token context" in line


@pytest.mark.parametrize(("args", "stdin", "reason"), [
    (["-"], b"caf\xe9 au lait", "prompt from stdin: not valid UTF-8 text (byte 0xe9 at offset 3)"),
    (["-"], b"\xff\xfe\x00h\x00i", "prompt from stdin: not valid UTF-8 text (byte 0xff"),
    (["caf\udce9"], None, "prompt: not valid UTF-8 text (byte 0xe9 at offset 3)"),
    (["hi", "--system", "s\udcff"], None, "--system: not valid UTF-8 text"),
    (["-"], b"   \n", "prompt: empty"),
    ([], None, "prompt: missing"),
], ids=["stdin-latin1", "stdin-utf16", "argument", "system", "empty", "missing"])
def test_bad_prompts_are_one_line(cli_run, library_model, args, stdin, reason) -> None:
    assert reason in one_line_error(cli_run("chat", "1", *args, input=stdin))


def test_bad_prompt_files_are_one_line(cli_run, library_model, tmp_path: Path) -> None:
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Grüße".encode("latin-1"))
    assert f"prompt file {latin}: not valid UTF-8" in one_line_error(
        cli_run("chat", "1", "--prompt-file", str(latin)))
    missing = tmp_path / "nope.txt"
    assert "cannot read (No such file or directory)" in one_line_error(
        cli_run("chat", "1", "--prompt-file", str(missing)))
    assert "not two of them" in one_line_error(
        cli_run("chat", "1", "hi", "--prompt-file", str(latin)))


def test_history_export_to_a_missing_folder(cli_run, db, tmp_path: Path) -> None:
    conversation = create_conversation(db, model_id=None, title="t")
    add_message(db, conversation, "user", "hello", parent_id=None)
    target = tmp_path / "missing" / "dir" / "x.md"
    line = one_line_error(cli_run("history", "export", str(conversation), "-o", str(target)))
    assert f"{target}: cannot write (the folder" in line
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    assert "cannot write" in one_line_error(
        cli_run("history", "export", str(conversation), "-o", str(a_file / "x.md")))
    good = tmp_path / "ok.md"
    assert cli_run("history", "export", str(conversation), "-o", str(good)).exit_code == 0
    assert "hello" in good.read_text() and not list(tmp_path.glob(".*.tmp"))


# --- the terminal ------------------------------------------------------------------------------

def test_visible_escapes_every_control() -> None:
    shown = visible(HOSTILE + "\r\n\t\x00\x7f\u200b\u2066")
    assert all(ord(c) >= 0x20 and not 0x7f <= ord(c) <= 0x9f for c in shown)
    assert "\\x1b]52;c;" in shown and "\\u202e" in shown and "\\x0d\\x0a" in shown


def test_the_guard_keeps_text_and_its_own_bold(capsys) -> None:
    import io

    out = io.StringIO()
    guard = TerminalGuard(out)  # type: ignore[arg-type]
    guard.write("\x1b[1mheading\x1b[0m line\n\ttab\r" + HOSTILE)
    text = out.getvalue()
    assert text.startswith("\x1b[1mheading\x1b[0m line\n\ttab\r")
    assert text.count("\x1b") == 2 and "\x9b" not in text and "\u202e" not in text
    with pytest.raises(TypeError):
        guard.write(b"bytes")  # type: ignore[arg-type]


def test_file_metadata_reaches_the_terminal_escaped(cli_run, model_path: Path, tmp_path: Path,
                                                     monkeypatch) -> None:
    """A licence and a name with escape sequences, shown by models add/list/show on a
    terminal: every sequence is visible, none reaches the terminal."""
    hostile = craft.rewrite_model(model_path, tmp_path / f"evil{'x'}.gguf", lambda head:
                                  craft.with_kv(craft.with_kv(
                                      head, "general.license", craft.STRING,
                                      craft.string(HOSTILE)),
                                      "general.architecture", craft.STRING,
                                      craft.string("llama")))
    monkeypatch.setattr(safe_text, "is_terminal", lambda stream: True)
    outputs = [cli_run("models", "add", str(hostile), "--name", "evil" + HOSTILE).output,
               cli_run("models", "list").output, cli_run("models", "show", "evil").output,
               cli_run("models", "show", "nothing" + HOSTILE).output]
    for output in outputs:
        assert "\x1b" not in output and "\x9b" not in output and "\u202e" not in output, output
    assert "\\x1b]52;c;" in outputs[2] and "\\u202e" in outputs[2]
    assert "Error:" in outputs[3] and "\\x1b]0;pwned" in outputs[3]


def test_output_to_a_pipe_is_left_alone(cli_run, library_model) -> None:
    assert sys.stdout is not None
    result = cli_run("models", "list", "--json")
    assert result.exit_code == 0 and "SmolLM2" in result.output


def test_redaction() -> None:
    assert redact("Authorization: Bearer hf_abcdefghijklmnop", None).count("hf_") == 0
    assert "s3cr3t-t0ken" not in redact("echo: s3cr3t-t0ken!", "s3cr3t-t0ken")
    assert redact("nothing secret here", None) == "nothing secret here"


# --- Markdown reports --------------------------------------------------------------------------

def test_markdown_escapes_raw_html() -> None:
    hostile = '<img src="https://tracker.example/p.gif"><script>alert(1)</script> & co'
    shown = _md(hostile)
    assert "<" not in shown and ">" not in shown and "&amp; co" in shown
    table = _md_table(["Contender"], [[hostile + " | x"]])
    assert "<script>" not in table and "\\|" in table


# --- sampling and load values ------------------------------------------------------------------

@pytest.mark.parametrize(("args", "name"), [
    (["--temperature", "nan"], "temperature"), (["--temperature", "inf"], "temperature"),
    (["--temperature", "-1"], "temperature"), (["--top-p", "nan"], "top_p"),
    (["--top-p", "-3"], "top_p"), (["--max-tokens", "-5"], "max_tokens"),
    (["--max-tokens", "0"], "max_tokens"),
])
def test_impossible_sampling_values_are_refused(cli_run, library_model, args, name) -> None:
    line = one_line_error(cli_run("chat", "1", "hi", *args))
    assert f"setting {name}=" in line and "must be" in line


@pytest.mark.parametrize(("item", "name"), [("use_mmap=maybe", "use_mmap"),
                                            ("n_batch=0", "n_batch"), ("top_k=-1", "top_k")])
def test_impossible_set_values_are_refused(cli_run, library_model, item, name) -> None:
    line = one_line_error(cli_run("compare", "-m", "1", "--set", item, "-m", "1", "--set",
                                  "seed=2", "--max-tokens", "2", "hi"))
    assert f"setting {name}=" in line


def test_the_check_is_the_core_s() -> None:
    """The window and the server build the same dataclasses: the same check holds there."""
    from workbench.engine.settings import LoadSettings, SamplingSettings
    from workbench.errors import InvalidInputError

    for bad in ({"temperature": float("nan")}, {"top_p": 1.5}, {"max_tokens": 0},
                {"min_p": float("-inf")}, {"temperature": True}):
        with pytest.raises(InvalidInputError):
            SamplingSettings(**bad)  # type: ignore[arg-type]
    for bad_load in ({"n_batch": 0}, {"use_mmap": "maybe"}, {"n_ctx": -1}):
        with pytest.raises(InvalidInputError):
            LoadSettings(**bad_load)  # type: ignore[arg-type]
    assert SamplingSettings(temperature=0, max_tokens=None).temperature == 0


# --- folders and files the system refuses ------------------------------------------------------

def test_a_data_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    folders = [a_file / "x", Path("/dev/null/x")]
    if sys.platform.startswith("linux"):
        folders.append(Path("/proc/foo"))  # FileNotFoundError there, not a permission error
    for folder in folders:
        result = CliRunner().invoke(cli, ["--data-dir", str(folder), "models", "list"])
        line = one_line_error(result)
        assert f"data folder {folder}: cannot create it (" in line


@pytest.mark.skipif(not Path("/proc/version").exists(), reason="needs /proc")
def test_history_export_into_proc_says_why(cli_run, db) -> None:
    conversation = create_conversation(db, model_id=None, title="t")
    add_message(db, conversation, "user", "hello", parent_id=None)
    line = one_line_error(cli_run("history", "export", str(conversation), "-o", "/proc/version"))
    assert "the folder /proc does not take new files" in line
    assert "No such file" not in line


def test_suite_add_with_a_byte_that_is_not_utf8(cli_run, db) -> None:
    assert cli_run("suite", "create", "s").exit_code == 0
    line = one_line_error(cli_run("suite", "add", "s", "x\udcff"))
    assert "'prompt' has a lone surrogate" in line


def test_ctrl_c_in_chat_keeps_the_reply_and_exits_130(library_model, workspace) -> None:
    """A real Ctrl+C (SIGINT to the process): the reply stops and is kept, the exit status is
    130 as for any interrupted command, and llama.cpp's lines about the aborted decode stay
    off the terminal (only the metrics line is said)."""
    import os
    import signal
    import subprocess

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench", "--data-dir", str(workspace.root), "chat", "1",
         "Write a long story about a cat.", "--max-tokens", "2000", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None
    process.stdout.read(8)  # the reply has begun
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "finish: stopped" in lines[0], lines
