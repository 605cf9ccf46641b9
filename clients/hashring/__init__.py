"""Placing keys on nodes: a consistent-hash ring and the schemes it is compared with.

Layout: ``hashing`` (the one deterministic 64-bit hash every scheme here uses),
``ring`` (``HashRing``: virtual nodes, weights, replicas, and ``BoundedLoads``,
the bounded-loads variant of Mirrokni, Thorup and Zadimoghaddam), ``jump`` (jump
consistent hash, Lamping and Veach), ``rendezvous`` (highest-random-weight
hashing, Thaler and Ravishankar, weighted as in Schindelhauer and Schomaker),
``modulo`` (``hash(key) % n``: the baseline that moves almost every key).

Used wherever the lab shards: the load balancer's consistent-hash algorithm,
the CDN's edge choice, the MySQL-backed KV store's hash routing.
``python -m bench.hashring`` measures skew against virtual nodes and the keys
that move when a node joins or leaves.

Why not Python's ``hash()``: it is salted per process (PYTHONHASHSEED), so two
processes -- or one process before and after a restart -- would disagree about
where a key lives.
"""

from .hashing import hash64
from .jump import JumpHash, jump_hash
from .modulo import ModuloHash
from .rendezvous import RendezvousHash
from .ring import BoundedLoads, HashRing

__all__ = [
    "BoundedLoads", "HashRing", "JumpHash", "ModuloHash", "RendezvousHash", "hash64", "jump_hash",
]  # fmt: skip
