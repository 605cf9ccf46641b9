"""MongoDB's ObjectId: 12 bytes, unique without coordination, ordered by second.

Layout (big-endian, as the MongoDB spec "ObjectId" describes it)::

    4 bytes: Unix seconds | 5 bytes: random, once per process | 3 bytes: counter

The random part stands in for "which machine and process" (older drivers used
a machine hash and the pid); the counter starts at a random value and adds one
per id, wrapping at 2**24. Two ids collide only if one process makes more than
16.7M ids in one second or two processes draw the same 40 random bits.
Ordering: by the second only; inside a second the random part decides across
processes, so ids are roughly, not strictly, ordered.

A forked child would inherit the parent's random bytes and counter: the
generator notices the pid changed and draws new ones.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

COUNTER_MOD = 1 << 24
OBJECTID_LEN = 12


class ObjectIdParts(NamedTuple):
    seconds: int
    random: bytes
    counter: int


def decode_objectid(oid: bytes | str) -> ObjectIdParts:
    """The three fields of an ObjectId given as 12 bytes or 24 hex digits."""
    raw = bytes.fromhex(oid) if isinstance(oid, str) else oid
    if len(raw) != OBJECTID_LEN:
        raise ValueError(f"an ObjectId is {OBJECTID_LEN} bytes, got {len(raw)}")
    return ObjectIdParts(int.from_bytes(raw[:4], "big"), raw[4:9], int.from_bytes(raw[9:], "big"))


class ObjectIdGenerator:
    """Thread-safe ObjectId maker; ``clock()`` returns Unix seconds."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pid = -1
        self._reseed()

    def _reseed(self) -> None:
        self._pid = os.getpid()
        self.random = os.urandom(5)
        self._counter = int.from_bytes(os.urandom(3), "big")

    def next_bytes(self) -> bytes:
        with self._lock:
            if os.getpid() != self._pid:
                self._reseed()
            self._counter = (self._counter + 1) % COUNTER_MOD
            count = self._counter
        seconds = int(self._clock()) & 0xFFFFFFFF
        return seconds.to_bytes(4, "big") + self.random + count.to_bytes(3, "big")

    def next_id(self) -> str:
        """24 hex digits, as drivers print them."""
        return self.next_bytes().hex()
