"""The records record append writes, sans-IO: what lets a reader undo "at least once".

GFS's record append is atomic and at-least-once: a failed attempt may leave a
partial copy on some replicas and a retry writes the record again, the
primary pads a chunk whose tail cannot hold the record, and regions between
records may be garbage or zeros on some replicas. The paper leaves the cure to
the application: each record carries a checksum and a unique id, and readers
skip what fails the checksum and drop ids seen before. This module is that
convention::

    record := magic:"GFSR"  length:u32be  crc:u32be  id:byte[16]  payload:byte[length]

``crc`` is CRC-32C of ``id + payload``. A reader scans a chunk from its start;
at a position that does not hold a whole valid record it resynchronises on the
next ``GFSR`` (padding is zeros, so it jumps over padding at once).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator

from storage.record import crc32c

MAGIC = b"GFSR"
HEADER = struct.Struct(">4sII16s")
HEADER_SIZE = HEADER.size  # 28 bytes


def encode(payload: bytes, record_id: bytes | None = None) -> bytes:
    rid = record_id if record_id is not None else os.urandom(16)
    if len(rid) != 16:
        raise ValueError("a record id is 16 bytes")
    return HEADER.pack(MAGIC, len(payload), crc32c(rid + payload), rid) + payload


def scan(buf: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(offset, id, payload) of every valid record in one chunk's bytes, in order."""
    pos, n = 0, len(buf)
    while True:
        pos = buf.find(MAGIC, pos)
        if pos < 0 or pos + HEADER_SIZE > n:
            return
        _, length, crc, rid = HEADER.unpack_from(buf, pos)
        end = pos + HEADER_SIZE + length
        if end <= n and crc32c(buf[pos + 12 : end]) == crc:
            yield pos, rid, buf[pos + HEADER_SIZE : end]
            pos = end
        else:
            pos += 1  # a partial or damaged record: look for the next magic


def unique(records: Iterable[tuple[int, bytes, bytes]]) -> Iterator[bytes]:
    """The payloads, each id once (the first copy: a retry's duplicate is dropped)."""
    seen: set[bytes] = set()
    for _, rid, payload in records:
        if rid not in seen:
            seen.add(rid)
            yield payload
