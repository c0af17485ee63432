"""Read the variables of a TensorFlow checkpoint (its "tensor bundle": ``PREFIX.index`` + ``PREFIX.data-*``)
into NumPy arrays, without TensorFlow.

Some pretrained teachers ship only as TF checkpoints inside their wheels (``musicnn``). Installing TensorFlow
to read a few megabytes of weights is out of proportion, so this reads the format itself: the index is a
LevelDB table (uncompressed blocks of prefix-compressed keys) whose values are ``BundleEntryProto`` messages
(dtype, shape, shard, offset, size); each tensor is raw little-endian bytes in a data shard. Nothing here
executes code from the file: it is parsed as bytes, and every offset and size is checked against the file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
#: TensorFlow's DataType enum -> NumPy dtype, for the types a checkpoint of weights holds
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 19: np.float16, 10: np.bool_}


class CheckpointError(ValueError):
    """The file is not a TensorFlow tensor bundle this reader understands."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise CheckpointError("truncated varint")
        b = buf[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(msg: bytes) -> list[tuple[int, int | bytes]]:
    """``(field number, value)`` of a protobuf message: varints as ints, length-delimited as bytes."""
    out, pos = [], 0
    while pos < len(msg):
        tag, pos = _varint(msg, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(msg, pos)
        elif wire == 2:
            n, pos = _varint(msg, pos)
            value, pos = msg[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = struct.unpack_from("<I", msg, pos)[0], pos + 4
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", msg, pos)[0], pos + 8
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        out.append((field, value))
    return out


def _block(data: bytes, offset: int, size: int) -> bytes:
    if offset + size + 5 > len(data):
        raise CheckpointError("block outside the index file")
    if data[offset + size] != 0:  # the block trailer's compression byte: TF writes its bundles uncompressed
        raise CheckpointError("compressed index blocks are not supported")
    return data[offset:offset + size]


def _entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The key/value pairs of one table block (keys share prefixes with the previous key)."""
    if len(block) < 4:
        raise CheckpointError("short block")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    out, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + vlen]))
        pos += vlen
    return out


def read_tf_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every variable of the checkpoint at ``prefix`` (the path without ``.index``; a folder stands for the
    empty prefix inside it, as musicnn's ``MSD_musicnn/.index``): name -> array."""
    prefix = Path(prefix)
    folder, stem = (prefix, "") if prefix.is_dir() else (prefix.parent, prefix.name)
    index = folder / f"{stem}.index"
    if not index.is_file():
        raise CheckpointError(f"{index}: no such checkpoint index")
    data = index.read_bytes()
    if len(data) < 48 or struct.unpack_from("<Q", data, len(data) - 8)[0] != _TABLE_MAGIC:
        raise CheckpointError(f"{index}: not a TensorFlow checkpoint index (bad table magic)")
    footer = data[-48:]
    _, pos = _varint(footer, 0)  # metaindex handle: offset, size (unused)
    _, pos = _varint(footer, pos)
    idx_off, pos = _varint(footer, pos)
    idx_size, _ = _varint(footer, pos)
    entries = []
    for _, handle in _entries(_block(data, idx_off, idx_size)):
        off, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        entries += _entries(_block(data, off, size))
    shards: dict[int, bytes] = {}
    out = {}
    for key, value in entries:
        if key == b"":  # the header entry (number of shards, endianness, version)
            continue
        dtype, dims, shard, offset, size = 1, [], 0, 0, 0
        for field, v in _fields(value):
            if field == 1:
                dtype = v
            elif field == 2:
                dims = [dict(_fields(d)).get(1, 0) for f, d in _fields(v) if f == 2]
            elif field == 3:
                shard = v
            elif field == 4:
                offset = v
            elif field == 5:
                size = v
            elif field == 7:
                raise CheckpointError(f"{index}: {key.decode()} is a partitioned variable (not supported)")
        if dtype not in _DTYPES:
            raise CheckpointError(f"{index}: {key.decode()} has TensorFlow dtype {dtype} (not supported)")
        if shard not in shards:
            files = sorted(folder.glob(f"{stem}.data-{shard:05d}-of-*"))
            if not files:
                raise CheckpointError(f"{prefix}: data shard {shard} is missing")
            shards[shard] = files[0].read_bytes()
        np_dtype = np.dtype(_DTYPES[dtype]).newbyteorder("<")
        count = int(np.prod(dims)) if dims else 1
        if size != count * np_dtype.itemsize or offset + size > len(shards[shard]):
            raise CheckpointError(f"{index}: {key.decode()}: {size} bytes at {offset} do not hold shape {dims}")
        out[key.decode()] = np.frombuffer(shards[shard], np_dtype, count, offset).reshape(dims).astype(np_dtype.newbyteorder("="))
    return out
