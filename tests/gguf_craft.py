"""Crafted GGUF headers for the hostile-input tests, made by rewriting the test model's own.

The walker here is written apart from ``workbench.gguf_header`` on purpose (a test of a reader
should not lean on the reader): it finds where each key/value pair and tensor entry sits, so a
test can replace a value, add a key, or claim a length, and keep the rest of the real header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# GGUF value types (gguf.constants.GGUFValueType)
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = (
    range(13))
_FORMATS = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
            FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
HEAD = 24  # magic, version, tensor count, key count


@dataclass
class Entry:
    key: str
    start: int  # the key's length field
    value_type_at: int
    value_at: int
    end: int


@dataclass
class Layout:
    tensor_count: int
    kv_count: int
    entries: list[Entry] = field(default_factory=list)
    tensors_start: int = 0
    header_end: int = 0

    def entry(self, key: str) -> Entry:
        return next(e for e in self.entries if e.key == key)


def head_bytes(model: Path, limit: int = 4 << 20) -> bytes:
    with model.open("rb") as stream:
        return stream.read(limit)


def layout(data: bytes) -> Layout:
    tensor_count, kv_count = struct.unpack_from("<QQ", data, 8)
    out = Layout(tensor_count, kv_count)
    pos = HEAD
    for _ in range(kv_count):
        start = pos
        (length,) = struct.unpack_from("<Q", data, pos)
        key = data[pos + 8:pos + 8 + length].decode()
        pos += 8 + length
        type_at = pos
        (value_type,) = struct.unpack_from("<I", data, pos)
        pos = _skip_value(data, pos + 4, value_type)
        out.entries.append(Entry(key, start, type_at, type_at + 4, pos))
    out.tensors_start = pos
    for _ in range(tensor_count):
        (length,) = struct.unpack_from("<Q", data, pos)
        pos += 8 + length
        (n_dims,) = struct.unpack_from("<I", data, pos)
        pos += 4 + 8 * n_dims + 4 + 8
    out.header_end = pos
    return out


def _skip_value(data: bytes, pos: int, value_type: int) -> int:
    if value_type in _FORMATS:
        return pos + struct.calcsize(_FORMATS[value_type])
    if value_type == STRING:
        (length,) = struct.unpack_from("<Q", data, pos)
        return pos + 8 + length
    item_type, count = struct.unpack_from("<IQ", data, pos)
    pos += 12
    if item_type in _FORMATS:
        return pos + count * struct.calcsize(_FORMATS[item_type])
    for _ in range(count):
        pos = _skip_value(data, pos, item_type)
    return pos


def string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def value(value_type: int, item: Any) -> bytes:
    """The encoded value (without its type code) of a scalar or a string."""
    if value_type == STRING:
        return string(item)
    return struct.pack(_FORMATS[value_type], item)


def kv(key: str, value_type: int, encoded: bytes) -> bytes:
    return string(key) + struct.pack("<I", value_type) + encoded


def with_kv(data: bytes, key: str, value_type: int, encoded: bytes) -> bytes:
    """``data`` with ``key`` set to an already encoded value: replaced in place when present,
    else added after the last pair (the key count goes up by one)."""
    shape = layout(data)
    found = [e for e in shape.entries if e.key == key]
    if found:
        entry = found[0]
        return data[:entry.start] + kv(key, value_type, encoded) + data[entry.end:]
    head = bytearray(data[:HEAD])
    struct.pack_into("<Q", head, 16, shape.kv_count + 1)
    at = shape.tensors_start
    return bytes(head) + data[HEAD:at] + kv(key, value_type, encoded) + data[at:]


def set_u64(data: bytes, offset: int, number: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<Q", out, offset, number)
    return bytes(out)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@dataclass
class TensorEntry:
    start: int
    name: str
    dims_at: int
    type_at: int
    offset_at: int
    end: int


def tensor_entries(data: bytes) -> list[TensorEntry]:
    shape = layout(data)
    pos, out = shape.tensors_start, []
    for _ in range(shape.tensor_count):
        start = pos
        (length,) = struct.unpack_from("<Q", data, pos)
        name = data[pos + 8:pos + 8 + length].decode()
        dims_at = pos + 8 + length
        (n_dims,) = struct.unpack_from("<I", data, dims_at)
        type_at = dims_at + 4 + 8 * n_dims
        out.append(TensorEntry(start, name, dims_at, type_at, type_at + 4, type_at + 12))
        pos = type_at + 12
    return out


def rename_tensor(data: bytes, index: int, name: str) -> bytes:
    entry = tensor_entries(data)[index]
    return data[:entry.start] + string(name) + data[entry.dims_at:]


def _aligned(position: int, alignment: int = 32) -> int:
    return -(-position // alignment) * alignment


def rewrite_model(model: Path, target: Path, change: Any) -> Path:
    """Copy ``model`` to ``target`` with ``change(header bytes) -> header bytes`` applied, the
    tensor data moved to the new header's aligned end, so the file stays a valid GGUF file
    (llama.cpp could load it) whatever length the new header has."""
    head = head_bytes(model)
    old_end = layout(head).header_end
    new_head = change(head[:old_end])
    new_end = layout(new_head).header_end
    with model.open("rb") as source, target.open("wb") as out:
        out.write(new_head)
        out.write(b"\0" * (_aligned(new_end) - new_end))
        source.seek(_aligned(old_end))
        while block := source.read(16 << 20):
            out.write(block)
    return target
