"""Committed consumer offsets, kept durably.

Each OffsetCommit appends one checksummed record (``storage.record``) per
partition to ``__consumer_offsets/offsets.log`` and fsyncs before the commit is
answered; start-up replays the file (the last record per key wins) and stops
cleanly at a torn tail. When the file holds many more records than live keys it
is rewritten atomically (temp + fsync + rename), which is Kafka's compaction of
``__consumer_offsets`` in miniature.
"""

from __future__ import annotations

import json
from pathlib import Path

from storage.record import Reader, Writer, encode, file_header, write_atomically

_COMMIT = 16  # record type (0..15 are storage.record's own, e.g. the file header)
# Rewrite the file once it holds this many times more records than live keys.
_COMPACT_RATIO = 8
_COMPACT_MIN = 10_000

Key = tuple[str, str, int]  # group, topic, partition


class OffsetStore:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "offsets.log"
        self.offsets: dict[Key, tuple[int, str | None]] = {}
        self.records = 0
        if self.path.exists():
            for rec in Reader(self.path.read_bytes(), str(self.path)):
                if rec.rtype == _COMMIT:
                    g, t, p, off, meta = json.loads(rec.payload)
                    self.offsets[(g, t, p)] = (off, meta)
                    self.records += 1
        self._w = Writer(self.path, "kafka-offsets")

    def commit(self, entries: list[tuple[Key, int, str | None]]) -> None:
        """Durable once this returns (fsynced)."""
        for key, off, meta in entries:
            self._w.append(_COMMIT, json.dumps([*key, off, meta]).encode())
            self.offsets[key] = (off, meta)
        self.records += len(entries)
        self._w.sync()
        if self.records > max(_COMPACT_MIN, _COMPACT_RATIO * len(self.offsets)):
            self._compact()

    def get(self, key: Key) -> tuple[int, str | None] | None:
        return self.offsets.get(key)

    def group_offsets(self, group: str) -> dict[tuple[str, int], tuple[int, str | None]]:
        return {(t, p): v for (g, t, p), v in self.offsets.items() if g == group}

    def groups(self) -> set[str]:
        return {g for g, _, _ in self.offsets}

    def _compact(self) -> None:
        self._w.close()
        chunks = [file_header("kafka-offsets")] + [
            encode(_COMMIT, json.dumps([*k, off, meta]).encode())
            for k, (off, meta) in self.offsets.items()
        ]
        write_atomically(self.path, chunks)
        self.records = len(self.offsets)
        self._w = Writer(self.path, "kafka-offsets")

    def close(self) -> None:
        self._w.close()
