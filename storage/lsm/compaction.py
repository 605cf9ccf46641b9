"""Leveled compaction: which tables to merge, and the merge itself.

Picking (leveldb's rules). Level 0 holds whole flushed memtables, which
overlap; once it has ``l0_trigger`` tables they are all merged with the
overlapping tables of level 1. Level L >= 1 is one sorted run of
non-overlapping tables whose total size may reach ``base_bytes * ratio^(L-1)``;
the level whose size most exceeds its limit gives up one table (round-robin
by key, so every key range gets its turn), merged with the tables it overlaps
in level L + 1. A table with nothing to overlap below is *moved* (a manifest
edit, no bytes rewritten).

Merging: ``merge_sources`` yields each key once, from the newest source that
has it (sources are given newest first). A tombstone is kept unless no level
below the output holds the key's range: there it shadows nothing any more,
so it is dropped and its space reclaimed.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .sstable import Table

Entry = tuple[bytes, bytes | None]


@dataclass
class Pick:
    level: int  # inputs come from here ...
    inputs: list[Table]
    below: list[Table]  # ... and from the overlapping tables of level + 1
    output_level: int

    @property
    def all(self) -> list[Table]:
        return self.inputs + self.below


def overlapping(tables: Iterable[Table], lo: bytes, hi: bytes) -> list[Table]:
    return [t for t in tables if not (t.largest < lo or t.smallest > hi)]


def key_range(tables: Iterable[Table]) -> tuple[bytes, bytes]:
    ts = list(tables)
    return min(t.smallest for t in ts), max(t.largest for t in ts)


def level_limit(level: int, base_bytes: int, ratio: int) -> int:
    return base_bytes * ratio ** (level - 1)


def pick(
    levels: list[list[Table]], l0_trigger: int, base_bytes: int, ratio: int,
    pointers: dict[int, bytes],
) -> Pick | None:  # fmt: skip
    """The next compaction to run, or None when every level is within its limit."""
    if len(levels[0]) >= l0_trigger:
        lo, hi = key_range(levels[0])
        return Pick(0, list(levels[0]), overlapping(levels[1], lo, hi), 1)
    best, score = None, 1.0
    for lvl in range(1, len(levels) - 1):
        s = sum(t.size for t in levels[lvl]) / level_limit(lvl, base_bytes, ratio)
        if s > score:
            best, score = lvl, s
    if best is None:
        return None
    after = pointers.get(best, b"")
    run = levels[best]
    table = next((t for t in run if t.largest > after), run[0])
    pointers[best] = table.largest
    return Pick(
        best, [table], overlapping(levels[best + 1], table.smallest, table.largest), best + 1
    )


def merge_sources(sources: list[Iterator[Entry]]) -> Iterator[Entry]:
    """Each key once, from the first (newest) source that has it; tombstones included."""
    tagged = [((k, i, v) for k, v in src) for i, src in enumerate(sources)]
    last = None
    for k, _i, v in heapq.merge(*tagged, key=lambda e: (e[0], e[1])):
        if k != last:
            last = k
            yield k, v


def drop_tombstones(entries: Iterator[Entry]) -> Iterator[Entry]:
    return ((k, v) for k, v in entries if v is not None)
