"""The WAL's payloads: one put or delete per record, numbered by a sequence.

Layout (all integers little-endian; the record header around it is in
``storage/FORMAT.md``)::

    PUT    (type 16) := seq:u64  klen:u32  key:byte[klen]  value:byte[rest]
    DELETE (type 17) := seq:u64  klen:u32  key:byte[klen]

The sequence number is what makes recovery exact: a snapshot says "I hold
everything up to seq S" and replay applies only entries after S, so a crash
between writing a snapshot and truncating the log never applies a write twice.
Sequence numbers are consecutive across segments; a gap is corruption.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from storage.record import FIRST_ENGINE_TYPE, Record, StorageError

TYPE_PUT = FIRST_ENGINE_TYPE  # 16
TYPE_DELETE = FIRST_ENGINE_TYPE + 1  # 17

_PREFIX = struct.Struct("<QI")

# A key longer than this is refused on write and treated as garbage on read:
# 64 KiB is far above any key the lab uses and keeps a bad klen from slicing nonsense.
MAX_KEY = 64 * 1024


class BadEntry(StorageError):
    """A record passed its checksum but its payload is not a WAL entry."""


@dataclass(frozen=True)
class Entry:
    seq: int
    key: bytes
    value: bytes | None  # None for a delete

    @property
    def is_delete(self) -> bool:
        return self.value is None


def encode_put(seq: int, key: bytes, value: bytes) -> tuple[int, bytes]:
    """(record type, payload) of a put."""
    _check_key(key)
    return TYPE_PUT, _PREFIX.pack(seq, len(key)) + key + value


def encode_delete(seq: int, key: bytes) -> tuple[int, bytes]:
    """(record type, payload) of a delete."""
    _check_key(key)
    return TYPE_DELETE, _PREFIX.pack(seq, len(key)) + key


def decode(rec: Record) -> Entry:
    """The entry a WAL record holds; BadEntry if it is not one."""
    p = rec.payload
    if rec.rtype not in (TYPE_PUT, TYPE_DELETE) or len(p) < _PREFIX.size:
        raise BadEntry(f"record at {rec.offset}: type {rec.rtype} is not a WAL entry")
    seq, klen = _PREFIX.unpack_from(p)
    end = _PREFIX.size + klen
    if klen > MAX_KEY or end > len(p):
        raise BadEntry(f"record at {rec.offset}: key length {klen} out of range")
    if rec.rtype == TYPE_DELETE and end != len(p):
        raise BadEntry(f"record at {rec.offset}: delete with trailing bytes")
    key = p[_PREFIX.size : end]
    value = p[end:] if rec.rtype == TYPE_PUT else None
    return Entry(seq, key, value)


def _check_key(key: bytes) -> None:
    if len(key) > MAX_KEY:
        raise ValueError(f"key of {len(key)} bytes exceeds MAX_KEY ({MAX_KEY})")
