"""A small KV store that survives crashes: a dict, a WAL, and periodic snapshots.

Recovery (``KVStore.__init__``): load the snapshot (seq S and its map), replay the
WAL entries after S, then open the WAL for appending (which truncates its torn
tail). A write is acknowledged (``put`` / ``delete`` return) only once the WAL
promises it under the chosen sync policy -- with ``always``, once it is fsynced.

Checkpoint (``snapshot``), every ``snapshot_every`` writes or on demand:

1. under the store lock: ``wal.rotate()`` (fsyncs everything queued, starts a new
   segment at S + 1) and copy the map -- so the copy holds exactly entries <= S;
2. outside the lock, while writers carry on into the new segment: write the
   snapshot (temp + fsync + rename + fsync dir);
3. ``wal.truncate_through(S)`` deletes the sealed segments.

A crash between any two steps is safe: before 2 completes the old snapshot plus
the whole log recover; after it, replay skips entries <= S by their seq.

Writers: the map is updated under the store lock in the same order the WAL hands
out sequence numbers, and the fsync wait happens outside it, so concurrent
writers share fsyncs (group commit). What we give up: a ``get`` may see a write
whose fsync is still in flight (a production store would publish a "visible
seq" only after the fsync, as leveldb's versions do).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from storage.record import NotFound
from storage.wal import Wal, replay
from storage.wal.entry import encode_delete, encode_put

from . import snapshot

log = logging.getLogger(__name__)

# Snapshot after this many writes by default: replay after a crash then reads at
# most ~this many WAL entries, and a snapshot of a small map costs a few ms.
DEFAULT_SNAPSHOT_EVERY = 10_000


@dataclass(frozen=True)
class Recovery:
    snapshot_seq: int  # everything up to here came from the snapshot
    replayed: int  # WAL entries applied after it
    keys: int


class KVStore:
    """put / get / delete over a WAL + snapshot in ``directory``."""

    def __init__(
        self,
        directory: str | Path,
        sync: str = "always",
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        segment_bytes: int | None = None,
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / snapshot.TMP_NAME).unlink(missing_ok=True)  # a crash mid-snapshot
        self.snapshot_every = snapshot_every
        self._lock = threading.Lock()
        self._snap_lock = threading.Lock()
        self._since_snapshot = 0
        self.snapshots = 0
        snap_seq, self._data = snapshot.load(self.dir)
        wal_dir = self.dir / "wal"
        wal_dir.mkdir(exist_ok=True)
        replayed = 0
        for e in replay(wal_dir, after=snap_seq):
            if e.value is None:
                self._data.pop(e.key, None)
            else:
                self._data[e.key] = e.value
            replayed += 1
        kw = {} if segment_bytes is None else {"segment_bytes": segment_bytes}
        self._wal = Wal(wal_dir, sync=sync, first_seq=snap_seq + 1, **kw)
        self.recovery = Recovery(snap_seq, replayed, len(self._data))
        self.last_snapshot_seq = snap_seq
        log.info("recovered %s", self.recovery)

    def put(self, key: bytes, value: bytes) -> None:
        with self._lock:
            seq = self._wal.submit(lambda s: encode_put(s, key, value))
            self._data[key] = value
            due = self._count_write()
        self._wal.wait(seq)
        if due:
            self.snapshot()

    def delete(self, key: bytes) -> bool:
        """Delete ``key``; True if it was there. Logged either way (idempotent on replay)."""
        with self._lock:
            seq = self._wal.submit(lambda s: encode_delete(s, key))
            existed = self._data.pop(key, None) is not None
            due = self._count_write()
        self._wal.wait(seq)
        if due:
            self.snapshot()
        return existed

    def get(self, key: bytes) -> bytes:
        with self._lock:
            try:
                return self._data[key]
            except KeyError:
                raise NotFound(key) from None

    def items(self) -> dict[bytes, bytes]:
        with self._lock:
            return dict(self._data)

    def _count_write(self) -> bool:
        self._since_snapshot += 1
        return self.snapshot_every > 0 and self._since_snapshot >= self.snapshot_every

    def snapshot(self) -> int:
        """Checkpoint now (see the module docstring); returns the seq it covers."""
        with self._snap_lock:
            with self._lock:
                seq = self._wal.rotate() - 1
                items = dict(self._data)
                self._since_snapshot = 0
            snapshot.write(self.dir, seq, items)
            removed = self._wal.truncate_through(seq)
            self.snapshots += 1
            self.last_snapshot_seq = seq
            log.debug(
                "snapshot at seq %d, %d keys, %d segments removed", seq, len(items), len(removed)
            )
            return seq

    @property
    def wal(self) -> Wal:
        return self._wal

    def close(self) -> None:
        self._wal.close()

    def __enter__(self) -> KVStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
