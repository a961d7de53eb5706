"""Model files that would crash llama.cpp, refused at ``models add`` with one line.

Each file is the real test model rewritten (tests/gguf_craft.py, or the gguf package's own
reader for the vocabulary), so everything but the one fault is a real model.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import gguf_craft as craft
import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.errors import ModelFileError
from workbench.library import add_model, describe_file, list_models
from workbench.model_check import check_model

ROOT = Path(__file__).resolve().parents[2]


def _duplicate_token_model(model_path: Path, target: Path) -> tuple[Path, str]:
    """The test model with one token's string rewritten to equal another of the same length,
    written in place through the gguf package's memory map (offsets stay as they are)."""
    import gguf

    shutil.copyfile(model_path, target)
    reader = gguf.GGUFReader(target, "r+")
    field = reader.fields["tokenizer.ggml.tokens"]
    strings = [bytes(field.parts[i]) for i in field.data]
    first = 1000
    second = next(j for j in range(first + 1, len(strings))
                  if len(strings[j]) == len(strings[first]) and strings[j] != strings[first])
    field.parts[field.data[second]][:] = field.parts[field.data[first]]
    reader.data.flush()
    del reader
    return target, strings[first].decode("utf-8", errors="replace")


def _duplicate_after_a_nul_model(model_path: Path, target: Path) -> tuple[Path, int, int]:
    """A token rewritten to another token + ``\\0x...`` (same length as before): different
    bytes, but llama.cpp reads tokens as C strings, so it sees the other token twice."""
    import gguf

    shutil.copyfile(model_path, target)
    reader = gguf.GGUFReader(target, "r+")
    field = reader.fields["tokenizer.ggml.tokens"]
    strings = [bytes(field.parts[i]) for i in field.data]
    first = 1000
    second = next(j for j in range(first + 1, len(strings))
                  if len(strings[j]) >= len(strings[first]) + 2)
    padding = len(strings[second]) - len(strings[first]) - 1
    field.parts[field.data[second]][:] = list(strings[first] + b"\0" + b"x" * padding)
    reader.data.flush()
    del reader
    return target, first, second


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_the_real_model_passes_the_checks(model_path: Path, split_model: list[Path]) -> None:
    started = time.perf_counter()
    check_model([model_path])
    check_model(split_model)
    assert time.perf_counter() - started < 5.0


def test_duplicate_token_is_refused_at_models_add(model_path: Path, tmp_path: Path) -> None:
    bad, token = _duplicate_token_model(model_path, tmp_path / "dup-vocab.gguf")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "models", "add",
                                      str(bad)])
    line = one_line_error(result)
    assert "under two ids (1000 and" in line and repr(token) in line
    assert "llama.cpp would abort" in line and str(bad) in line


def test_a_duplicate_only_llama_cpp_sees_is_refused(model_path: Path, tmp_path: Path) -> None:
    bad, first, second = _duplicate_after_a_nul_model(model_path, tmp_path / "nul.gguf")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "models", "add",
                                      str(bad)])
    line = one_line_error(result)
    assert f"under two ids ({first} and {second})" in line and "llama.cpp would abort" in line


def test_duplicate_token_leaves_no_library_entry(db, model_path: Path, tmp_path: Path) -> None:
    bad, _ = _duplicate_token_model(model_path, tmp_path / "dup.gguf")
    before = [m.path for m in list_models(db)]
    with pytest.raises(ModelFileError, match="under two ids"):
        add_model(db, bad)
    assert [m.path for m in list_models(db)] == before


def test_per_token_array_shorter_than_the_vocabulary(model_path: Path, tmp_path: Path) -> None:
    scores = struct.pack("<IQ", craft.FLOAT32, 3) + struct.pack("<3f", 0.0, 0.0, 0.0)
    bad = craft.rewrite_model(model_path, tmp_path / "scores.gguf", lambda head: craft.with_kv(
        head, "tokenizer.ggml.scores", craft.ARRAY, scores))
    with pytest.raises(ModelFileError, match="tokenizer.ggml.scores has 3 entries for 49,152"):
        describe_file(bad)


def test_tokens_that_are_not_strings(model_path: Path, tmp_path: Path) -> None:
    def numbers(head: bytes) -> bytes:
        shape = craft.layout(head)
        entry = shape.entry("tokenizer.ggml.tokens")
        body = struct.pack("<IQ", craft.UINT32, 2) + struct.pack("<2I", 1, 2)
        return head[:entry.value_type_at] + struct.pack("<I", craft.ARRAY) + body + \
            head[entry.end:]

    bad = craft.rewrite_model(model_path, tmp_path / "numbers.gguf", numbers)
    with pytest.raises(ModelFileError, match="not an array of strings"):
        describe_file(bad)


def test_tensor_offsets_out_of_sequence(model_path: Path, tmp_path: Path) -> None:
    def shifted(head: bytes) -> bytes:
        entry = craft.tensor_entries(head)[5]
        (offset,) = struct.unpack_from("<Q", head, entry.offset_at)
        return craft.set_u64(head, entry.offset_at, offset + 64)

    bad = craft.rewrite_model(model_path, tmp_path / "offsets.gguf", shifted)
    with pytest.raises(ModelFileError, match="starts at data offset .* where llama.cpp expects"):
        describe_file(bad)


def test_tensor_named_twice(model_path: Path, tmp_path: Path) -> None:
    def twice(head: bytes) -> bytes:
        return craft.rename_tensor(head, 1, craft.tensor_entries(head)[0].name)

    bad = craft.rewrite_model(model_path, tmp_path / "twice.gguf", twice)
    with pytest.raises(ModelFileError, match="names 'token_embd.weight' twice|twice"):
        describe_file(bad)


def test_rewritten_but_sound_model_is_accepted(model_path: Path, tmp_path: Path) -> None:
    """The rewriting itself keeps a model valid (so the refusals above are the faults')."""
    good = craft.rewrite_model(model_path, tmp_path / "good.gguf", lambda head: craft.with_kv(
        head, "general.description", craft.STRING, craft.string("x" * 999)))
    row = describe_file(good)
    assert row["architecture"] == "llama" and row["parameters"] > 130e6


def test_split_count_of_four_billion_at_models_add(model_path: Path, tmp_path: Path) -> None:
    bad = craft.rewrite_model(model_path, tmp_path / "many-00001-of-00002.gguf",
                              lambda head: craft.with_kv(head, "split.count", craft.UINT32,
                                                         craft.value(craft.UINT32, 4_000_000_000)))
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "models", "add",
                                      str(bad)])
    line = one_line_error(result)
    assert "split.count: 4,000,000,000 is outside 0..1,000" in line
    assert time.perf_counter() - started < 10.0


# --- what llama.cpp says, and where -----------------------------------------------------------

def _workbench(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed command in its own process: Python's logging reaches the terminal there
    as it does for a user (in pytest its handlers would catch the lines first)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    env.pop("LLM_WORKBENCH_HOME", None)
    return subprocess.run([sys.executable, "-m", "workbench", "--data-dir", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_a_file_llama_cpp_cannot_load_says_why_in_one_line(model_path: Path,
                                                            tmp_path: Path) -> None:
    bad = craft.rewrite_model(model_path, tmp_path / "llala.gguf", lambda head: craft.with_kv(
        head, "general.architecture", craft.STRING, craft.string("llala")))
    home = tmp_path / "home"
    added = _workbench(home, "models", "add", str(bad), "--name", "llala")
    assert added.returncode == 0, added.stderr
    result = _workbench(home, "chat", "llala", "hi")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {bad}: llama.cpp could not load it (unknown model architecture: 'llala')"]
    verbose = _workbench(home, "--verbose", "chat", "llala", "hi")
    assert "workbench.llama: llama_model_load: error loading model" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_a_gemma_chat_keeps_llama_cpp_s_warnings_off_the_terminal(model_path: Path,
                                                                    tmp_path: Path) -> None:
    import gguf
    from gemma3_craft import write_gemma3

    gemma = write_gemma3(model_path, tmp_path / "gemma3.gguf", window=64)
    # As in real Gemma files, an end-of-turn token that is not typed "control": llama.cpp
    # warns that it is "probably a bug in the model" at every load.
    reader = gguf.GGUFReader(gemma, "r+")
    tokens = reader.fields["tokenizer.ggml.tokens"]
    end = next(i for i, part in enumerate(tokens.data)
               if bytes(tokens.parts[part]) == b"<|im_end|>")
    types = reader.fields["tokenizer.ggml.token_type"]
    types.parts[types.data[end]][0] = 1  # NORMAL
    reader.data.flush()
    del reader
    home = tmp_path / "home"
    assert _workbench(home, "models", "add", str(gemma), "--name", "gemma").returncode == 0
    result = _workbench(home, "chat", "gemma", "hi", "--max-tokens", "2", "--ctx", "256",
                        "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "control-looking" not in result.stderr and "probably a bug" not in result.stderr
    for line in result.stderr.strip().splitlines():  # the base-model note, the metrics
        assert line.startswith(("note: ", "[conversation 1] ")), result.stderr
