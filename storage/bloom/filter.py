"""The plain Bloom filter: a bit array and k probes per key by double hashing.

Hashing. One 128-bit BLAKE2b digest per key gives two 64-bit halves h1, h2;
probe i is ``(h1 + i * h2) mod m`` (Kirsch & Mitzenmacher, "Less Hashing, Same
Performance", 2006: two hashes simulate k independent ones without raising the
false-positive rate asymptotically). BLAKE2b because it is deterministic across
processes (Python's ``hash()`` is salted per process, so a filter written by one
process would be garbage to the next) and it runs in C; h2 is forced odd so the
probes do not collapse onto a few positions when m is a power of two.

Sizing (the textbook formulas): for n keys and a target false-positive rate p,
``m = -n ln p / (ln 2)^2`` bits and ``k = (m / n) ln 2`` hashes; the expected
rate after n inserts is ``(1 - e^(-kn/m))^k``.

Serialisation: one syslab record (``storage/record.py``, CRC-32C over it all),
type 16, payload ``m:u64 k:u32 count:u64 bits:byte[ceil(m/8)]``; the LSM's
SSTable filter block is exactly this record. A filter whose bytes fail the
checksum is refused (``BadFilter``), never trusted: a wrong filter would say
"absent" for keys that are there.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable

from storage.record import FIRST_ENGINE_TYPE, Corruption, StorageError, decode_at, encode

TYPE_FILTER = FIRST_ENGINE_TYPE  # 16
_HEAD = struct.Struct("<QIQ")
_TWO = struct.Struct("<QQ")
# A filter larger than this is refused on load: 512 Mbit = 64 MiB, the record limit.
MAX_BITS = 8 * 64 * 1024 * 1024 - 8 * 64
MAX_K = 64  # more probes than this never helps: k_opt = 0.69 * bits-per-key


class BadFilter(StorageError):
    """Serialised bytes that are not a whole, checksummed filter."""


def probes(key: bytes, k: int, m: int) -> list[int]:
    """The k bit positions of ``key`` in an m-bit array (double hashing)."""
    h1, h2 = _TWO.unpack(hashlib.blake2b(key, digest_size=16).digest())
    h2 |= 1
    return [(h1 + i * h2) % m for i in range(k)]


def optimal_m(n: int, p: float) -> int:
    """Bits for n keys at false-positive rate p: -n ln p / (ln 2)^2."""
    if n <= 0 or not 0 < p < 1:
        raise ValueError("need n > 0 and 0 < p < 1")
    return max(8, math.ceil(-n * math.log(p) / math.log(2) ** 2))


def optimal_k(m: int, n: int) -> int:
    """Hash functions minimising the false-positive rate: (m / n) ln 2, at least 1."""
    return max(1, min(MAX_K, round(m / max(n, 1) * math.log(2))))


def false_positive_rate(m: int, k: int, n: int) -> float:
    """The expected false-positive rate after n inserts: (1 - e^(-kn/m))^k."""
    return (1 - math.exp(-k * n / m)) ** k


class BloomFilter:
    """m bits, k probes per key; ``add`` and ``in``; no false negatives."""

    def __init__(self, m: int, k: int) -> None:
        if not 0 < m <= MAX_BITS or not 0 < k <= MAX_K:
            raise ValueError(f"need 0 < m <= {MAX_BITS} and 0 < k <= {MAX_K}")
        self.m, self.k = m, k
        self.bits = bytearray((m + 7) // 8)
        self.count = 0  # keys added (with repeats): what the formula's n is

    @classmethod
    def for_capacity(cls, n: int, p: float) -> BloomFilter:
        """Sized for n keys at false-positive rate p."""
        m = optimal_m(n, p)
        return cls(m, optimal_k(m, n))

    def add(self, key: bytes) -> None:
        bits = self.bits
        for pos in probes(key, self.k, self.m):
            bits[pos >> 3] |= 1 << (pos & 7)
        self.count += 1

    def update(self, keys: Iterable[bytes]) -> None:
        for key in keys:
            self.add(key)

    def __contains__(self, key: bytes) -> bool:
        bits = self.bits
        return all(bits[pos >> 3] >> (pos & 7) & 1 for pos in probes(key, self.k, self.m))

    def union(self, other: BloomFilter) -> BloomFilter:
        """A filter holding both sets' keys (same m and k required)."""
        if (self.m, self.k) != (other.m, other.k):
            raise ValueError("union needs filters of the same m and k")
        out = BloomFilter(self.m, self.k)
        a, b = int.from_bytes(self.bits, "little"), int.from_bytes(other.bits, "little")
        out.bits = bytearray((a | b).to_bytes(len(self.bits), "little"))
        out.count = self.count + other.count
        return out

    __or__ = union

    def bits_set(self) -> int:
        return int.from_bytes(self.bits, "little").bit_count()

    def expected_fpr(self) -> float:
        return false_positive_rate(self.m, self.k, self.count)

    # -- serialisation -----------------------------------------------------------
    def to_bytes(self) -> bytes:
        """One checksummed record (see the module docstring)."""
        return encode(TYPE_FILTER, _HEAD.pack(self.m, self.k, self.count) + bytes(self.bits))

    @classmethod
    def from_bytes(cls, data: bytes | memoryview, name: str = "<filter>") -> BloomFilter:
        """The filter ``to_bytes`` wrote; ``BadFilter`` if the bytes are not one, whole."""
        try:
            rec = decode_at(data, 0, name)
        except Corruption as e:
            raise BadFilter(str(e)) from None
        except Exception:  # _Torn: fewer bytes than the header promises
            raise BadFilter(f"{name}: truncated filter") from None
        p = rec.payload
        if rec.rtype != TYPE_FILTER or len(p) < _HEAD.size or rec.size != len(data):
            raise BadFilter(f"{name}: not a filter record")
        m, k, count = _HEAD.unpack_from(p)
        if not 0 < m <= MAX_BITS or not 0 < k <= MAX_K or len(p) - _HEAD.size != (m + 7) // 8:
            raise BadFilter(f"{name}: filter header m={m} k={k} does not match its bits")
        f = cls(m, k)
        f.bits = bytearray(p[_HEAD.size :])
        f.count = count
        return f

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BloomFilter) and (self.m, self.k, self.bits) == (
            other.m,
            other.k,
            other.bits,
        )

    def __repr__(self) -> str:
        return f"BloomFilter(m={self.m}, k={self.k}, count={self.count})"
