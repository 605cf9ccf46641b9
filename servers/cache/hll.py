"""HyperLogLog as Redis stores it: a string with a "HYLL" header, sparse or dense registers.

What a HyperLogLog is. Hash each element to 64 bits; the low 14 bits pick one
of 16384 registers, and the register keeps the longest run of trailing zero
bits (+1) seen among the remaining 50. A long run is rare (probability
2**-k), so the registers together estimate how many *distinct* elements were
seen, in 12 KB whatever the count, with a standard error of
1.04/sqrt(16384) = 0.81%.

The byte format, Redis's (hyperloglog.c), so that GET of our value can be SET
into a real redis-server and the other way round:

* header, 16 bytes: ``HYLL``, the encoding (0 dense, 1 sparse), 3 unused
  bytes, then the cached cardinality as 8 bytes little endian; the top bit of
  the last byte set means "stale" (PFADD sets it, PFCOUNT recomputes and
  stores the fresh value).
* dense: 16384 registers of 6 bits, packed least significant bit first
  (12288 bytes).
* sparse: run-length opcodes for an HLL with few non-zero registers:
  ``00xxxxxx`` ZERO (1-64 zero registers), ``01xxxxxx yyyyyyyy`` XZERO
  (1-16384 zero registers), ``1vvvvvxx`` VAL (1-4 registers of value 1-32).
  A new key starts as one XZERO covering everything. Setting a register
  splits the opcode covering it (Redis's hllSparseSet, followed here step by
  step so the bytes come out identical, merges of adjacent VALs included);
  when a value passes 32 or the string would pass ``hll-sparse-max-bytes``
  (3000) it is promoted to dense for good.

The hash is MurmurHash64A with Redis's seed 0xadc83b19, so the same element
lands in the same register at the same height as in Redis, and a key built
here and in redis-server is byte for byte the same.

The estimate is Redis 7's (Otmar Ertl's improved estimator, no bias tables):
from the histogram of register values,
``z = m*tau(1 - C[q+1]/m)``, then ``z = (z + C[k]) / 2`` for k = q..1, then
``z += m*sigma(C[0]/m)``, and ``E = alpha_inf * m*m / z``.

Speed in Python. Per element only the hash and one register are Python
work. Whole-register work (decode, the union of PFCOUNT k1 k2 / PFMERGE, the
histogram) never loops over 16384 registers in Python: registers are kept as
16384 bytes (one per register), the 6-bit packing is undone with slice
assignments and big-integer masks, the union's per-register maximum is a
SWAR (SIMD within a register) comparison on one big integer, and the
histogram is ``bytes.count``. Decoded registers are cached by the identity
of the (immutable) string value they came from.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable

MAGIC = b"HYLL"
DENSE, SPARSE = 0, 1
HDR = 16
P = 14
M = 1 << P  # 16384 registers
Q = 64 - P  # 50 bits left for the run of zeros
REG_BITS = 6
REG_MAX = (1 << REG_BITS) - 1
DENSE_SIZE = HDR + (M * REG_BITS + 7) // 8  # 12304
SPARSE_VAL_MAX_VALUE = 32
SPARSE_VAL_MAX_LEN = 4
SPARSE_ZERO_MAX_LEN = 64
SPARSE_XZERO_MAX_LEN = 16384
SPARSE_MAX_BYTES = 3000  # hll-sparse-max-bytes' default
ALPHA_INF = 0.721347520444481703680  # 1 / (2 ln 2)
SEED = 0xADC83B19
MASK64 = (1 << 64) - 1
_MUL = 0xC6A4A7935BD1E995

INVALID_HLL = b"-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"
CORRUPTED = b"-INVALIDOBJ Corrupted HLL object detected\r\n"


class Invalid(Exception):
    """Not an HLL string (WRONGTYPE in Redis's wording)."""


class Corrupted(Exception):
    """An HLL header with registers that do not add up (INVALIDOBJ)."""


# --- the hash ------------------------------------------------------------------


_BLOCKS = [struct.Struct(f"<{n}Q") for n in range(64)]  # n little-endian 64-bit words


def murmur64a(data: bytes, seed: int = SEED) -> int:
    """MurmurHash64A (Austin Appleby), as Redis's hyperloglog.c computes it."""
    n = len(data)
    h = (seed ^ (n * _MUL)) & MASK64
    whole = n >> 3
    if whole:
        blocks = _BLOCKS[whole] if whole < 64 else struct.Struct(f"<{whole}Q")
        for k in blocks.unpack_from(data):
            k = (k * _MUL) & MASK64
            h = ((h ^ (((k ^ (k >> 47)) * _MUL) & MASK64)) * _MUL) & MASK64
    if n & 7:
        h = ((h ^ int.from_bytes(data[whole << 3 :], "little")) * _MUL) & MASK64
    h = ((h ^ (h >> 47)) * _MUL) & MASK64
    return h ^ (h >> 47)


_INDEX = M - 1
_SENTINEL = 1 << Q


def pattern(element: bytes) -> tuple[int, int]:
    """(register index, run of zeros + 1) for one element, as Redis's hllPatLen."""
    h = murmur64a(element)
    rest = (h >> P) | _SENTINEL  # the sentinel bit caps the count at Q + 1
    return h & _INDEX, (rest & -rest).bit_length()


# --- registers <-> dense bytes ---------------------------------------------------
# Registers are held as 16384 bytes, one per register. Dense packs each group
# of 4 registers into 3 bytes; as 32-bit little-endian lanes the 4 registers
# sit at bits 0, 6, 12, 18 packed and at bits 0, 8, 16, 24 unpacked.

_LANE = int.from_bytes(b"\x3f\x00\x00\x00" * (M // 4), "little")
_BYTE_LANES = int.from_bytes(b"\x01" * M, "little")
_HIGH = _BYTE_LANES * 0x80
_ALL = _BYTE_LANES * 0xFF


def unpack_dense(payload: bytes) -> bytearray:
    """12288 packed bytes -> 16384 register bytes."""
    spread = bytearray(M)
    spread[0::4] = payload[0::3]
    spread[1::4] = payload[1::3]
    spread[2::4] = payload[2::3]
    n = int.from_bytes(spread, "little")
    out = (n & _LANE) | ((n << 2) & (_LANE << 8)) | ((n << 4) & (_LANE << 16))
    out |= (n << 6) & (_LANE << 24)
    return bytearray(out.to_bytes(M, "little"))


def pack_dense(regs: bytes | bytearray) -> bytes:
    """16384 register bytes -> 12288 packed bytes."""
    n = int.from_bytes(regs, "little")
    v = (n & _LANE) | ((n >> 2) & (_LANE << 6)) | ((n >> 4) & (_LANE << 12))
    v |= (n >> 6) & (_LANE << 18)
    spread = v.to_bytes(M, "little")
    out = bytearray(M * 3 // 4)
    out[0::3] = spread[0::4]
    out[1::3] = spread[1::4]
    out[2::3] = spread[2::4]
    return bytes(out)


def register_max(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    """The per-register maximum of two register arrays, without a Python loop (SWAR).

    In each byte lane (a | 0x80) - b keeps its bit 7 exactly when a >= b
    (values are < 64, so no lane borrows from its neighbour); that bit,
    spread to 0xFF, selects a, its complement b.
    """
    x, y = int.from_bytes(a, "little"), int.from_bytes(b, "little")
    ge = (((x | _HIGH) - y) & _HIGH) >> 7
    sel = ge * 0xFF
    return ((x & sel) | (y & (_ALL ^ sel))).to_bytes(M, "little")


# --- sparse ------------------------------------------------------------------------
# While a command works on a sparse HLL its opcodes are a list of
# (kind, value, run length) with a parallel list of the first register each
# covers: finding the opcode of a register is a bisection, and a split only
# changes the starts of the pieces (the registers after keep theirs), so
# PFADD of n elements costs n bisections plus list splices, not n scans.

ZERO, XZERO, VAL = 0, 1, 2
Op = tuple[int, int, int]


def _sparse_registers(payload: bytes | bytearray) -> bytearray:
    """Decode sparse opcodes into 16384 register bytes; Corrupted if they don't cover exactly."""
    regs = bytearray(M)
    for (kind, value, run), first in zip(*parse_ops(payload), strict=True):
        if kind == VAL:
            regs[first : first + run] = bytes([value]) * run
    return regs


def parse_ops(payload: bytes | bytearray) -> tuple[list[Op], list[int]]:
    """The opcodes and their first registers; Corrupted unless they cover exactly 16384."""
    ops: list[Op] = []
    starts: list[int] = []
    idx, i, n = 0, 0, len(payload)
    while i < n:
        op = payload[i]
        if op & 0x80:
            item = (VAL, ((op >> 2) & 31) + 1, (op & 3) + 1)
            i += 1
        elif op & 0x40:
            if i + 1 >= n:
                raise Corrupted()
            item = (XZERO, 0, (((op & 0x3F) << 8) | payload[i + 1]) + 1)
            i += 2
        else:
            item = (ZERO, 0, (op & 0x3F) + 1)
            i += 1
        ops.append(item)
        starts.append(idx)
        idx += item[2]
        if idx > M:
            raise Corrupted()  # stop at once: a huge string of runs is refused in one pass
    if idx != M:
        raise Corrupted()
    return ops, starts


def _zero(length: int) -> Op:
    return (XZERO, 0, length) if length > SPARSE_ZERO_MAX_LEN else (ZERO, 0, length)


def _op_bytes(op: Op) -> bytes:
    kind, value, run = op
    if kind == VAL:
        return bytes([0x80 | ((value - 1) << 2) | (run - 1)])
    if kind == XZERO:
        return bytes([0x40 | ((run - 1) >> 8), (run - 1) & 0xFF])
    return bytes([run - 1])


def serialize_ops(ops: list[Op]) -> bytes:
    return b"".join(map(_op_bytes, ops))


class SparseOps:
    """The opcodes of one sparse HLL, changed by Redis's hllSparseSet rules."""

    def __init__(self, payload: bytes | bytearray) -> None:
        self.ops, self.starts = parse_ops(payload)
        self.nbytes = len(payload)

    def set(self, index: int, count: int, max_bytes: int) -> int:
        """hllSparseSet: 1 changed, 0 already >= count, -1 must go dense (value > 32 or too long)."""
        if count > SPARSE_VAL_MAX_VALUE:
            return -1
        ops, starts = self.ops, self.starts
        i = bisect_right(starts, index) - 1
        kind, value, run = ops[i]
        first = starts[i]
        prev = i - 1 if i > 0 else 0
        if kind == VAL:
            if value >= count:  # case A: nothing to do
                return 0
            if run == 1:  # case B: a VAL of one register takes the new value
                ops[i] = (VAL, count, 1)
                self._merge(prev)
                return 1
        elif kind == ZERO and run == 1:  # case C: a ZERO of one register becomes a VAL
            ops[i] = (VAL, count, 1)
            self._merge(prev)
            return 1
        # Case D: split into (before, our register, after).
        last = first + run - 1
        seq: list[Op] = []
        if index != first:
            seq.append((VAL, value, index - first) if kind == VAL else _zero(index - first))
        seq.append((VAL, count, 1))
        if index != last:
            seq.append((VAL, value, last - index) if kind == VAL else _zero(last - index))
        size = sum(2 if k == XZERO else 1 for k, _, _ in seq)
        delta = size - (2 if kind == XZERO else 1)
        if delta > 0 and HDR + self.nbytes + delta > max_bytes:
            return -1
        ops[i : i + 1] = seq
        new_starts, at = [], first
        for _, _, r in seq:
            new_starts.append(at)
            at += r
        starts[i : i + 1] = new_starts
        self.nbytes += delta
        self._merge(prev)
        return 1

    def _merge(self, p: int) -> None:
        """Step 4 of hllSparseSet: merge adjacent equal VALs, 5 opcodes scanned from ``p``."""
        ops, starts = self.ops, self.starts
        scan = 5
        while p < len(ops) and scan:
            scan -= 1
            kind, value, run = ops[p]
            if kind == VAL and p + 1 < len(ops):
                nk, nv, nr = ops[p + 1]
                if nk == VAL and nv == value and run + nr <= SPARSE_VAL_MAX_LEN:
                    ops[p + 1] = (VAL, value, run + nr)
                    starts[p + 1] = starts[p]
                    del ops[p]
                    del starts[p]
                    self.nbytes -= 1
                    continue  # try to merge the merged run with its right neighbour
            p += 1

    def payload(self) -> bytes:
        return serialize_ops(self.ops)


# --- the value -------------------------------------------------------------------


def new_sparse() -> bytes:
    """An empty HLL as PFADD creates it: sparse, one XZERO over all registers, card 0."""
    return MAGIC + bytes([SPARSE]) + bytes(11) + _op_bytes(_zero(M))


def check(value: object) -> int:
    """The encoding of a valid-looking HLL string, or raise Invalid (Redis's isHLLObjectOrReply)."""
    if type(value) is not bytes or len(value) < HDR or value[:4] != MAGIC:
        raise Invalid()
    enc = value[4]
    if enc > SPARSE or (enc == DENSE and len(value) != DENSE_SIZE):
        raise Invalid()
    return enc


_CACHE: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()
_CACHE_MAX = 64


def registers(value: bytes) -> bytearray:
    """The 16384 registers of a checked HLL string (a fresh copy; cached by identity)."""
    hit = _CACHE.get(id(value))
    if hit is not None and hit[0] is value:
        _CACHE.move_to_end(id(value))
        return bytearray(hit[1])
    if value[4] == DENSE:
        regs = unpack_dense(value[HDR:])
    else:
        regs = _sparse_registers(value[HDR:])
    remember(value, regs)
    return bytearray(regs)


def remember(value: bytes, regs: bytearray) -> None:
    _CACHE[id(value)] = (value, bytes(regs))
    _CACHE.move_to_end(id(value))
    while len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)


def cached_card(value: bytes) -> int | None:
    """The cardinality stored in the header, or None when marked stale."""
    if value[15] & 0x80:
        return None
    return int.from_bytes(value[8:16], "little")


def with_card(value: bytes, card: int) -> bytes:
    return value[:8] + card.to_bytes(8, "little") + value[16:]


def stale(header: bytearray | bytes) -> bytes:
    """The header with the cached cardinality marked stale (HLL_INVALIDATE_CACHE)."""
    h = bytearray(header[:HDR])
    h[15] |= 0x80
    return bytes(h)


def _dense_get(body: bytes | bytearray, index: int) -> int:
    """One 6-bit register of a whole dense string (registers after the header)."""
    bit = index * REG_BITS
    byte = HDR + (bit >> 3)
    shift = bit & 7
    word = body[byte] | (body[byte + 1] << 8) if byte + 1 < len(body) else body[byte]
    return (word >> shift) & REG_MAX


def _dense_set(body: bytearray, index: int, value: int, base: int = HDR) -> None:
    """Write one 6-bit register into packed registers starting at ``base`` (HLL_DENSE_SET_REGISTER)."""
    bit = index * REG_BITS
    byte, shift = base + (bit >> 3), bit & 7
    body[byte] = (body[byte] & ~(REG_MAX << shift) & 0xFF) | ((value << shift) & 0xFF)
    if shift > 8 - REG_BITS:
        rest = 8 - shift
        body[byte + 1] = (body[byte + 1] & ~(REG_MAX >> rest) & 0xFF) | (value >> rest)


class Hll:
    """A mutable view of one HLL value for PFADD / PFMERGE; ``value()`` gives the new string.

    Dense, the whole string is the value itself until a register changes, then
    one bytearray changed in place (a PFADD that changes nothing copies nothing;
    one that does copies it once in, once out); the register array is only
    unpacked if asked for.
    Sparse, the opcodes are a ``SparseOps`` and the registers are kept beside.
    """

    def __init__(self, value: bytes | None, sparse_max: int = SPARSE_MAX_BYTES) -> None:
        self.sparse_max = sparse_max
        src = value if value is not None else new_sparse()
        self.header = bytearray(src[:HDR])
        self.dense = src[4] == DENSE
        self._regs: bytearray | None = None
        self.sparse: SparseOps | None = None
        self.body: bytes | bytearray = b""
        if self.dense:
            self.body = src  # copied by ``_writable`` at the first change
        else:
            self.sparse = SparseOps(src[HDR:])
            self._regs = registers(src)

    @property
    def regs(self) -> bytearray:
        if self._regs is None:
            self._regs = registers(bytes(self.body))
        return self._regs

    def _writable(self) -> bytearray:
        """The dense string, as a bytearray of its own from the first change on."""
        body = self.body
        if type(body) is not bytearray:
            body = self.body = bytearray(body)
        return body

    def set(self, index: int, count: int) -> bool:
        """Raise register ``index`` to ``count``; True if it changed."""
        if self.sparse is not None:
            regs = self.regs
            if regs[index] >= count:
                return False
            r = self.sparse.set(index, count, self.sparse_max)
            if r == 0:
                return False
            regs[index] = count
            if r < 0:
                self.to_dense()
            return True
        if _dense_get(self.body, index) >= count:
            return False
        _dense_set(self._writable(), index, count)
        if self._regs is not None:
            self._regs[index] = count
        return True

    def add(self, elements: Iterable[bytes]) -> int:
        """Add ``elements``; how many changed a register (Redis's PFADD ``updated``)."""
        changed = 0
        for e in elements:
            if self.set(*pattern(e)):
                changed += 1
        return changed

    def to_dense(self) -> None:
        """Promote (Redis's hllSparseToDense): same header, encoding byte 0, packed registers."""
        self.dense = True
        self.header[4] = DENSE
        self.body = self.header + pack_dense(self.regs)
        self.sparse = None

    def set_all(self, regs: bytearray) -> None:
        """Replace every register of a dense HLL (PFMERGE)."""
        self._regs = regs
        self._writable()[HDR:] = pack_dense(regs)

    def value(self, invalidate: bool = True) -> bytes:
        if self.sparse is None:
            if invalidate:
                self._writable()[15] |= 0x80
            out = bytes(self.body)
        else:
            header = stale(self.header) if invalidate else bytes(self.header)
            out = header + self.sparse.payload()
        if self._regs is not None:
            remember(out, self._regs)
        return out


# --- the estimate ------------------------------------------------------------------


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        z_prev = z
        z += x * y
        y += y
        if z_prev == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        z_prev = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if z_prev == z:
            return z / 3


def estimate(regs: bytes | bytearray) -> int:
    """Redis 7's hllCount on a register array (Ertl's estimator)."""
    hist = [regs.count(v) for v in range(Q + 2)]
    m = float(M)
    z = m * _tau((m - hist[Q + 1]) / m)
    for k in range(Q, 0, -1):
        z += hist[k]
        z *= 0.5
    z += m * _sigma(hist[0] / m)
    return int(math.floor(ALPHA_INF * m * m / z + 0.5))


def union(values: Iterable[bytes]) -> bytearray:
    """The per-register maximum over several checked HLL strings."""
    acc: bytes | bytearray = bytes(M)
    for v in values:
        acc = register_max(acc, registers(v))
    return bytearray(acc)


def decode_sparse(value: bytes) -> str:
    """PFDEBUG DECODE: the opcodes as Redis prints them (``z:3 v:2,1 Z:100 ...``)."""
    payload, out, i = value[HDR:], [], 0
    while i < len(payload):
        op = payload[i]
        if op & 0x80:
            out.append(f"v:{((op >> 2) & 31) + 1},{(op & 3) + 1}")
            i += 1
        elif op & 0x40:
            out.append(f"Z:{(((op & 0x3F) << 8) | payload[i + 1]) + 1}")
            i += 2
        else:
            out.append(f"z:{(op & 0x3F) + 1}")
            i += 1
    return " ".join(out)
