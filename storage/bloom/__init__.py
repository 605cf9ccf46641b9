"""Bloom filters (exercise S9): a plain one and Rothenberg et al.'s deletable one.

Layout: ``filter.py`` is the plain ``BloomFilter`` (m bits, k hash functions by
double hashing, sized from (n, p) or given (m, k), union, checksummed
serialisation) and the hashing both filters share; ``deletable.py`` is the
``DeletableBloomFilter`` (the same bits split into r regions plus an r-bit
collision bitmap: a delete clears only bits in collision-free regions). The
LSM tree (``storage/lsm``) keeps one ``BloomFilter`` per SSTable; ``bench/bloom``
measures both against the formulas.
"""

from .deletable import DeletableBloomFilter
from .filter import BadFilter, BloomFilter, false_positive_rate, optimal_k, optimal_m, probes

__all__ = [
    "BadFilter",
    "BloomFilter",
    "DeletableBloomFilter",
    "false_positive_rate",
    "optimal_k",
    "optimal_m",
    "probes",
]
