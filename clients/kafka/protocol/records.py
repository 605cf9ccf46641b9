"""Record batch v2 (magic 2, KIP-98): encode, check, and decode, sans-IO.

Byte grammar (protocol guide, "Record Batch")::

    batch   := baseOffset:int64 batchLength:int32 partitionLeaderEpoch:int32
               magic:int8(=2) crc:uint32 attributes:int16 lastOffsetDelta:int32
               baseTimestamp:int64 maxTimestamp:int64 producerId:int64
               producerEpoch:int16 baseSequence:int32 count:int32 record*
    record  := length:varint attributes:int8 timestampDelta:varlong
               offsetDelta:varint keyLen:varint key valueLen:varint value
               headerCount:varint (hKeyLen:varint hKey hValLen:varint hVal)*

``crc`` is CRC-32C over everything from ``attributes`` to the end of the batch, so
the broker may rewrite ``baseOffset`` (it assigns offsets) and the leader epoch
without touching it. ``batchLength`` counts the bytes after itself.

The broker calls ``check_batches`` on every produced record set: each batch's
length, magic and CRC are verified and a summary (count, timestamps, producer
id and sequence) comes back; nothing is decompressed. Consumers call
``decode_batches``, which also tolerates the partial batch a Fetch response may
end with (the broker cuts at ``max_bytes``).
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import crcmod.predefined

from .primitives import encode_varint

crc32c = crcmod.predefined.mkCrcFun("crc-32c")

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: the bytes before what batchLength counts
_CRC_START = 21  # attributes begin here
_OFFSET_LEN = struct.Struct(">qi")
_BASE_OFFSET = struct.Struct(">q")

COMPRESSION_MASK = 0x07
COMPRESSION_NONE, COMPRESSION_GZIP = 0, 1
TIMESTAMP_LOG_APPEND = 0x08
TRANSACTIONAL = 0x10
CONTROL = 0x20


class CorruptBatch(ValueError):
    """A batch that fails its length, magic or CRC check; ``code`` is what to answer."""

    def __init__(self, message: str, code: int = 2) -> None:  # 2 = CORRUPT_MESSAGE
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BatchInfo:
    """What the broker needs of one batch without decoding its records."""

    start: int  # position in the record set
    size: int  # total bytes, LOG_OVERHEAD included
    count: int  # lastOffsetDelta + 1: offsets the batch takes
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    attributes: int


@dataclass(slots=True)
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def check_batches(data: bytes | memoryview, max_batch: int) -> list[BatchInfo]:
    """Every batch of a produced record set, verified; raises ``CorruptBatch``."""
    out: list[BatchInfo] = []
    pos, end = 0, len(data)
    if end == 0:
        raise CorruptBatch("empty record set", 87)  # INVALID_RECORD
    while pos < end:
        if end - pos < HEADER_SIZE:
            raise CorruptBatch(f"{end - pos} trailing bytes are not a batch")
        h = HEADER.unpack_from(data, pos)
        size = LOG_OVERHEAD + h[1]
        if h[1] < HEADER_SIZE - LOG_OVERHEAD or pos + size > end:
            raise CorruptBatch(f"batch length {h[1]} does not fit the record set")
        if size > max_batch:
            raise CorruptBatch(f"batch of {size} bytes over {max_batch}", 10)
        if h[3] != 2:
            raise CorruptBatch(f"magic {h[3]} (only record batch v2)", 43)
        crc = crc32c(memoryview(data)[pos + _CRC_START : pos + size])
        if crc != h[4]:
            raise CorruptBatch(f"CRC-32C {crc:#010x} != stored {h[4]:#010x}")
        count = h[6] + 1
        if h[12] < 0 or count <= 0 or count < h[12]:
            raise CorruptBatch(f"{h[12]} records but lastOffsetDelta {h[6]}", 87)
        out.append(BatchInfo(pos, size, count, h[7], h[8], h[9], h[10], h[11], h[5]))
        pos += size
    return out


def batch_crc_ok(data: bytes | memoryview, pos: int = 0) -> bool:
    """Is the batch at ``pos`` whole and does its CRC match? (Log recovery's test.)"""
    if len(data) - pos < HEADER_SIZE:
        return False
    h = HEADER.unpack_from(data, pos)
    size = LOG_OVERHEAD + h[1]
    if h[1] < HEADER_SIZE - LOG_OVERHEAD or pos + size > len(data) or h[3] != 2:
        return False
    return crc32c(memoryview(data)[pos + _CRC_START : pos + size]) == h[4]


def set_base_offset(buf: bytearray, pos: int, offset: int) -> None:
    _BASE_OFFSET.pack_into(buf, pos, offset)


def batch_bounds(data: bytes | memoryview, pos: int) -> tuple[int, int, int]:
    """(baseOffset, lastOffset, size) of the batch at ``pos`` (header only)."""
    base, length = _OFFSET_LEN.unpack_from(data, pos)
    (last_delta,) = struct.unpack_from(">i", data, pos + 23)
    return base, base + last_delta, LOG_OVERHEAD + length


# -- encoding ------------------------------------------------------------------


# Zig-zag varints of 0..8191 precomputed: lengths, deltas and counts of small records
# hit this table instead of a loop (the producer's hot path).
_SMALL = [encode_varint(i) for i in range(8192)]


def _varint(v: int) -> bytes:
    return _SMALL[v] if 0 <= v < 8192 else encode_varint(v)


def _bytes_field(b: bytes | None) -> bytes:
    if b is None:
        return b"\x01"  # varint(-1)
    return _varint(len(b)) + b


def encode_record(
    offset_delta: int, ts_delta: int, key: bytes | None, value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> bytes:  # fmt: skip
    if headers:
        hs = _varint(len(headers)) + b"".join(
            _bytes_field(k.encode()) + _bytes_field(v) for k, v in headers)
    else:
        hs = b"\x00"
    body = b"".join((b"\x00", _varint(ts_delta), _varint(offset_delta),
                     _bytes_field(key), _bytes_field(value), hs))  # fmt: skip
    return _varint(len(body)) + body


def encode_batch(
    records: Sequence[tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes | None]], int]],
    *,
    base_offset: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    compression: int = COMPRESSION_NONE,
) -> bytes:
    """A batch of (key, value, headers, timestamp_ms) records, CRC filled in."""
    if not records:
        raise ValueError("a batch holds at least one record")
    base_ts = records[0][3]
    max_ts = max(r[3] for r in records)
    body = b"".join(
        encode_record(i, ts - base_ts, k, v, hs) for i, (k, v, hs, ts) in enumerate(records)
    )
    if compression == COMPRESSION_GZIP:
        body = gzip_compress(body)
    elif compression != COMPRESSION_NONE:
        raise ValueError(f"compression codec {compression} not supported")
    tail = struct.pack(
        ">hiqqqhii", compression, len(records) - 1, base_ts, max_ts,
        producer_id, producer_epoch, base_sequence, len(records),
    ) + body  # fmt: skip
    crc = crc32c(tail)
    head = struct.pack(">qiibI", base_offset, len(tail) + 9, 0, 2, crc)
    return head + tail


def gzip_compress(body: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    return c.compress(body) + c.flush()


def now_ms() -> int:
    return int(time.time() * 1000)


# -- decoding --------------------------------------------------------------------


def _decompress(attributes: int, body: bytes) -> bytes:
    codec = attributes & COMPRESSION_MASK
    if codec == COMPRESSION_NONE:
        return body
    if codec == COMPRESSION_GZIP:
        return zlib.decompress(body, 47)  # 32+15: gzip or zlib header, auto-detected
    raise CorruptBatch(f"compression codec {codec} not supported by this client", 76)


def decode_batches(data: bytes, verify_crc: bool = True) -> Iterator[Record]:
    """Records of every whole batch in ``data``; a cut-off last batch is skipped.

    Control batches (transaction markers) are skipped, as consumers do.
    """
    pos, end = 0, len(data)
    while end - pos >= HEADER_SIZE:
        h = HEADER.unpack_from(data, pos)
        size = LOG_OVERHEAD + h[1]
        if pos + size > end:
            return  # partial batch at the end of a fetch response
        if h[3] != 2:
            raise CorruptBatch(f"magic {h[3]} at {pos}", 43)
        if verify_crc and crc32c(memoryview(data)[pos + _CRC_START : pos + size]) != h[4]:
            raise CorruptBatch(f"CRC mismatch in batch at offset {h[0]}")
        if not h[5] & CONTROL:
            body = _decompress(h[5], data[pos + HEADER_SIZE : pos + size])
            yield from _records(body, h[12], h[0], h[7])
        pos += size


def _records(body: bytes, count: int, base_offset: int, base_ts: int) -> Iterator[Record]:
    """The hot loop of a consumer: varints inlined as far as Python allows."""
    pos = 0
    for _ in range(count):
        pos, _length = _uvar(body, pos)
        pos += 1  # record attributes (unused)
        pos, ts_delta = _svar(body, pos)
        pos, off_delta = _svar(body, pos)
        pos, klen = _svar(body, pos)
        key = None if klen < 0 else body[pos : pos + klen]
        pos += max(klen, 0)
        pos, vlen = _svar(body, pos)
        value = None if vlen < 0 else body[pos : pos + vlen]
        pos += max(vlen, 0)
        pos, nh = _svar(body, pos)
        headers: list[tuple[str, bytes | None]] = []
        for _h in range(nh):
            pos, hk = _svar(body, pos)
            hkey = body[pos : pos + hk].decode("utf-8", "replace")
            pos += hk
            pos, hv = _svar(body, pos)
            headers.append((hkey, None if hv < 0 else body[pos : pos + hv]))
            pos += max(hv, 0)
        yield Record(base_offset + off_delta, base_ts + ts_delta, key, value, headers)


def _uvar(b: bytes, pos: int) -> tuple[int, int]:
    x = b[pos]
    if x < 0x80:
        return pos + 1, x
    result, shift = x & 0x7F, 7
    while True:
        pos += 1
        x = b[pos]
        result |= (x & 0x7F) << shift
        if x < 0x80:
            return pos + 1, result
        shift += 7
        if shift > 63:
            raise CorruptBatch("varint longer than 10 bytes")


def _svar(b: bytes, pos: int) -> tuple[int, int]:
    x = b[pos]
    if x < 0x80:
        return pos + 1, (x >> 1) ^ -(x & 1)
    pos, n = _uvar(b, pos)
    return pos, (n >> 1) ^ -(n & 1)
