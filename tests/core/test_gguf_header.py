from pathlib import Path

import pytest

from workbench.errors import ModelFileError
from workbench.gguf_header import SkippedArray, read_header


def test_reads_the_real_model_header(model_path: Path) -> None:
    header = read_header(model_path)
    assert header.architecture == "llama"
    assert header.quantization == "Q4_1"
    assert header.context_length == 8192
    assert 130e6 < header.parameter_count < 140e6
    assert header.chat_template and "<|im_start|>" in header.chat_template
    assert header.expected_file_size == model_path.stat().st_size
    # The vocabulary is skipped unless asked for.
    assert isinstance(header.get("tokenizer.ggml.tokens"), SkippedArray)


def test_agrees_with_the_gguf_package(model_path: Path) -> None:
    from gguf import GGUFReader

    reference = GGUFReader(model_path)
    header = read_header(model_path, keep_arrays=["tokenizer.ggml.tokens"])
    assert len(header.tensors) == len(reference.tensors)
    assert header.data_offset == reference.data_offset
    assert sum(t.n_elements for t in reference.tensors) == header.parameter_count
    tokens = header.get("tokenizer.ggml.tokens")
    assert len(tokens) == reference.fields["tokenizer.ggml.tokens"].data.__len__()
    assert "<|im_start|>" in tokens


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p, src: None, "no such file"),
        (lambda p, src: p.write_bytes(b""), "the file is empty"),
        (lambda p, src: p.write_text("hello, I am not a model"), "not a GGUF file"),
        (lambda p, src: p.write_bytes(src.read_bytes()[:5000]), "ends inside the header"),
        (lambda p, src: p.write_bytes(src.read_bytes()[:40_000_000]), "truncated GGUF file"),
        (lambda p, src: p.mkdir(), "is a folder"),
    ],
    ids=["missing", "empty", "not-gguf", "truncated-header", "truncated-data", "folder"],
)
def test_bad_files_get_a_one_line_reason(tmp_path: Path, model_path: Path, make, reason) -> None:
    bad = tmp_path / "bad.gguf"
    make(bad, model_path)
    with pytest.raises(ModelFileError) as error:
        read_header(bad)
    message = str(error.value)
    assert reason in message
    assert str(bad) in message
    assert "\n" not in message
