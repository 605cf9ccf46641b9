"""The Java client's default partitioner for keyed records: murmur2, then modulo.

``org.apache.kafka.common.utils.Utils.murmur2`` (seed 0x9747b28c, m 0x5bd1e995,
r 24, little-endian 4-byte words, tail bytes mixed in reverse order) on the key
bytes, made positive with ``& 0x7fffffff`` (``Utils.toPositive``), modulo the
partition count. Keys therefore land on the partitions a Java producer would
pick, which is what lets a Java consumer and ours agree on key ownership.
"""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Signed 32-bit murmur2 exactly as the Java client computes it."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    nblocks = length // 4
    for i in range(nblocks):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[4 * nblocks :]
    rem = len(tail)
    if rem == 3:
        h ^= tail[2] << 16
    if rem >= 2:
        h ^= tail[1] << 8
    if rem >= 1:
        h ^= tail[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, num_partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions
