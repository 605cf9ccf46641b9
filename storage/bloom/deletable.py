"""The deletable Bloom filter (Rothenberg, Macapuna, Verdi, Magalhaes, "The
Deletable Bloom Filter: A New Member of the Bloom Family", IEEE Comm. Letters 2010).

A plain Bloom filter cannot delete: clearing a key's bits may clear a bit
another key also set, and that key would then read as absent (a false
negative). The DlBF spends r of its m bits on a *collision bitmap*: the other
m - r bits are split into r regions, and bit j of the bitmap is set once two
inserts have set the same bit somewhere in region j. A delete clears only the
key's bits that lie in collision-free regions; any one cleared bit is enough
to make the key absent, and no other key can lose a bit it set alone. A key is
*deletable* while at least one of its k bits lies in a collision-free region;
as the filter fills, collisions spread and fewer keys stay deletable
(``bench/bloom`` plots the share). The price is the r bitmap bits, which no
longer hold keys: the false-positive rate is that of an (m - r)-bit filter.

What this gives up: a region once marked stays marked (the bitmap cannot know
when a collision went away), and deleting a key that was never inserted may
clear another key's bit: like every filter, it trusts the caller to delete
only what it added.

Serialisation: one syslab record, type 17, payload
``m:u64 k:u32 r:u32 count:u64 bitmap:byte[ceil(r/8)] bits:byte[ceil((m-r)/8)]``.
"""

from __future__ import annotations

import struct

from storage.record import FIRST_ENGINE_TYPE, Corruption, decode_at, encode

from .filter import MAX_BITS, MAX_K, BadFilter, false_positive_rate, probes

TYPE_DELETABLE = FIRST_ENGINE_TYPE + 1  # 17
_HEAD = struct.Struct("<QIIQ")


class DeletableBloomFilter:
    """m bits in all: an r-bit collision bitmap and r regions of the remaining m - r bits."""

    def __init__(self, m: int, k: int, r: int) -> None:
        if not 0 < r < m <= MAX_BITS or not 0 < k <= MAX_K or r > m - r:
            raise ValueError("need 0 < r <= (m - r), m <= MAX_BITS and 0 < k <= MAX_K")
        self.m, self.k, self.r = m, k, r
        self.cells = m - r  # bits that hold keys
        self.region = -(-self.cells // r)  # bits per region (the last may be shorter)
        self.bitmap = bytearray((r + 7) // 8)
        self.bits = bytearray((self.cells + 7) // 8)
        self.count = 0  # keys currently in the filter (adds minus successful deletes)

    def _collided(self, pos: int) -> bool:
        j = pos // self.region
        return bool(self.bitmap[j >> 3] >> (j & 7) & 1)

    def add(self, key: bytes) -> None:
        bits, bitmap = self.bits, self.bitmap
        for pos in probes(key, self.k, self.cells):
            byte, mask = pos >> 3, 1 << (pos & 7)
            if bits[byte] & mask:  # a second insert sets this bit: its region is collided
                j = pos // self.region
                bitmap[j >> 3] |= 1 << (j & 7)
            bits[byte] |= mask
        self.count += 1

    def __contains__(self, key: bytes) -> bool:
        bits = self.bits
        return all(bits[p >> 3] >> (p & 7) & 1 for p in probes(key, self.k, self.cells))

    def deletable(self, key: bytes) -> bool:
        """True if at least one of the key's bits lies in a collision-free region."""
        return any(not self._collided(p) for p in probes(key, self.k, self.cells))

    def delete(self, key: bytes) -> bool:
        """Clear the key's collision-free bits; True if the key is now absent.

        False means every bit of the key sits in a collided region: it stays
        (a false positive from now on, never a false negative for another key).
        """
        cleared = False
        for pos in probes(key, self.k, self.cells):
            if not self._collided(pos):
                self.bits[pos >> 3] &= ~(1 << (pos & 7)) & 0xFF
                cleared = True
        if cleared:
            self.count -= 1
        return cleared

    def collided_regions(self) -> int:
        return int.from_bytes(self.bitmap, "little").bit_count()

    def expected_fpr(self, n: int | None = None) -> float:
        """The formula's rate for an (m - r)-bit filter after n inserts (default: count)."""
        return false_positive_rate(self.cells, self.k, self.count if n is None else n)

    def to_bytes(self) -> bytes:
        head = _HEAD.pack(self.m, self.k, self.r, self.count)
        return encode(TYPE_DELETABLE, head + bytes(self.bitmap) + bytes(self.bits))

    @classmethod
    def from_bytes(cls, data: bytes | memoryview, name: str = "<filter>") -> DeletableBloomFilter:
        try:
            rec = decode_at(data, 0, name)
        except Corruption as e:
            raise BadFilter(str(e)) from None
        except Exception:
            raise BadFilter(f"{name}: truncated filter") from None
        p = rec.payload
        if rec.rtype != TYPE_DELETABLE or len(p) < _HEAD.size or rec.size != len(data):
            raise BadFilter(f"{name}: not a deletable filter record")
        m, k, r, count = _HEAD.unpack_from(p)
        try:
            f = cls(m, k, r)
        except ValueError:
            raise BadFilter(f"{name}: bad filter header m={m} k={k} r={r}") from None
        nmap = len(f.bitmap)
        if len(p) != _HEAD.size + nmap + len(f.bits):
            raise BadFilter(f"{name}: filter length does not match m={m} r={r}")
        f.bitmap = bytearray(p[_HEAD.size : _HEAD.size + nmap])
        f.bits = bytearray(p[_HEAD.size + nmap :])
        f.count = count
        return f

    def __repr__(self) -> str:
        return f"DeletableBloomFilter(m={self.m}, k={self.k}, r={self.r}, count={self.count})"
