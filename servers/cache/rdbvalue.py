"""One value in Redis's RDB serialization, as DUMP writes and RESTORE reads it.

A DUMP payload is ``type byte, value, RDB version (2 bytes LE), CRC64 (8 bytes LE)``;
the CRC is Redis's crc64 (Jones polynomial, reflected), over everything before it.
The checks, CRC, RDB primitives (lengths, LZF) and listpack decoding are ``restore.py``'s (which reads
streams); this module adds the other types, and writes.

Written here (always the plain, oldest encodings, which every Redis since
2.x loads): 0 string, 1 list, 2 set, 4 hash: a length, then each element as
a length-prefixed string. Read here: those, plus what Redis 7.0 itself
writes for small values: 11 intset, 16 hash listpack, 18 quicklist of
listpacks (and the integer and LZF-compressed string forms inside).
Anything else (ziplists of old RDB files, modules, streams) is refused as
"Bad data format", never half-loaded.

Lengths: ``00xxxxxx`` 6 bits, ``01xxxxxx xxxxxxxx`` 14 bits, ``0x80`` + 4
bytes and ``0x81`` + 8 bytes big endian; ``11xxxxxx`` starts a special string:
0-2 an 8/16/32-bit integer (little endian), 3 LZF-compressed.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .restore import RDB_VERSION, BadPayload, Reader, crc64, listpack

STRING, LIST, SET, HASH = 0, 1, 2, 4
INTSET, HASH_LISTPACK, QUICKLIST2 = 11, 16, 18


BadFormat = BadPayload


# --- writing ---------------------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 1 << 6:
        return bytes([n])
    if n < 1 << 14:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    if n < 1 << 32:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


def _string(b: bytes) -> bytes:
    return _length(len(b)) + b


def dump(value: Any) -> bytes:
    t = type(value)
    if t is bytes:
        body = bytes([STRING]) + _string(value)
    elif t is deque:
        body = bytes([LIST]) + _length(len(value)) + b"".join(map(_string, value))
    elif t is set:
        body = bytes([SET]) + _length(len(value)) + b"".join(map(_string, value))
    elif t is dict:
        items = b"".join(_string(f) + _string(v) for f, v in value.items())
        body = bytes([HASH]) + _length(len(value)) + items
    else:
        raise BadFormat(f"cannot serialize {t.__name__}")
    body += RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


# --- reading ---------------------------------------------------------------------------


def listpack_entries(blob: bytes) -> list[bytes]:
    """The elements of a listpack, integers as their decimal text (as Redis replies them)."""
    return [v if isinstance(v, bytes) else b"%d" % v for v in listpack(blob)]


def intset_members(blob: bytes) -> set[bytes]:
    if len(blob) < 8:
        raise BadFormat("intset")
    width, n = int.from_bytes(blob[:4], "little"), int.from_bytes(blob[4:8], "little")
    if width not in (2, 4, 8) or len(blob) != 8 + width * n:
        raise BadFormat("intset")
    return {b"%d" % int.from_bytes(blob[8 + k * width : 8 + (k + 1) * width], "little",
                                   signed=True) for k in range(n)}  # fmt: skip


def load(data: bytes) -> Any:
    """The value (a payload without its version and CRC), or raise BadFormat."""
    r = Reader(data)
    kind = r.take(1)[0]
    value: Any
    if kind == STRING:
        value = r.string()
    elif kind == LIST:
        value = deque(r.string() for _ in range(r.count()))
    elif kind == SET:
        value = {r.string() for _ in range(r.count())}
    elif kind == HASH:
        value = {}
        for _ in range(r.count()):
            f = r.string()
            value[f] = r.string()
    elif kind == INTSET:
        value = intset_members(r.string())
    elif kind == HASH_LISTPACK:
        items = listpack_entries(r.string())
        if len(items) % 2:
            raise BadFormat("odd hash")
        value = dict(zip(items[::2], items[1::2], strict=True))
    elif kind == QUICKLIST2:
        value = deque()
        for _ in range(r.count()):
            container = r.count()
            blob = r.string()
            if container == 1:
                value.append(blob)  # a plain node: one big element
            elif container == 2:
                value.extend(listpack_entries(blob))
            else:
                raise BadFormat("quicklist container")
    else:
        raise BadFormat(f"type {kind}")
    if r.pos != len(r.data):
        raise BadFormat("trailing bytes")
    if type(value) is not bytes and not value:
        raise BadFormat("empty aggregate")
    return value
