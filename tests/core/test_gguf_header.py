import io
import random
import resource
import struct
import time
import tracemalloc
from pathlib import Path

import gguf_craft as craft
import pytest

from workbench.errors import ModelFileError, WorkbenchError
from workbench.gguf_header import MAX_SPLIT_PARTS, SkippedArray, parse_header, read_header


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


# --- crafted headers: every count and length bounded, every field typed ----------------------
# Each case rewrites the real test model's header (tests/gguf_craft.py) and must end in one
# line that names the file, quickly and without growing memory.

@pytest.fixture(scope="module")
def head(model_path: Path) -> bytes:
    """The real header (and a little of the data after it)."""
    data = craft.head_bytes(model_path)
    assert craft.layout(data).header_end < len(data)
    return data


def _first_tensor_dims_at(data: bytes) -> int:
    start = craft.layout(data).tensors_start
    (length,) = struct.unpack_from("<Q", data, start)
    return start + 8 + length


def _nested_arrays(depth: int) -> bytes:
    """ARRAY of one ARRAY of one ARRAY ... of nothing, ``depth`` levels."""
    return b"".join(struct.pack("<IQ", craft.ARRAY, 1) for _ in range(depth - 1)) + \
        struct.pack("<IQ", craft.UINT8, 0)


def _crafted(head: bytes) -> dict[str, tuple[bytes, str]]:
    shape = craft.layout(head)
    tokens = shape.entry("tokenizer.ggml.tokens")
    first_key = shape.entries[0]
    dims_at = _first_tensor_dims_at(head)
    u32, u64, text = craft.UINT32, craft.UINT64, craft.STRING
    return {
        "split-count-4e9": (craft.with_kv(head, "split.count", u32,
                                          craft.value(u32, 4_000_000_000)), "split.count"),
        "split-no-past-count": (craft.with_kv(craft.with_kv(
            head, "split.count", craft.UINT16, craft.value(craft.UINT16, 3)),
            "split.no", craft.UINT16, craft.value(craft.UINT16, 7)), "split.no"),
        "key-count-2^40": (craft.set_u64(head, 16, 1 << 40), "implausible counts"),
        "tensor-count-900k": (craft.set_u64(head, 8, 900_000), "tensor count"),
        "key-length-2^63": (craft.set_u64(head, first_key.start, 1 << 63), "a string of"),
        "key-length-past-file": (craft.set_u64(head, first_key.start, 50 << 20), "a string of"),
        "token-count-2^62": (craft.set_u64(head, tokens.value_at + 4, 1 << 62), "an array"),
        "token-count-past-file": (craft.set_u64(head, tokens.value_at + 4, 10_000_000),
                                  "an array"),
        "token-length-2^64": (craft.set_u64(head, tokens.value_at + 12, (1 << 64) - 1),
                              "a string of"),
        "nested-10000-deep": (craft.with_kv(head, "x.nested", craft.ARRAY,
                                            _nested_arrays(10_000)), "nested more than"),
        "unknown-value-type": (craft.with_kv(head, "x.odd", 99, b"\0" * 8), "value type 99"),
        "unknown-array-type": (craft.with_kv(head, "x.odd", craft.ARRAY,
                                             struct.pack("<IQ", 77, 3)), "value type 77"),
        "context-length-string": (craft.with_kv(head, "llama.context_length", text,
                                                craft.value(text, "lots")),
                                  "llama.context_length: expected an integer"),
        "context-length-2^64": (craft.with_kv(head, "llama.context_length", u64,
                                              craft.value(u64, (1 << 64) - 1)),
                                "llama.context_length"),
        "context-length-float": (craft.with_kv(head, "llama.context_length", craft.FLOAT32,
                                               craft.value(craft.FLOAT32, 1.5)),
                                 "found a number with a fraction"),
        "architecture-number": (craft.with_kv(head, "general.architecture", u32,
                                              craft.value(u32, 7)),
                                "general.architecture: expected a string"),
        "name-array": (craft.with_kv(head, "general.name", craft.ARRAY,
                                     struct.pack("<IQ", craft.UINT8, 2) + b"ab"),
                       "general.name: expected a string"),
        "alignment-zero": (craft.with_kv(head, "general.alignment", u32, craft.value(u32, 0)),
                           "general.alignment"),
        "alignment-not-power-of-two": (craft.with_kv(head, "general.alignment", u32,
                                                     craft.value(u32, 48)), "power of two"),
        "alignment-string": (craft.with_kv(head, "general.alignment", text,
                                           craft.value(text, "32")), "general.alignment"),
        "file-type-string": (craft.with_kv(head, "general.file_type", text,
                                           craft.value(text, "Q4")), "general.file_type"),
        "tensor-dims-1000": (head[:dims_at] + struct.pack("<I", 1000) + head[dims_at + 4:],
                             "1000 dimensions"),
        "tensor-dim-2^63": (craft.set_u64(head, dims_at + 4, 1 << 63), "tensor '"),
        "tensor-type-999": (_with_first_tensor_type(head, dims_at, 999), "unknown tensor type"),
        "version-99": (head[:4] + struct.pack("<I", 99) + head[8:], "unsupported GGUF version"),
        "ends-in-tensor-table": (head[:craft.layout(head).tensors_start + 20],
                                 "ends inside the header"),
    }


def _with_first_tensor_type(head: bytes, dims_at: int, ggml_type: int) -> bytes:
    (n_dims,) = struct.unpack_from("<I", head, dims_at)
    at = dims_at + 4 + 8 * n_dims
    return head[:at] + struct.pack("<I", ggml_type) + head[at + 4:]


CRAFTED = ["split-count-4e9", "split-no-past-count", "key-count-2^40", "tensor-count-900k",
           "key-length-2^63", "key-length-past-file", "token-count-2^62",
           "token-count-past-file", "token-length-2^64", "nested-10000-deep",
           "unknown-value-type", "unknown-array-type", "context-length-string",
           "context-length-2^64", "context-length-float", "architecture-number", "name-array",
           "alignment-zero", "alignment-not-power-of-two", "alignment-string",
           "file-type-string", "tensor-dims-1000", "tensor-dim-2^63", "tensor-type-999",
           "version-99", "ends-in-tensor-table"]


#: Cases where the header claims a size or count: what they claim must never be allocated.
CLAIMS = {"split-count-4e9", "key-count-2^40", "tensor-count-900k", "key-length-2^63",
          "key-length-past-file", "token-count-2^62", "token-count-past-file",
          "token-length-2^64", "nested-10000-deep", "tensor-dim-2^63"}


@pytest.mark.parametrize("case", CRAFTED)
def test_crafted_header_is_refused_in_one_line_quickly(tmp_path: Path, head: bytes,
                                                       case: str) -> None:
    data, reason = _crafted(head)[case]
    path = craft.write(tmp_path / f"{case}.gguf", data)
    started = time.perf_counter()
    with pytest.raises(ModelFileError) as error:
        read_header(path)
    elapsed = time.perf_counter() - started
    message = str(error.value)
    assert reason in message, message
    assert str(path) in message and "\n" not in message
    assert elapsed < 2.0, f"{case}: {elapsed:.2f} s"
    if case in CLAIMS:  # tracing makes the reader ~20 times slower: only where size is claimed
        tracemalloc.start()
        try:
            with pytest.raises(ModelFileError):
                read_header(path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 16 << 20, f"{case}: {peak / 1e6:.0f} MB allocated"


def test_split_count_is_bounded(tmp_path: Path, head: bytes) -> None:
    at_bound = craft.with_kv(head, "split.count", craft.UINT16,
                             craft.value(craft.UINT16, MAX_SPLIT_PARTS))
    header = parse_header(io.BytesIO(at_bound), name="x")
    assert header.get("split.count") == MAX_SPLIT_PARTS
    past = craft.with_kv(head, "split.count", craft.UINT16,
                         craft.value(craft.UINT16, MAX_SPLIT_PARTS + 1))
    with pytest.raises(ModelFileError, match="split.count: 1,001 is outside 0..1,000"):
        parse_header(io.BytesIO(past), name="x")


def test_streamed_arrays_reach_the_visitor_and_are_not_kept(model_path: Path) -> None:
    seen: list[bytes] = []
    with model_path.open("rb") as stream:
        header = parse_header(stream, visit={"tokenizer.ggml.tokens":
                                             lambda i, token: seen.append(token)})
    tokens = header.get("tokenizer.ggml.tokens")
    assert isinstance(tokens, SkippedArray) and tokens.length == len(seen) > 40_000
    assert b"<|im_start|>" in seen


# --- fuzzing ---------------------------------------------------------------------------------

FUZZ_CASES = 300
_NASTY = [0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 32, 1 << 40, 1 << 62, (1 << 63) - 1,
          (1 << 64) - 1]


def _mutate(data: bytes, rng: random.Random, points: list[int]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        if kind < 0.35:  # a count or a length replaced by a hostile number
            at = rng.choice(points)
            if at + 8 <= len(out):
                struct.pack_into("<Q", out, at, rng.choice(_NASTY))
        elif kind < 0.55:  # a type code changed
            at = rng.choice(points) + 8
            if at + 4 <= len(out):
                struct.pack_into("<I", out, at, rng.randrange(0, 20))
        elif kind < 0.8:  # random bytes flipped
            for _ in range(rng.randint(1, 16)):
                out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind < 0.9:  # cut short
            del out[rng.randrange(24, len(out)):]
        else:  # a slice repeated (shifts everything after it)
            start = rng.randrange(24, len(out) - 64)
            out[start:start] = out[start:start + rng.randint(1, 64)]
    return bytes(out)


def test_fuzzed_headers_parse_or_fail_in_one_line(tmp_path: Path, head: bytes) -> None:
    """A few hundred seeded mutations of the real header: each is a parsed header or a
    WorkbenchError, in bounded time and memory; never another exception."""
    shape = craft.layout(head)
    # Where lengths and counts sit: the head, each key's length and each value's start.
    points = [8, 16] + [e.start for e in shape.entries] + [e.value_at for e in shape.entries]
    points = [p for p in points if p + 8 <= len(head)]
    rng = random.Random(20261201)
    outcomes = {"parsed": 0, "refused": 0}
    slowest = 0.0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    for number in range(FUZZ_CASES):
        data = _mutate(head, rng, points)
        one = time.perf_counter()
        try:
            if number % 10 == 0:  # some through the file path, the rest in memory
                read_header(craft.write(tmp_path / "fuzz.gguf", data))
            else:
                parse_header(io.BytesIO(data), name="fuzz")
            outcomes["parsed"] += 1
        except WorkbenchError as error:
            assert "\n" not in str(error)
            outcomes["refused"] += 1
        slowest = max(slowest, time.perf_counter() - one)
    total = time.perf_counter() - started
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before  # KiB on Linux
    print(f"fuzz: {FUZZ_CASES} cases in {total:.1f} s (slowest {slowest:.2f} s), {outcomes}, "
          f"peak RSS grew {grown / 1024:.0f} MB")
    assert outcomes["refused"] > FUZZ_CASES // 4
    assert slowest < 5.0
    assert total < 60.0
    assert grown < 256 * 1024
