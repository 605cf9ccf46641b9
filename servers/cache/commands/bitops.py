"""Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO.

A bitmap is a plain string: bit 0 is the most significant bit of byte 0
(Redis's order, so ``SETBIT k 7 1`` on an empty key makes the string "\\x01").
Writes past the end grow the string with zero bytes; a missing key reads as
an endless run of zeros. Writes keep the key's TTL (Redis changes the string
in place); BITOP replaces its destination like SET.

Whole-string work (BITCOUNT, BITPOS, BITOP) is done on Python integers made
from the bytes (``int.from_bytes``), whose C loops do per machine word what
Redis does with its popcount tables and word-at-a-time scans: no Python loop
over bytes. BITFIELD reads and writes fields of 1 to 64 bits (u63 at most,
as in Redis, since replies are signed 64-bit) at any bit offset, with
Redis's three overflow policies.
"""

from __future__ import annotations

from typing import Any

from netlib import resp

from ..encoding import mark_raw
from ..keyspace import KEY_OVERHEAD, WrongType
from ..table import MAX_STRING, NOT_INTEGER, SYNTAX, CommandError, command, to_int

G = "bitmap"
BAD_OFFSET = b"-ERR bit offset is not an integer or out of range\r\n"
BAD_BIT = b"-ERR bit is not an integer or out of range\r\n"
BAD_TYPE = (
    b"-ERR Invalid bitfield type. Use something like i16 u8. "
    b"Note that u64 is not supported but i64 is.\r\n"
)


def _string(c: Any, key: bytes, write: bool = False) -> bytes | None:
    """The string at ``key``: a read lookup (counted), or with ``write`` the write
    lookup of SETBIT and a writing BITFIELD (not counted, as Redis's lookupKeyWrite)."""
    v = c.db.get_for_write(key) if write else c.db.get(key)
    if v is not None and type(v) is not bytes:
        raise WrongType()
    return v  # type: ignore[no-any-return]


def _store(c: Any, key: bytes, value: bytes, keep_ttl: bool = True) -> None:
    c.db.put(key, value, KEY_OVERHEAD + len(key) + len(value), keep_ttl=keep_ttl)
    if keep_ttl:
        mark_raw(value)  # changed in place, as Redis's raw strings


def _bit_offset(b: bytes) -> int:
    n = to_int(b, BAD_OFFSET)
    if n < 0 or n >> 3 >= MAX_STRING:
        raise CommandError(BAD_OFFSET)
    return n


@command("SETBIT", 4, "write denyoom", (1, 1, 1), G, "Set or clear one bit")
def setbit(c: Any, a: list[bytes]) -> bytes:
    offset = _bit_offset(a[2])
    if a[3] not in (b"0", b"1"):
        raise CommandError(BAD_BIT)
    old = _string(c, a[1], write=True)
    buf = bytearray(old or b"")
    byte, mask = offset >> 3, 0x80 >> (offset & 7)
    if byte >= len(buf):
        buf.extend(bytes(byte + 1 - len(buf)))
    was = 1 if buf[byte] & mask else 0
    if a[3] == b"1":
        buf[byte] |= mask
    else:
        buf[byte] &= ~mask & 0xFF
    if old is None or len(buf) != len(old) or buf[byte] != old[byte]:
        _store(c, a[1], bytes(buf))
    return resp.ONE if was else resp.ZERO


@command("GETBIT", 3, "readonly fast", (1, 1, 1), G, "The value of one bit")
def getbit(c: Any, a: list[bytes]) -> bytes:
    offset = _bit_offset(a[2])
    v = _string(c, a[1]) or b""
    byte = offset >> 3
    if byte >= len(v):
        return resp.ZERO
    return resp.ONE if v[byte] & (0x80 >> (offset & 7)) else resp.ZERO


def _bit_range(nbytes: int, start: int, end: int, unit: bytes | None) -> tuple[int, int] | None:
    """Redis's start/end rules in BYTE or BIT units -> an inclusive bit range, or None if empty."""
    if unit is None or unit == b"BYTE":
        isbit = False
    elif unit == b"BIT":
        isbit = True
    else:
        raise CommandError(SYNTAX)
    total = nbytes * 8 if isbit else nbytes
    if start < 0:
        start += total
    if end < 0:
        end += total
    start, end = max(start, 0), max(end, 0)
    end = min(end, total - 1)
    if start > end:
        return None
    return (start, end) if isbit else (start * 8, end * 8 + 7)


def _bits(v: bytes, lo: int, hi: int) -> int:
    """Bits lo..hi (inclusive) of ``v`` as an integer whose lowest bit is bit ``hi``."""
    first, last = lo >> 3, hi >> 3
    n = int.from_bytes(v[first : last + 1], "big")
    n >>= 7 - (hi & 7)
    return n & ((1 << (hi - lo + 1)) - 1)


@command("BITCOUNT", -2, "readonly", (1, 1, 1), G, "Count the set bits")
def bitcount(c: Any, a: list[bytes]) -> bytes:
    v = _string(c, a[1])
    if v is None:
        return resp.ZERO
    if len(a) == 2:
        return resp.integer(int.from_bytes(v, "big").bit_count())
    if len(a) not in (4, 5):
        raise CommandError(SYNTAX)
    start, end = to_int(a[2]), to_int(a[3])
    if start < 0 and end < 0 and start > end:
        return resp.ZERO
    rng = _bit_range(len(v), start, end, a[4].upper() if len(a) == 5 else None)
    if rng is None:
        return resp.ZERO
    return resp.integer(_bits(v, *rng).bit_count())


@command("BITPOS", -3, "readonly", (1, 1, 1), G, "The first set or clear bit")
def bitpos(c: Any, a: list[bytes]) -> bytes:
    bit = to_int(a[2])
    if bit not in (0, 1):
        return b"-ERR The bit argument must be 1 or 0.\r\n"
    v = _string(c, a[1])
    if v is None:
        return resp.integer(-1 if bit else 0)
    if len(a) > 6:
        raise CommandError(SYNTAX)
    end_given = len(a) >= 5
    start = to_int(a[3]) if len(a) >= 4 else 0
    unit = a[5].upper() if len(a) == 6 else None
    if unit not in (None, b"BIT", b"BYTE"):
        raise CommandError(SYNTAX)
    end = to_int(a[4]) if end_given else -1
    rng = _bit_range(len(v), start, end, unit)
    if rng is None:
        return resp.integer(-1)
    lo, hi = rng
    width = hi - lo + 1
    n = _bits(v, lo, hi)
    if bit == 0:
        n ^= (1 << width) - 1
    if n:
        return resp.integer(lo + width - n.bit_length())
    if bit == 1 or end_given:
        return resp.integer(-1)
    return resp.integer(hi + 1)  # no clear bit: the first one past the end (zero padding)


@command("BITOP", -4, "write denyoom", (2, -1, 1), G, "Bitwise AND, OR, XOR, NOT of strings")
def bitop(c: Any, a: list[bytes]) -> bytes:
    op = a[1].upper()
    if op not in (b"AND", b"OR", b"XOR", b"NOT"):
        raise CommandError(SYNTAX)
    if op == b"NOT" and len(a) != 4:
        return b"-ERR BITOP NOT must be called with a single source key.\r\n"
    sources = [_string(c, k) or b"" for k in a[3:]]
    size = max(map(len, sources))
    if size == 0:
        c.db.delete(a[2])
        return resp.ZERO
    nums = [int.from_bytes(s.ljust(size, b"\0"), "big") for s in sources]
    if op == b"NOT":
        out = nums[0] ^ ((1 << (size * 8)) - 1)
    else:
        out = nums[0]
        for n in nums[1:]:
            if op == b"AND":
                out &= n
            elif op == b"OR":
                out |= n
            else:
                out ^= n
    _store(c, a[2], out.to_bytes(size, "big"), keep_ttl=False)
    return resp.integer(size)


# --- BITFIELD -------------------------------------------------------------------------


def _field_type(b: bytes) -> tuple[bool, int]:
    """``i8`` -> (signed, 8); Redis allows i1..i64 and u1..u63."""
    kind, digits = b[:1].lower(), b[1:]
    if kind not in (b"i", b"u") or not digits.isdigit():
        raise CommandError(BAD_TYPE)
    bits = int(digits)
    signed = kind == b"i"
    if bits < 1 or (signed and bits > 64) or (not signed and bits > 63):
        raise CommandError(BAD_TYPE)
    return signed, bits


def _field_offset(b: bytes, bits: int) -> int:
    """A bit offset, or ``#n``: the n-th field of this width."""
    hashed = b.startswith(b"#")
    n = to_int(b[1:] if hashed else b, BAD_OFFSET)
    if hashed:
        n *= bits
    if n < 0 or (n + bits - 1) >> 3 >= MAX_STRING:
        raise CommandError(BAD_OFFSET)
    return n


def _read_field(v: bytes | bytearray, offset: int, bits: int, signed: bool) -> int:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    chunk = bytes(v[first : last + 1]).ljust(last - first + 1, b"\0")
    n = int.from_bytes(chunk, "big") >> (7 - ((offset + bits - 1) & 7))
    n &= (1 << bits) - 1
    if signed and n >> (bits - 1):
        n -= 1 << bits
    return n


def _write_field(buf: bytearray, offset: int, bits: int, value: int) -> None:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    shift = 7 - ((offset + bits - 1) & 7)
    width = (last - first + 1) * 8
    n = int.from_bytes(buf[first : last + 1], "big")
    mask = ((1 << bits) - 1) << shift
    n = (n & ~mask & ((1 << width) - 1)) | ((value & ((1 << bits) - 1)) << shift)
    buf[first : last + 1] = n.to_bytes(last - first + 1, "big")


def _overflow(value: int, signed: bool, bits: int, policy: bytes) -> int | None:
    """``value`` brought into the field's range by WRAP, SAT, or None for FAIL."""
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if lo <= value <= hi:
        return value
    if policy == b"FAIL":
        return None
    if policy == b"SAT":
        return hi if value > hi else lo
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _replies(parts: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(parts)


def _bitfield(c: Any, a: list[bytes], readonly: bool) -> bytes:
    ops: list[tuple[bytes, bool, int, int, int, bytes]] = []
    policy = b"WRAP"
    i, writes = 2, False
    while i < len(a):
        sub = a[i].upper()
        need = {b"GET": 2, b"SET": 3, b"INCRBY": 3, b"OVERFLOW": 1}.get(sub)
        if need is None or i + need >= len(a):
            raise CommandError(SYNTAX)
        if sub == b"OVERFLOW":
            policy = a[i + 1].upper()
            if policy not in (b"WRAP", b"SAT", b"FAIL"):
                return b"-ERR Invalid OVERFLOW type specified\r\n"
            i += 2
            continue
        signed, bits = _field_type(a[i + 1])
        offset = _field_offset(a[i + 2], bits)
        arg = to_int(a[i + 3], NOT_INTEGER) if sub != b"GET" else 0
        if sub != b"GET":
            if readonly:
                return b"-ERR BITFIELD_RO only supports the GET subcommand\r\n"
            writes = True
        ops.append((sub, signed, bits, offset, arg, policy))
        i += need + 1
    if not writes:
        v = _string(c, a[1]) or b""
        return _replies([resp.integer(_read_field(v, o, b, s)) for _, s, b, o, _, _ in ops])
    old = _string(c, a[1], write=True)
    buf = bytearray(old or b"")
    need_bytes = max(((o + b - 1) >> 3) + 1 for sub, _, b, o, _, _ in ops if sub != b"GET")
    grown = old is None or need_bytes > len(buf)  # (created or grown: every write counts)
    if need_bytes > len(buf):
        buf.extend(bytes(need_bytes - len(buf)))
    replies = []
    changes = 0  # Redis 7.0: server.dirty += each SET or INCRBY written that changed anything
    for sub, signed, bits, offset, arg, pol in ops:
        cur = _read_field(buf, offset, bits, signed)
        if sub == b"GET":
            replies.append(resp.integer(cur))
            continue
        if sub == b"SET":
            if not signed and arg < 0:
                arg += 1 << 64  # Redis takes the value as an unsigned 64-bit number
            new = _overflow(arg, signed, bits, pol)
            reply_value = cur
        else:
            new = _overflow(cur + arg, signed, bits, pol)
            reply_value = new if new is not None else 0
        if new is None:
            replies.append(resp.null(c.proto))
            continue
        _write_field(buf, offset, bits, new)
        changes += grown or new != cur
        replies.append(resp.integer(reply_value))
    dirty = c.db.ks.dirty
    if old is None or bytes(buf) != old:
        _store(c, a[1], bytes(buf))
    c.db.ks.dirty = dirty + changes
    return _replies(replies)


@command("BITFIELD", -2, "write denyoom", (1, 1, 1), G, "Read and write integer fields")
def bitfield(c: Any, a: list[bytes]) -> bytes:
    return _bitfield(c, a, False)


@command("BITFIELD_RO", -2, "readonly fast", (1, 1, 1), G, "Read integer fields")
def bitfield_ro(c: Any, a: list[bytes]) -> bytes:
    return _bitfield(c, a, True)
