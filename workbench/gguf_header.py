"""Read a GGUF file's header without loading its weights.

``gguf.GGUFReader`` memory-maps the file and parses every array, the whole vocabulary
included, which takes seconds for a large tokenizer and needs the whole file on disk. Listing
models, and judging a file on the Hub from its first megabytes (HTTP Range requests), needs a
reader that streams the header and skips large arrays unless asked for them. The type codes,
file types and quantization block sizes come from the ``gguf`` package, so they stay in step
with llama.cpp.

Whole because the reader, the bounds it holds against a crafted file and the checks of what
it read are one pass over one format, sharing its limits and type sizes: none reads a header
alone, and each is read against the others.
"""

from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, LlamaFileType

from workbench.errors import ModelFileError
from workbench.safe_text import visible

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
#: Arrays longer than this are skipped (only their length is kept) unless asked for by key.
SMALL_ARRAY = 64
#: Bounds that hold before anything is allocated, whatever a header claims. Every length is
#: also bounded by the bytes left in the file, so a crafted count cannot make the reader
#: allocate (or loop) more than the file itself could hold.
MAX_TENSORS = 1_000_000
MAX_KEYS = 1_000_000
MAX_STRING = 256 << 20  # an embedded tokenizer.json can be tens of MB, never this
#: How much of a string array is read at once (see ``_Reader.strings``).
STRING_BLOCK = 256 << 10
#: The string loop is pure Python: run in a worker thread (a model added after a download,
#: a memory estimate) it would hold the GIL for 100 ms and more while the window's thread
#: needs it for every Qt callback. It steps aside for a moment every 512 strings (0.4 ms of
#: work), which costs a 50k-token vocabulary about 50 ms and keeps the window's ticks on time.
YIELD_EVERY = 511
YIELD_S = 0.0005
MAX_DEPTH = 4  # arrays of arrays; llama.cpp itself writes none
MAX_DIMS = 4  # GGML_MAX_DIMS: llama.cpp refuses more
#: llama.cpp names parts NAME-%05d-of-%05d; no real model has more than a few dozen.
MAX_SPLIT_PARTS = 1000
#: What SQLite (a signed 64-bit integer) and llama.cpp (int64 element counts) can hold.
MAX_INT64 = (1 << 63) - 1

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
    """The stream ended inside the header (or a length claims more than is left of it)."""


class _Corrupt(Exception):
    """A count, length or value that the file cannot hold; the message says which."""


def _min_item_size(item_type: int) -> int:
    """The fewest bytes one array element of this type takes (so length * this <= bytes left)."""
    if item_type in _SCALARS:
        return _SCALARS[item_type].size
    if item_type == GGUFValueType.STRING:
        return 8
    if item_type == GGUFValueType.ARRAY:
        return 12
    raise _Corrupt(f"unknown GGUF value type {item_type}")


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
        """Bytes of data; the type is checked when the header is parsed."""
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


#: Receives each element of a streamed array: (index, value); strings come as raw bytes.
ArrayVisitor = Callable[[int, Any], None]


class _Reader:
    def __init__(self, stream: IO[bytes], size: int | None) -> None:
        self.stream = stream
        self.position = 0
        #: The file's size when known: every length is checked against what is left of it.
        self.size = size

    def remaining(self) -> int | None:
        return None if self.size is None else self.size - self.position

    def bound(self, count: int, item_size: int, what: str) -> None:
        """Refuse ``count`` items of ``item_size`` bytes that cannot fit in the rest of the
        file, before anything is allocated or looped over."""
        left = self.remaining()
        if left is not None and count * item_size > left:
            raise _Truncated(f"{what} of {count:,} items at offset {self.position:,} cannot fit "
                           f"in the {left:,} bytes left in the file")

    def read(self, size: int) -> bytes:
        left = self.remaining()
        if left is not None and size > left:
            raise _Truncated
        data = self.stream.read(size)
        if len(data) != size:
            raise _Truncated
        self.position += size
        return data

    def skip(self, size: int) -> None:
        if size <= 0:
            return
        left = self.remaining()
        if left is not None and size > left:
            raise _Truncated
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

    def string_length(self) -> int:
        length = self.u64()
        left = self.remaining()
        if length > MAX_STRING:
            raise _Corrupt(f"a string of {length:,} bytes at offset {self.position - 8:,} "
                           f"(the limit is {MAX_STRING >> 20} MiB)")
        if left is not None and length > left:
            raise _Truncated(f"a string of {length:,} bytes at offset {self.position - 8:,} "
                             f"cannot fit in the {left:,} bytes left in the file")
        return length

    def raw_string(self) -> bytes:
        return self.read(self.string_length())

    def string(self) -> str:
        return self.raw_string().decode("utf-8", errors="replace")

    def value(self, value_type: int, keep_array: bool, depth: int = 0,
              visit: ArrayVisitor | None = None) -> Any:
        if value_type in _SCALARS:
            scalar = _SCALARS[value_type]
            return scalar.unpack(self.read(scalar.size))[0]
        if value_type == GGUFValueType.STRING:
            return self.string()
        if value_type == GGUFValueType.ARRAY:
            if depth >= MAX_DEPTH:
                raise _Corrupt(f"arrays nested more than {MAX_DEPTH} deep")
            item_type = self.u32()
            length = self.u64()
            self.bound(length, _min_item_size(item_type), "an array")
            if visit is not None:
                self.visit_array(item_type, length, visit, depth)
                return SkippedArray(item_type, length)
            if keep_array or length <= SMALL_ARRAY:
                return self.array(item_type, length, depth)
            self.skip_array(item_type, length, depth)
            return SkippedArray(item_type, length)
        raise _Corrupt(f"unknown GGUF value type {value_type}")

    def array(self, item_type: int, length: int, depth: int) -> list[Any]:
        if item_type in _SCALARS:
            scalar = _SCALARS[item_type]
            raw = self.read(scalar.size * length)
            return [v[0] for v in scalar.iter_unpack(raw)]
        if item_type == GGUFValueType.STRING:
            items: list[Any] = []
            self.strings(length, lambda _, raw: items.append(raw.decode("utf-8", "replace")))
            return items
        return [self.value(item_type, True, depth + 1) for _ in range(length)]

    def visit_array(self, item_type: int, length: int, visit: ArrayVisitor, depth: int) -> None:
        """Hand each element to ``visit`` without keeping the array (a vocabulary of 256k
        tokens checked in constant memory beyond what the visitor keeps)."""
        if item_type == GGUFValueType.STRING:
            self.strings(length, visit)
            return
        for index in range(length):
            visit(index, self.value(item_type, False, depth + 1))

    def skip_array(self, item_type: int, length: int, depth: int) -> None:
        if item_type in _SCALARS:
            self.skip(_SCALARS[item_type].size * length)
        elif item_type == GGUFValueType.STRING:
            self.strings(length, None)
        else:
            for _ in range(length):
                self.value(item_type, False, depth + 1)

    def strings(self, length: int, visit: ArrayVisitor | None) -> None:
        """Skip (or hand to ``visit``, as raw bytes) ``length`` strings. The vocabulary and
        merges are 100k strings in a small model, so this is the reader's inner loop: kept
        tight, with each length still checked against the limit and the bytes left."""
        seekable = getattr(self.stream, "seekable", lambda: False)()
        if not seekable:
            for index in range(length):
                if visit is None:
                    self.skip(self.string_length())
                else:
                    visit(index, self.raw_string())
            return
        # Walk the strings in blocks read at once: a read and a seek per string (250k of
        # them in a large vocabulary) kept a worker thread on the GIL for 100 ms and more,
        # which the window felt. At most one block is read past the array, then given back.
        read, seek, unpack_from = self.stream.read, self.stream.seek, _U64.unpack_from
        left = self.remaining()
        buffer, offset, walked = b"", 0, 0
        for index in range(length):
            if not index & YIELD_EVERY:
                time.sleep(YIELD_S)
            if len(buffer) - offset < 8:
                buffer, offset = buffer[offset:] + read(STRING_BLOCK), 0
                if len(buffer) < 8:
                    self._give_back(len(buffer), walked)
                    raise _Truncated
            size = unpack_from(buffer, offset)[0]
            if size > MAX_STRING or (left is not None and walked + 8 + size > left):
                self._give_back(len(buffer) - offset, walked)
                self.string_length()  # raises, with the message for this length
            end = offset + 8 + size
            if end > len(buffer):
                if visit is None:  # skip the rest of this string without reading it
                    seek(end - len(buffer), 1)
                    buffer, offset = b"", 0
                    walked += 8 + size
                    continue
                buffer, offset = buffer[offset:] + read(max(STRING_BLOCK, end - offset)), 0
                end = 8 + size
                if end > len(buffer):
                    self._give_back(len(buffer), walked)
                    raise _Truncated
            if visit is not None:
                visit(index, buffer[offset + 8:end])
            offset = end
            walked += 8 + size
        self._give_back(len(buffer) - offset, walked)

    def _give_back(self, unread: int, walked: int) -> None:
        """After a block walk: the stream back to just after what was walked."""
        if unread:
            self.stream.seek(-unread, 1)
        self.position += walked


def _stream_size(stream: IO[bytes]) -> int | None:
    """The size of a local file or of a :class:`~workbench.hub.remote_header.RangeFile`."""
    size = getattr(stream, "size", None)
    if isinstance(size, int) or hasattr(stream, "size"):
        return size if isinstance(size, int) else None
    try:
        return os.fstat(stream.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        pass
    try:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
        return end
    except (AttributeError, OSError, ValueError):
        return None


def parse_header(
    stream: IO[bytes], *, keep_arrays: Iterable[str] = (), name: str = "file",
    size: int | None = None, visit: Mapping[str, ArrayVisitor] | None = None,
) -> GGUFHeader:
    """Parse a GGUF header from a binary stream positioned at the file's start.

    ``name`` is used in error messages; ``keep_arrays`` names the large arrays to read in full
    (for example ``tokenizer.ggml.tokens`` to look for special tokens); ``visit`` names arrays
    whose elements are handed, one by one, to a function instead of being kept. ``size`` (the
    file's length, found from the stream when not given) bounds every count and length, so a
    crafted header is refused before anything is allocated.
    """
    keep = set(keep_arrays)
    visitors = dict(visit or {})
    reader = _Reader(stream, size if size is not None else _stream_size(stream))
    key = "header"
    try:
        magic = reader.read(4)
        if magic != GGUF_MAGIC:
            raise ModelFileError(f"{name}: not a GGUF file (it does not start with 'GGUF')")
        version = reader.u32()
        if version not in (2, 3):
            raise ModelFileError(f"{name}: unsupported GGUF version {version}")
        tensor_count = reader.u64()
        kv_count = reader.u64()
        if tensor_count > MAX_TENSORS or kv_count > MAX_KEYS:
            raise _Corrupt(f"implausible counts ({tensor_count:,} tensors, {kv_count:,} keys)")
        reader.bound(kv_count, 13, "the key count")  # key length, type, one byte of value
        reader.bound(tensor_count, 24, "the tensor count")
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = "a key name"
            key = reader.string()
            metadata[key] = reader.value(reader.u32(), key in keep, visit=visitors.get(key))
        tensors = []
        for index in range(tensor_count):
            key = f"tensor {index}"
            tensor_name = reader.string()
            key = f"tensor '{tensor_name[:80]}'"
            n_dims = reader.u32()
            if n_dims > MAX_DIMS:
                raise _Corrupt(f"{n_dims} dimensions (llama.cpp allows {MAX_DIMS})")
            shape = tuple(reader.u64() for _ in range(n_dims))
            ggml_type = reader.u32()
            tensors.append(_checked_tensor(tensor_name, shape, ggml_type, reader.u64()))
        key = "header"
        _check_known_fields(metadata)
    except _Truncated as error:
        detail = f": {error}" if str(error) else ""
        raise ModelFileError(visible(f"{name}: truncated GGUF file (it ends inside the header"
                                     f"{detail})")) from None
    except _Corrupt as error:
        where = "" if key == "header" else f"{key[:80]}: "
        raise ModelFileError(visible(f"{name}: corrupt GGUF header ({where}{error})")) from None
    except (ValueError, KeyError, UnicodeDecodeError, struct.error, OverflowError,
            MemoryError, RecursionError) as error:
        reason = str(error) or type(error).__name__
        where = "" if key == "header" else f"{key[:80]}: "
        raise ModelFileError(visible(f"{name}: corrupt GGUF header ({where}{reason[:120]})")
                             ) from None
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    data_offset = -(-reader.position // alignment) * alignment
    return GGUFHeader(version, metadata, tensors, data_offset)


def _checked_tensor(name: str, shape: tuple[int, ...], ggml_type: int, offset: int) -> TensorInfo:
    """A tensor-table entry llama.cpp would accept: a known type, a whole number of blocks in
    the first dimension and an element count that fits in 64 bits (as gguf.cpp checks)."""
    try:
        block, _ = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError):
        raise _Corrupt(f"unknown tensor type {ggml_type}") from None
    tensor = TensorInfo(name, shape, ggml_type, offset)
    if shape and shape[0] % block:
        raise _Corrupt(f"first dimension {shape[0]} is not a multiple of the block size {block}")
    if tensor.n_elements > MAX_INT64 or offset > MAX_INT64:
        raise _Corrupt("sizes too large for a 64-bit count")
    return tensor


_INTEGER = (GGUFValueType.UINT8, GGUFValueType.INT8, GGUFValueType.UINT16, GGUFValueType.INT16,
            GGUFValueType.UINT32, GGUFValueType.INT32, GGUFValueType.UINT64, GGUFValueType.INT64)


def _check_known_fields(metadata: dict[str, Any]) -> None:
    """The fields Workbench reads must have the type llama.cpp gives them, so a crafted file
    fails here, naming the field, instead of at ``int()`` somewhere later."""
    def integer(key: str, low: int, high: int) -> None:
        value = metadata.get(key)
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Corrupt(f"field {key}: expected an integer, found {_kind(value)}")
        if not low <= value <= high:
            raise _Corrupt(f"field {key}: {value:,} is outside {low:,}..{high:,}")

    def text(key: str) -> None:
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            raise _Corrupt(f"field {key}: expected a string, found {_kind(value)}")

    for key in ("general.architecture", "general.name", "general.license",
                "tokenizer.chat_template"):
        text(key)
    integer("general.alignment", 1, 1 << 30)
    alignment = metadata.get("general.alignment")
    if alignment is not None and alignment & (alignment - 1):
        raise _Corrupt(f"field general.alignment: {alignment} is not a power of two")
    integer("general.file_type", 0, 1 << 16)
    integer("split.count", 0, MAX_SPLIT_PARTS)
    integer("split.no", 0, max(0, int(metadata.get("split.count") or 1) - 1))
    arch = metadata.get("general.architecture")
    if isinstance(arch, str):
        # llama.cpp keeps the training context in a uint32.
        integer(f"{arch}.context_length", 0, (1 << 32) - 1)


def _kind(value: Any) -> str:
    if isinstance(value, SkippedArray | list):
        return "an array"
    return {str: "a string", float: "a number with a fraction", bool: "a boolean"}.get(
        type(value), type(value).__name__)


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
            header = parse_header(stream, keep_arrays=keep_arrays, name=name, size=size)
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
