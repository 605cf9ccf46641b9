"""The memtable: the newest writes, in memory, until a flush turns them into a table.

A dict (key -> value, or None for a tombstone) and a sorted key list built
lazily: writes are O(1), a scan pays one sort after each batch of new keys.
leveldb uses a skip list, which keeps order on every insert; in Python a dict
plus an occasional ``sorted`` (C speed) is faster for the write-heavy case.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

# Per-entry overhead counted against the write buffer besides key and value bytes:
# roughly what the dict slot and the two objects cost in CPython.
ENTRY_OVERHEAD = 64


class Memtable:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes | None] = {}
        self.bytes = 0
        self._sorted: list[bytes] | None = []

    def put(self, key: bytes, value: bytes | None) -> None:
        old = self.data.get(key, b"")
        if key not in self.data:
            self._sorted = None
            self.bytes += len(key) + ENTRY_OVERHEAD
        self.bytes += (len(value) if value else 0) - (len(old) if old else 0)
        self.data[key] = value

    def get(self, key: bytes) -> tuple[bool, bytes | None]:
        if key in self.data:
            return True, self.data[key]
        return False, None

    def sorted_keys(self) -> list[bytes]:
        s = self._sorted
        if s is None:
            s = self._sorted = sorted(self.data)
        return s

    def scan(
        self, start: bytes | None = None, keys: list[bytes] | None = None
    ) -> Iterator[tuple[bytes, bytes | None]]:
        """Entries from ``start`` in order; ``keys``: a ``sorted_keys()`` taken under the writers' lock."""
        keys = self.sorted_keys() if keys is None else keys
        data = self.data
        i = 0 if start is None else bisect.bisect_left(keys, start)
        for k in keys[i:]:
            yield k, data[k]

    def __len__(self) -> int:
        return len(self.data)
