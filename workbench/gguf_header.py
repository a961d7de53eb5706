"""Read a GGUF file's header without loading its weights.

``gguf.GGUFReader`` memory-maps the file and parses every array, the whole vocabulary
included, which takes seconds for a large tokenizer and needs the whole file on disk. Listing
models, and judging a file on the Hub from its first megabytes (HTTP Range requests), needs a
reader that streams the header and skips large arrays unless asked for them. The type codes,
file types and quantization block sizes come from the ``gguf`` package, so they stay in step
with llama.cpp.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, LlamaFileType

from workbench.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
#: Arrays longer than this are skipped (only their length is kept) unless asked for by key.
SMALL_ARRAY = 64

_SCALARS: dict[int, struct.Struct] = {
    GGUFValueType.UINT8: struct.Struct("<B"),
    GGUFValueType.INT8: struct.Struct("<b"),
    GGUFValueType.UINT16: struct.Struct("<H"),
    GGUFValueType.INT16: struct.Struct("<h"),
    GGUFValueType.UINT32: struct.Struct("<I"),
    GGUFValueType.INT32: struct.Struct("<i"),
    GGUFValueType.FLOAT32: struct.Struct("<f"),
    GGUFValueType.BOOL: struct.Struct("<?"),
    GGUFValueType.UINT64: struct.Struct("<Q"),
    GGUFValueType.INT64: struct.Struct("<q"),
    GGUFValueType.FLOAT64: struct.Struct("<d"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class _Truncated(Exception):
    """The stream ended inside the header."""


@dataclass
class SkippedArray:
    """Stands in for an array that was not read: its element type and length."""

    item_type: int
    length: int


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def n_bytes(self) -> int:
        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(self.ggml_type)]
        return self.n_elements // block * size


@dataclass
class GGUFHeader:
    """Everything in a GGUF file before its tensor data."""

    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(default_factory=list)
    #: Bytes from the start of the file to the first tensor's data.
    data_offset: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str:
        return str(self.get("general.architecture", "unknown"))

    def arch_value(self, suffix: str, default: Any = None) -> Any:
        """A per-architecture key such as ``llama.context_length``."""
        return self.get(f"{self.architecture}.{suffix}", default)

    @property
    def context_length(self) -> int | None:
        value = self.arch_value("context_length")
        return int(value) if value is not None else None

    @property
    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def quantization(self) -> str:
        """The file type llama.cpp wrote (``Q4_K_M``...), else the most common tensor type."""
        file_type = self.get("general.file_type")
        if file_type is not None:
            try:
                return LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_")
            except ValueError:
                pass
        counts: dict[str, int] = {}
        for tensor in self.tensors:
            name = GGMLQuantizationType(tensor.ggml_type).name
            counts[name] = counts.get(name, 0) + tensor.n_elements
        return max(counts, key=lambda k: counts[k]) if counts else "unknown"

    @property
    def chat_template(self) -> str | None:
        value = self.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def data_size(self) -> int:
        """Bytes of tensor data the header promises (so the whole file is ``data_offset`` more)."""
        if not self.tensors:
            return 0
        last = max(self.tensors, key=lambda t: t.offset)
        return last.offset + last.n_bytes

    @property
    def expected_file_size(self) -> int:
        return self.data_offset + self.data_size


class _Reader:
    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.position = 0

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise _Truncated
        self.position += size
        return data

    def skip(self, size: int) -> None:
        if size <= 0:
            return
        seek = getattr(self.stream, "seek", None)
        if seek is not None and getattr(self.stream, "seekable", lambda: False)():
            self.stream.seek(size, 1)
            self.position += size
        else:
            while size:
                chunk = self.read(min(size, 1 << 20))
                size -= len(chunk)

    def u32(self) -> int:
        return int(_U32.unpack(self.read(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.read(8))[0])

    def string(self) -> str:
        return self.read(self.u64()).decode("utf-8", errors="replace")

    def value(self, value_type: int, keep_array: bool) -> Any:
        if value_type in _SCALARS:
            scalar = _SCALARS[value_type]
            return scalar.unpack(self.read(scalar.size))[0]
        if value_type == GGUFValueType.STRING:
            return self.string()
        if value_type == GGUFValueType.ARRAY:
            item_type = self.u32()
            length = self.u64()
            if keep_array or length <= SMALL_ARRAY:
                return self.array(item_type, length)
            self.skip_array(item_type, length)
            return SkippedArray(item_type, length)
        raise ValueError(f"unknown GGUF value type {value_type}")

    def array(self, item_type: int, length: int) -> list[Any]:
        if item_type in _SCALARS:
            scalar = _SCALARS[item_type]
            raw = self.read(scalar.size * length)
            return [v[0] for v in scalar.iter_unpack(raw)]
        return [self.value(item_type, keep_array=True) for _ in range(length)]

    def skip_array(self, item_type: int, length: int) -> None:
        if item_type in _SCALARS:
            self.skip(_SCALARS[item_type].size * length)
        elif item_type == GGUFValueType.STRING:
            for _ in range(length):
                self.skip(self.u64())
        else:
            for _ in range(length):
                self.value(item_type, keep_array=False)


def parse_header(
    stream: IO[bytes], *, keep_arrays: Iterable[str] = (), name: str = "file"
) -> GGUFHeader:
    """Parse a GGUF header from a binary stream positioned at the file's start.

    ``name`` is used in error messages; ``keep_arrays`` names the large arrays to read in full
    (for example ``tokenizer.ggml.tokens`` to look for special tokens).
    """
    keep = set(keep_arrays)
    reader = _Reader(stream)
    try:
        magic = reader.read(4)
        if magic != GGUF_MAGIC:
            raise ModelFileError(f"{name}: not a GGUF file (it does not start with 'GGUF')")
        version = reader.u32()
        if version not in (2, 3):
            raise ModelFileError(f"{name}: unsupported GGUF version {version}")
        tensor_count = reader.u64()
        kv_count = reader.u64()
        if tensor_count > 1_000_000 or kv_count > 1_000_000:
            raise ModelFileError(f"{name}: corrupt GGUF header (implausible counts)")
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = reader.string()
            metadata[key] = reader.value(reader.u32(), keep_array=key in keep)
        tensors = []
        for _ in range(tensor_count):
            tensor_name = reader.string()
            n_dims = reader.u32()
            shape = tuple(reader.u64() for _ in range(n_dims))
            ggml_type = reader.u32()
            tensors.append(TensorInfo(tensor_name, shape, ggml_type, reader.u64()))
    except _Truncated:
        raise ModelFileError(f"{name}: truncated GGUF file (it ends inside the header)") from None
    except (ValueError, KeyError, UnicodeDecodeError, struct.error) as error:
        raise ModelFileError(f"{name}: corrupt GGUF header ({error})") from None
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT)) or DEFAULT_ALIGNMENT
    data_offset = -(-reader.position // alignment) * alignment
    return GGUFHeader(version, metadata, tensors, data_offset)


def read_header(path: str | Path, *, keep_arrays: Iterable[str] = ()) -> GGUFHeader:
    """Read and check a local GGUF file's header; a bad file raises :class:`ModelFileError`.

    The check is the same one llama.cpp would fail on later, made cheaply up front: the file
    exists, is not empty, is GGUF, and is as long as its tensor table says.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ModelFileError(f"{name}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{name}: is a folder, not a GGUF file")
    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(f"{name}: the file is empty")
    try:
        with path.open("rb", buffering=1 << 20) as stream:
            header = parse_header(stream, keep_arrays=keep_arrays, name=name)
    except OSError as error:
        raise ModelFileError(f"{name}: cannot be read ({error.strerror or error})") from None
    if header.tensors and size < header.expected_file_size:
        raise ModelFileError(
            f"{name}: truncated GGUF file ({size:,} bytes, the header promises "
            f"{header.expected_file_size:,})"
        )
    return header


# --- split models ----------------------------------------------------------------------------

#: llama.cpp's names for the parts of a split model (``llama_split_path``): NAME-00001-of-00003.gguf
_SPLIT = re.compile(r"^(?P<base>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


def split_info(name: str) -> tuple[str, int, int] | None:
    """(base, part number, part count) for ``x-00001-of-00003.gguf``, else None. A path in a
    repository keeps its folder in the base, so same-named splits in two folders stay apart."""
    match = _SPLIT.match(name)
    if not match:
        return None
    return match["base"], int(match["index"]), int(match["count"])


def split_name(base: str, number: int, count: int) -> str:
    """The name of part ``number`` (from 1) of ``count``, as llama.cpp looks for it."""
    return f"{base}-{number:05d}-of-{count:05d}.gguf"


def split_parts(path: Path, header: GGUFHeader) -> list[Path]:
    """Every part of the model ``path`` begins (just ``[path]`` for a single file). llama.cpp
    is given the first part and opens the others by name, so all must be there, side by side.
    Raises ModelFileError for a later part or a missing one."""
    count = int(header.get("split.count") or 1)
    if count <= 1:
        return [path]
    number = int(header.get("split.no") or 0) + 1
    info = split_info(path.name)
    if info is None:
        raise ModelFileError(f"{path}: part {number} of a {count}-part model, but not named "
                             "NAME-00001-of-0000N.gguf, so its other parts cannot be found")
    base = info[0]
    parts = [path.with_name(split_name(base, i, count)) for i in range(1, count + 1)]
    if number != 1:
        raise ModelFileError(f"{path}: part {number} of {count} of a split model; add the first "
                             f"part, {parts[0].name}")
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise ModelFileError(f"{path}: split model with {count} parts; missing "
                             f"{', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}")
    return parts
