"""``BPlusTree.open(dir)``: the B+ tree engine (S8) with its crash-safety approach.

Crash safety: **a logical WAL plus checkpoints through a double-write file**
(InnoDB's shape). Every put/delete is appended to a ``storage.wal`` log
(under the sync policy) and applied to pages in the cache; the page file is
written only by a checkpoint (``pager.py``), which records in page 0 the last
WAL entry it includes. Recovery: finish a checkpoint's double write if one was
interrupted (so no torn page survives), then replay the WAL entries after
that position. Why not copy-on-write pages: leaf sibling links would make
every leaf rewrite cascade along the chain (LMDB drops sibling links for that
reason); the WAL keeps them cheap. What it costs: each checkpointed page is
written twice, and a put costs one WAL append besides the page work.

Sync policies as Bitcask's: ``"always"`` fsyncs the WAL before a write
returns (concurrent writers share fsyncs: the wait is outside the engine
lock); an integer N fsyncs every N ms; ``"never"`` leaves it to the OS. A
process crash (SIGKILL) loses nothing acknowledged under any policy.

Opening checks every page's checksum before serving (a flipped byte anywhere
is reported as ``Corruption`` with the file and offset, and
``python -m storage.check --repair DIR`` rebuilds the tree from the pages
that survive, see ``repair.py``); a page read later (bit rot after open)
is checked again on every cache miss.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

from storage.bitcask.lock import DirLock
from storage.record import StorageError
from storage.wal import Wal, replay
from storage.wal.entry import encode_delete, encode_put

from . import pager as pgr
from .page import MAX_KEY, MAX_VALUE
from .tree import Tree

log = logging.getLogger(__name__)

SyncPolicy = Literal["always", "never"] | int
WAL_DIR = "wal"
# Entries fetched per lock hold during a scan: long scans do not stall writers,
# and each batch re-descends from the last key, so a write between batches is safe.
SCAN_BATCH = 256


class Closed(StorageError):
    """The tree was closed."""


class BPlusTree:
    """A B+ tree in a directory: ``tree.db`` (pages), ``wal/`` and, mid-checkpoint, ``DWRITE``."""

    max_key = MAX_KEY
    max_value = MAX_VALUE

    def __init__(self, directory: str, pager: pgr.Pager, wal: Wal, lock: DirLock) -> None:
        self.dir = directory
        self.pager = pager
        self.tree = Tree(pager)
        self.wal = wal
        self._dirlock: DirLock | None = lock
        self._lock = threading.RLock()
        self._closed = False
        self._stopped: str | None = None  # why writes were stopped (a full disk), if they were
        self.replayed = 0

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        sync: SyncPolicy = "never",
        cache_pages: int = pgr.DEFAULT_CACHE_PAGES,
        verify: bool = True,
    ) -> BPlusTree:
        """Open (creating if needed) and lock; raises Locked or Corruption (file, offset)."""
        path = os.fspath(directory)
        os.makedirs(path, exist_ok=True)
        lock = DirLock(path, "B+ tree")
        try:
            pager = pgr.Pager(path, cache_pages)
        except BaseException:
            lock.release()
            raise
        try:
            if verify:
                pgr.verify(pager.path, pager.meta)
            replayed = _replay(Tree(pager), os.path.join(path, WAL_DIR), pager.meta.ckpt_seq)
            wal = _open_wal(os.path.join(path, WAL_DIR), sync, pager.meta.ckpt_seq)
        except BaseException:
            pager.close()
            lock.release()
            raise
        db = cls(path, pager, wal, lock)
        db.replayed = replayed
        if replayed:
            db.checkpoint()
        return db

    # -- the API ------------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            if self._closed:
                raise Closed(f"{self.dir}: the B+ tree is closed")
            return self.tree.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``; durable on return only with sync="always"."""
        check_entry(key, value)
        with self._lock:
            self._check_writable()
            seq = self._log(lambda s: encode_put(s, key, value))
            self.tree.put(key, value)
            self._maybe_checkpoint()
        self.wal.wait(seq)

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; False if it was not there (then nothing is logged)."""
        check_key(key)
        with self._lock:
            self._check_writable()
            if self.tree.get(key) is None:
                return False
            seq = self._log(lambda s: encode_delete(s, key))
            self.tree.delete(key)
            self._maybe_checkpoint()
        self.wal.wait(seq)
        return True

    def _log(self, make: Callable[[int], tuple[int, bytes]]) -> int:
        """Hand one entry to the OS before the pages change: a refused write changes nothing."""
        seq = self.wal.submit(make)
        try:
            self.wal.wait(seq, durable=False)
        except (OSError, StorageError) as e:
            self._stop_writes(e)
            raise
        return seq

    def scan(self, start: bytes | None = None, end: bytes | None = None) -> Iterator[
        tuple[bytes, bytes]
    ]:
        """(key, value) with start <= key < end in key order, fetched in batches under the lock."""
        while True:
            with self._lock:
                self._check_open()
                batch = []
                for kv in self.tree.scan(start, end):
                    batch.append(kv)
                    if len(batch) == SCAN_BATCH:
                        break
            yield from batch
            if len(batch) < SCAN_BATCH:
                return
            start = batch[-1][0] + b"\0"  # the smallest key after the last one

    def keys(self) -> list[bytes]:
        return [k for k, _ in self.scan()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self.get(key) is not None

    def __len__(self) -> int:
        return self.pager.meta.count

    def checkpoint(self) -> int:
        """Write the changed pages to the page file (crash-safely) and drop the WAL they cover."""
        with self._lock:
            self._check_open()
            upto = self.wal.rotate() - 1  # every entry <= upto is now durable, and applied
            written = self.pager.checkpoint(upto)
            self.wal.truncate_through(upto)
            return written

    def _maybe_checkpoint(self) -> None:
        """Checkpoint when the dirty pages fill three quarters of the cache.

        A failure here (a full disk) does not fail the write that triggered it:
        that write is already in the WAL. Writes stop from now on; reads go on
        from the cache, and the WAL replays everything at the next open.
        """
        if self.pager.needs_checkpoint:
            try:
                self.checkpoint()
            except (OSError, StorageError) as e:
                self._stop_writes(e)

    def _stop_writes(self, err: BaseException) -> None:
        if self._stopped is None:
            self._stopped = f"writes stopped after: {err}"
            log.error("%s: %s (reads go on; free space and restart)", self.dir, self._stopped)

    def _check_writable(self) -> None:
        self._check_open()
        if self._stopped is not None:
            raise StorageError(f"{self.dir}: {self._stopped}")

    def sync(self) -> None:
        self.wal.sync()

    def stats(self) -> dict[str, Any]:
        m, p, t = self.pager.meta, self.pager, self.tree.stats
        return {
            "keys": m.count, "height": m.height, "pages": m.npages, "root_page": m.root,
            "cache_pages": p.cache_pages, "cached_pages": len(p.clean) + len(p.dirty),
            "dirty_pages": len(p.dirty), "cache_misses": p.misses,
            "checkpoints": p.checkpoints, "splits": t.splits, "merges": t.merges,
            "redistributions": t.redistributions, "root_growths": t.root_growths,
            "root_collapses": t.root_collapses, "wal_replayed": self.replayed,
        }  # fmt: skip

    def close(self) -> None:
        """Checkpoint, close the WAL and the page file, release the lock."""
        with self._lock:
            if self._closed:
                return
            try:
                if (self.pager.dirty or self.pager.meta_dirty) and self._stopped is None:
                    self.checkpoint()
            finally:
                self._release()

    def abandon(self) -> None:
        """Drop everything without a checkpoint: what a crash leaves (for tests)."""
        with self._lock:
            if not self._closed:
                self._release()

    def _release(self) -> None:
        self._closed = True
        try:
            self.wal.close()
        finally:
            self.pager.close()
            if self._dirlock is not None:
                self._dirlock.release()
                self._dirlock = None

    def _check_open(self) -> None:
        if self._closed:
            raise Closed(f"{self.dir}: the B+ tree is closed")

    def __enter__(self) -> BPlusTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_key(key: bytes) -> None:
    if not 0 < len(key) <= MAX_KEY:
        raise ValueError(f"key length must be 1..{MAX_KEY} bytes")


def check_entry(key: bytes, value: bytes) -> None:
    check_key(key)
    if len(value) > MAX_VALUE:
        raise ValueError(f"value of {len(value)} bytes exceeds {MAX_VALUE}")


def _replay(tree: Tree, wal_dir: str, after: int) -> int:
    if not os.path.isdir(wal_dir):
        return 0
    n = 0
    for e in replay(wal_dir, after=after):
        if e.value is None:
            tree.delete(e.key)
        else:
            tree.put(e.key, e.value)
        n += 1
    return n


def _open_wal(wal_dir: str, sync: SyncPolicy, ckpt_seq: int) -> Wal:
    if sync == "always" or sync == "never":
        return Wal(wal_dir, sync=sync, first_seq=ckpt_seq + 1)
    if isinstance(sync, int) and sync > 0:
        return Wal(wal_dir, sync="interval", interval_ms=sync, first_seq=ckpt_seq + 1)
    raise ValueError(f"sync must be 'always', 'never' or a positive number of ms, not {sync!r}")
