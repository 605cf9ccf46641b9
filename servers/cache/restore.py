"""Reading a stream out of a ``DUMP`` payload (RDB encoding), for RESTORE.

A DUMP payload is one RDB value followed by a 2-byte RDB version and the
CRC-64 (Jones polynomial, reflected, as Redis's crc64.c) of everything before
it, both little-endian. The RDB value here is a stream
(``RDB_TYPE_STREAM_LISTPACKS`` = 15, Redis 5 to 6.2, or ``_2`` = 19, Redis 7):

* the nodes: a count, then per node its master id (a 16-byte string: ms and
  seq big-endian) and its listpack (a string, usually LZF-compressed);
* length, last id, and for type 19 the first id, max deleted id, entries added;
* the groups: name, last id, (19) entries read, the PEL (16-byte raw id,
  8-byte delivery time, delivery count each), the consumers (name, seen
  time, and the raw ids of their pending entries).

A node's listpack holds the "master entry" (live count, deleted count, the
master field names, a 0) and then each entry: flags, ms and seq deltas from
the master id, the field count and names unless flagged SAMEFIELDS, the
values, and the entry's element count (for walking backwards). Deleted
entries are skipped. Integers in a listpack come back as their decimal text,
as Redis returns them.

Every length and count is bounded by the payload itself: a malformed payload
raises ``BadPayload`` (answered ``Bad data format``), never reads past the
end, never loops forever. Only streams are understood here.
"""

from __future__ import annotations

import struct

from .stream import ID, INVALID_ENTRIES_READ, MAX_ID, Group, Nack, Stream

RDB_VERSION = 10  # Redis 7.0 writes version 10 and refuses newer payloads
TYPE_STREAM_LISTPACKS = 15
TYPE_STREAM_LISTPACKS_2 = 19
FLAG_DELETED = 1
FLAG_SAMEFIELDS = 2

_POLY = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9 (Jones), bit-reflected


def _crc_table() -> list[int]:
    table = []
    for b in range(256):
        crc = b
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc64(data: bytes, crc: int = 0) -> int:
    """Redis's crc64 (crc64("123456789") == 0xe9c6d914c4b8d9ca)."""
    t = _TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


class BadPayload(Exception):
    """The payload is not a value this module can read."""


def check_payload(p: bytes) -> bytes:
    """The RDB value inside a DUMP payload, after checking its version and checksum."""
    if len(p) < 10:
        raise ValueError("short")
    version = int.from_bytes(p[-10:-8], "little")
    if version > RDB_VERSION or crc64(p[:-8]) != int.from_bytes(p[-8:], "little"):
        raise ValueError("version or checksum")
    return p[:-10]


def lzf_decompress(src: bytes, out_len: int) -> bytes:
    """LZF (liblzf): literal runs and back references, as Redis compresses long strings."""
    out = bytearray()
    i, n = 0, len(src)
    while i < n:
        ctrl = src[i]
        i += 1
        if ctrl < 32:  # a literal run of ctrl + 1 bytes
            run = ctrl + 1
            if i + run > n:
                raise BadPayload("lzf literal past the end")
            out += src[i : i + run]
            i += run
        else:  # a back reference
            length = ctrl >> 5
            if length == 7:
                if i >= n:
                    raise BadPayload("lzf length past the end")
                length += src[i]
                i += 1
            if i >= n:
                raise BadPayload("lzf offset past the end")
            ref = len(out) - ((ctrl & 0x1F) << 8) - src[i] - 1
            i += 1
            if ref < 0:
                raise BadPayload("lzf reference before the start")
            for _ in range(length + 2):  # byte by byte: a reference may overlap its output
                out.append(out[ref])
                ref += 1
        if len(out) > out_len:
            raise BadPayload("lzf output too long")
    if len(out) != out_len:
        raise BadPayload("lzf length mismatch")
    return bytes(out)


class Reader:
    """RDB primitives over a bytes buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BadPayload("truncated")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def byte(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, bool]:
        """rdbLoadLen: (value, is_encoded) from the 2-bit prefix."""
        b = self.byte()
        kind = b >> 6
        if kind == 0:
            return b & 0x3F, False
        if kind == 1:
            return ((b & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return b & 0x3F, True
        if b == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if b == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise BadPayload("unknown length encoding")

    def count(self) -> int:
        n, encoded = self.length()
        if encoded or n > len(self.data):  # every counted thing takes at least a byte
            raise BadPayload("bad count")
        return n

    def number(self) -> int:
        n, encoded = self.length()
        if encoded:
            raise BadPayload("bad number")
        return n

    def string(self) -> bytes:
        n, encoded = self.length()
        if not encoded:
            return self.take(n)
        if n in (0, 1, 2):  # int8, int16, int32
            size = 1 << n
            return b"%d" % int.from_bytes(self.take(size), "little", signed=True)
        if n == 3:
            clen, ulen = self.number(), self.number()
            if ulen > 512 * 1024 * 1024:
                raise BadPayload("string too long")
            return lzf_decompress(self.take(clen), ulen)
        raise BadPayload("unknown string encoding")

    def ms_time(self) -> int:
        return struct.unpack("<q", self.take(8))[0]

    def raw_id(self) -> ID:
        ms, seq = struct.unpack(">QQ", self.take(16))
        return ms, seq


def listpack(lp: bytes) -> list[bytes | int]:
    """Every element of a listpack, integers as ints."""
    if len(lp) < 7 or int.from_bytes(lp[:4], "little") != len(lp) or lp[-1] != 0xFF:
        raise BadPayload("bad listpack header")
    out: list[bytes | int] = []
    i, end = 6, len(lp) - 1
    while i < end:
        b = lp[i]
        if b < 0x80:
            val: bytes | int = b
            size = 1
        elif b < 0xC0:
            n = b & 0x3F
            val, size = lp[i + 1 : i + 1 + n], 1 + n
        elif b < 0xE0:
            v = ((b & 0x1F) << 8) | lp[i + 1]
            val, size = (v - (1 << 13) if v >= 1 << 12 else v), 2
        elif b < 0xF0:
            n = ((b & 0x0F) << 8) | lp[i + 1]
            val, size = lp[i + 2 : i + 2 + n], 2 + n
        elif b == 0xF0:
            n = int.from_bytes(lp[i + 1 : i + 5], "little")
            val, size = lp[i + 5 : i + 5 + n], 5 + n
        elif 0xF1 <= b <= 0xF4:
            width = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[b]
            val = int.from_bytes(lp[i + 1 : i + 1 + width], "little", signed=True)
            size = 1 + width
        else:
            raise BadPayload("bad listpack entry")
        backlen = 1 if size < 128 else 2 if size < 16384 else 3 if size < 1 << 21 else 4
        if size >= 1 << 28:
            backlen = 5
        i += size + backlen
        if i > end:
            raise BadPayload("listpack entry past the end")
        out.append(val)
    return out


def _as_bytes(v: bytes | int) -> bytes:
    return v if isinstance(v, bytes) else b"%d" % v


def _as_int(v: bytes | int) -> int:
    if isinstance(v, int):
        return v
    raise BadPayload("expected an integer")


def _node_entries(master: ID, elements: list[bytes | int]) -> list[tuple[ID, tuple[bytes, ...]]]:
    """The live entries of one stream node's listpack."""
    it = iter(elements)
    try:
        _count, _deleted = _as_int(next(it)), _as_int(next(it))
        nmaster = _as_int(next(it))
        master_fields = [_as_bytes(next(it)) for _ in range(nmaster)]
        next(it)  # the master entry's terminating 0
        out = []
        for flags in it:
            flags = _as_int(flags)
            i = (master[0] + _as_int(next(it)), master[1] + _as_int(next(it)))
            if flags & FLAG_SAMEFIELDS:
                fields = [x for f in master_fields for x in (f, _as_bytes(next(it)))]
            else:
                n = _as_int(next(it))
                fields = [_as_bytes(next(it)) for _ in range(2 * n)]
            next(it)  # lp-count
            if not flags & FLAG_DELETED:
                out.append((i, tuple(fields)))
        return out
    except StopIteration:
        raise BadPayload("stream node cut short") from None


def load_stream(data: bytes, now: int) -> Stream:
    """A stream from an RDB value (type byte first); raises BadPayload."""
    r = Reader(data)
    kind = r.byte()
    if kind not in (TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2):
        raise BadPayload("not a stream")
    s = Stream()
    entries: list[tuple[ID, tuple[bytes, ...]]] = []
    for _ in range(r.count()):
        key = r.string()
        if len(key) != 16:
            raise BadPayload("bad node key")
        master = Reader(key).raw_id()
        entries += _node_entries(master, listpack(r.string()))
    length = r.number()
    last = (r.number(), r.number())
    if (
        any(b[0] <= a[0] for a, b in zip(entries, entries[1:], strict=False))
        or len(entries) != length
    ):
        raise BadPayload("entries out of order or miscounted")
    for i, fields in entries:
        s.append(i, fields)
    s.last_id = last
    if kind == TYPE_STREAM_LISTPACKS_2:
        s.first_id = (r.number(), r.number())
        s.max_deleted = (r.number(), r.number())
        s.entries_added = r.number()
    else:  # Redis 6 did not record these: derived as Redis 7 does when loading
        s.first_id = s.first_valid_id() if length else MAX_ID
        s.entries_added = length
    for _ in range(r.count()):
        name = r.string()
        gid = (r.number(), r.number())
        if kind == TYPE_STREAM_LISTPACKS_2:
            read = r.number()
            read = INVALID_ENTRIES_READ if read == 2**64 - 1 else read
        else:
            read = s.estimate_distance(gid)
        if name in s.groups:
            raise BadPayload("duplicate group")
        g = s.groups[name] = Group(name, gid, read)
        for _ in range(r.count()):
            i = r.raw_id()
            nack = Nack(None, r.ms_time())
            nack.delivery_count = r.number()
            g.pel.add(i, nack)
        for _ in range(r.count()):
            cname = r.string()
            cons = g.consumer(cname, now)
            assert cons is not None
            cons.seen_time = r.ms_time()
            for _ in range(r.count()):
                i = r.raw_id()
                owned = g.pel.get(i)
                if owned is None or owned.consumer is not None:
                    raise BadPayload("consumer PEL entry not in the group PEL")
                owned.consumer = cons
                cons.pel.add(i, owned)
        if any(n.consumer is None for _, n in g.pel.from_((0, 0))):
            raise BadPayload("group PEL entry without a consumer")
    if r.pos != len(data):
        raise BadPayload("trailing bytes")
    return s
