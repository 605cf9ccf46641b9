"""Kafka's primitive types, read from and written to bytes (no I/O here).

Layout: ``Reader`` walks a buffer and raises ``Truncated`` when a field runs past
its end; ``Writer`` appends to a bytearray. Names follow the protocol guide:
INT8..INT64 big-endian, (UNSIGNED_)VARINT, STRING (int16 length), COMPACT_STRING
(uvarint length+1, 0 = null), BYTES (int32 length), UUID (16 bytes), and the
tagged-field section of flexible versions (KIP-482).
"""

from __future__ import annotations

import builtins
import struct

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")


class Truncated(ValueError):
    """A field claims more bytes than the message holds."""


class Malformed(ValueError):
    """A field is impossible (a negative length that is not -1, a varint over 10 bytes)."""


class Reader:
    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes | memoryview, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def _take(self, n: int) -> int:
        p = self.pos
        if n < 0 or p + n > self.end:
            raise Truncated(f"need {n} bytes at {p}, message ends at {self.end}")
        self.pos = p + n
        return p

    def remaining(self) -> int:
        return self.end - self.pos

    def int8(self) -> int:
        return _I8.unpack_from(self.buf, self._take(1))[0]

    def bool(self) -> bool:
        return self.int8() != 0

    def int16(self) -> int:
        return _I16.unpack_from(self.buf, self._take(2))[0]

    def int32(self) -> int:
        return _I32.unpack_from(self.buf, self._take(4))[0]

    def uint32(self) -> int:
        return _U32.unpack_from(self.buf, self._take(4))[0]

    def int64(self) -> int:
        return _I64.unpack_from(self.buf, self._take(8))[0]

    def uvarint(self) -> int:
        result = shift = 0
        while True:
            if shift > 63:
                raise Malformed("varint longer than 10 bytes")
            b = self.buf[self._take(1)]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def varint(self) -> int:
        """Zig-zag signed varint (VARINT and VARLONG)."""
        n = self.uvarint()
        return (n >> 1) ^ -(n & 1)

    def raw(self, n: int) -> bytes:
        p = self._take(n)
        return bytes(self.buf[p : p + n])

    def _length(self, n: int, nullable: builtins.bool) -> int | None:
        if n == -1 and nullable:
            return None
        if n < 0:
            raise Malformed(f"negative length {n}")
        return n

    def string(self, nullable: builtins.bool = False) -> str | None:
        n = self._length(self.int16(), nullable)
        return None if n is None else self.raw(n).decode("utf-8", "replace")

    def compact_string(self, nullable: builtins.bool = False) -> str | None:
        n = self._length(self.uvarint() - 1, nullable)
        return None if n is None else self.raw(n).decode("utf-8", "replace")

    def bytes_(self, nullable: builtins.bool = False) -> bytes | None:
        n = self._length(self.int32(), nullable)
        return None if n is None else self.raw(n)

    def compact_bytes(self, nullable: builtins.bool = False) -> bytes | None:
        n = self._length(self.uvarint() - 1, nullable)
        return None if n is None else self.raw(n)

    def uuid(self) -> bytes:
        return self.raw(16)

    def skip_tags(self) -> None:
        """Read past a tagged-field section; we know no tags, so each is skipped."""
        for _ in range(self.uvarint()):
            self.uvarint()
            self._take(self.uvarint())


class Writer:
    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def int8(self, v: int) -> None:
        self.buf += _I8.pack(v)

    def bool(self, v: bool) -> None:
        self.buf.append(1 if v else 0)

    def int16(self, v: int) -> None:
        self.buf += _I16.pack(v)

    def int32(self, v: int) -> None:
        self.buf += _I32.pack(v)

    def uint32(self, v: int) -> None:
        self.buf += _U32.pack(v)

    def int64(self, v: int) -> None:
        self.buf += _I64.pack(v)

    def uvarint(self, v: int) -> None:
        self.buf += encode_uvarint(v)

    def varint(self, v: int) -> None:
        self.buf += encode_varint(v)

    def raw(self, b: bytes | bytearray | memoryview) -> None:
        self.buf += b

    def string(self, v: str | None) -> None:
        if v is None:
            self.int16(-1)
            return
        b = v.encode()
        self.int16(len(b))
        self.buf += b

    def compact_string(self, v: str | None) -> None:
        if v is None:
            self.uvarint(0)
            return
        b = v.encode()
        self.uvarint(len(b) + 1)
        self.buf += b

    def bytes_(self, v: bytes | None) -> None:
        if v is None:
            self.int32(-1)
            return
        self.int32(len(v))
        self.buf += v

    def compact_bytes(self, v: bytes | None) -> None:
        if v is None:
            self.uvarint(0)
            return
        self.uvarint(len(v) + 1)
        self.buf += v

    def uuid(self, v: bytes | None) -> None:
        self.buf += v if v else bytes(16)

    def empty_tags(self) -> None:
        self.buf.append(0)


def encode_uvarint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def encode_varint(v: int) -> bytes:
    """Zig-zag: small magnitudes of either sign take few bytes (64-bit domain)."""
    return encode_uvarint(((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF)
