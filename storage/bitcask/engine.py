"""The Bitcask engine: an in-memory keydir over append-only, checksummed data files.

Strategy (Sheehy & Smith, "Bitcask: A Log-Structured Hash Table for Fast
Key/Value Data", 2010). Every write appends one record to the single *active*
data file and points the keydir (key -> file id, offset, size, ts) at it; a read
is one dict lookup and one ``os.pread`` on a cached descriptor. A delete appends
a tombstone. The active file is rotated (synced, given a hint file, made
read-only in spirit) when the next record would push it past
``max_file_size``; ``close`` does the same, so each ``open`` starts a new
active file, as in the paper. ``merge`` (merge.py) rewrites the older files
keeping only live records.

Durability is the sync policy's: ``"always"`` fsyncs before ``put``/``delete``
return; an integer N fsyncs from a background thread every N ms (Redis's
``appendfsync everysec`` shape); ``"never"`` leaves it to the OS (Linux writes
dirty pages back within ~30 s). The window, precisely: a *process* crash
(SIGKILL, an exception) loses nothing under any policy, since written bytes
sit in the kernel's page cache; a power cut or kernel crash loses the writes of
the last N ms plus one fsync's duration under N, and anything unsynced under
``"never"``. Rotation and close always fsync, and a hint never describes bytes
that were not fsynced first.

Threads: one ``RLock`` guards the keydir, the descriptor table and the active
file. Reads take it too: merge swaps keydir entries and closes old files under
it, so a read never preads a descriptor that was closed under its feet. The
lock is held for microseconds except for merge's per-file keydir swap and, with
``sync="always"``, the fsync a write waits for (no group commit: concurrent
writers each pay one fsync; a production engine batches them, as the WAL does).

What we give up, candidly: the keydir holds every key in RAM (Bitcask's
defining trade); values are not compressed; there is no repair mode, so a
corrupt record in the middle of a file stops ``open`` with ``Corruption`` and a
human decides (the same stance as leveldb's paranoid checks).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Literal

from storage.record import (
    HEADER,
    HEADER_SIZE,
    Corruption,
    StorageError,
    decode_at,
    encode,
    file_header,
    fsync_dir,
)

from . import format as fmt
from . import load, merge
from .load import Loc
from .lock import DirLock

log = logging.getLogger(__name__)

# Riak's bitcask rotates at 2 GiB; 64 MiB keeps start-up scans of an unhinted
# file and merge's per-file memory modest on a laptop.
DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024
FILE_HEADER = file_header(fmt.DATA_KIND)

SyncPolicy = Literal["always", "never"] | int


# fdatasync, as leveldb and SQLite use on Linux: it flushes the data and the
# metadata needed to read it back (the file size of an append), skipping only
# timestamps. The file's creation is made durable with fsync + fsync(dir) once.
def _datasync(fd: int) -> None:
    os.fdatasync(fd)  # looked up per call, so fault-injection tests can count it


class Closed(StorageError):
    """The Bitcask was closed (or abandoned)."""


class Bitcask:
    """A Bitcask directory opened for reading and writing (one writer per directory)."""

    max_key = fmt.MAX_KEY_SIZE
    max_value = fmt.MAX_VALUE_SIZE

    def __init__(self, directory: str, max_file_size: int, sync: SyncPolicy) -> None:
        self.dir = directory
        self.max_file_size = max_file_size
        self.sync_policy = _check_policy(sync)
        self.keydir: load.Keydir = {}
        self._sorted: list[bytes] | None = None  # the keydir's keys in order, for scans
        self._lock = threading.RLock()
        self._fds: dict[int, int] = {}  # file id -> descriptor used by pread
        self._next_id = 1
        self._last_ts = 0
        self._active_id = 0
        self._active_fd = -1
        self._active_size = 0
        self._synced_size = 0
        self._active_hints: list[bytes] = []
        self._closed = False
        self._closing = False  # close() is waiting for a merge to stop
        self.merging = False
        self.merge_idle = threading.Condition(self._lock)  # notified when a merge ends
        self._dirlock: DirLock | None = None
        self._stop_sync = threading.Event()
        self._sync_thread: threading.Thread | None = None

    # -- opening -------------------------------------------------------------
    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        sync: SyncPolicy = "never",
    ) -> Bitcask:
        """Open (creating if needed) and lock a Bitcask directory; raises Locked or Corruption."""
        path = os.fspath(directory)
        os.makedirs(path, exist_ok=True)
        db = cls(path, max_file_size, sync)
        db._dirlock = DirLock(path)
        try:
            db._recover()
            db._new_active_file()
        except BaseException:
            db._release_fds()
            raise
        db._start_sync_thread()
        return db

    def _recover(self) -> None:
        merge.finish_retire(self.dir)
        _remove_strays(self.dir)
        ids = sorted(i for n in os.listdir(self.dir) if (i := fmt.parse_data_name(n)) is not None)
        loader = load.Loader()
        for file_id in ids:
            self._load_file(file_id, loader)
        self.keydir = loader.keydir
        self._last_ts = loader.max_ts
        self._next_id = (ids[-1] + 1) if ids else 1
        log.debug("opened %s: %d keys in %d files", self.dir, len(self.keydir), len(self._fds))

    def _load_file(self, file_id: int, loader: load.Loader) -> None:
        data = os.path.join(self.dir, fmt.data_name(file_id))
        hint = os.path.join(self.dir, fmt.hint_name(file_id))
        size = os.path.getsize(data)
        entries = load.read_hint(hint, size)
        if entries is None:
            entries = self._recover_data_file(data, hint, file_id)
            if entries is None:
                return
        for e in entries:
            loader.apply(file_id, e)
        self._fds[file_id] = os.open(data, os.O_RDONLY)

    def _recover_data_file(self, data: str, hint: str, file_id: int) -> list[fmt.Entry] | None:
        """Scan a data file without a usable hint: cut a torn tail, write a fresh hint."""
        scan = load.scan_data(data)
        if scan.valid_end < len(FILE_HEADER):
            if scan.size > len(FILE_HEADER):
                raise Corruption(data, 0, "no valid file header, yet more bytes follow")
            # Died while creating it: nothing in it was ever acknowledged.
            log.info("removing %s: no complete header", data)
            os.unlink(data)
            if os.path.exists(hint):
                os.unlink(hint)
            return None
        with open(data, "r+b") as f:
            if scan.valid_end < scan.size:
                log.warning("%s: torn tail at offset %d ignored (truncated)", data, scan.valid_end)
                f.truncate(scan.valid_end)
            # Even when whole, what we scanned may be only in the page cache (a process
            # crash under sync="never"): the hint must not describe bytes a power cut
            # could still take away, so the data reaches the disk before the hint does.
            os.fsync(f.fileno())
        load.write_hint(self.dir, file_id, load.hint_records(scan.entries), scan.valid_end)
        return scan.entries

    # -- the API ---------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, or None. Raises Corruption if its record fails the check."""
        with self._lock:
            loc = self.keydir.get(key)
            if loc is None:
                return None
            self.check_open()
            buf = os.pread(self._fds[loc.file_id], loc.size, loc.offset)
        return self._value_of(key, loc, buf)

    def _value_of(self, key: bytes, loc: Loc, buf: bytes) -> bytes:
        # The file's path is built only for an error: py-spy found a quarter of
        # readrandom's time formatting it for every read.
        if len(buf) != loc.size or HEADER.unpack_from(buf)[1] != loc.size - HEADER_SIZE:
            raise Corruption(self._where(loc), loc.offset, "record length differs from the keydir's")
        try:
            rec = decode_at(buf, 0)
        except Corruption as e:
            raise Corruption(self._where(loc), loc.offset, e.reason) from None
        _, rkey, value = fmt.split_data(rec.payload)
        if rec.rtype != fmt.T_PUT or rkey != key:
            raise Corruption(self._where(loc), loc.offset, "record is not this key's put")
        return value

    def _where(self, loc: Loc) -> str:
        return os.path.join(self.dir, fmt.data_name(loc.file_id))

    def put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``; durable on return only with sync="always"."""
        _check_key(key)
        if len(value) > fmt.MAX_VALUE_SIZE:
            raise ValueError(f"value of {len(value)} bytes exceeds {fmt.MAX_VALUE_SIZE}")
        with self._lock:
            self.check_open()
            ts = self._tick()
            rec = encode(fmt.T_PUT, fmt.put_payload(ts, key, value))
            off = self._append(rec)
            if key not in self.keydir:
                self._sorted = None
            self.keydir[key] = Loc(self._active_id, off, len(rec), ts)
            self._active_hints.append(encode(fmt.T_HINT_PUT, fmt.hint_put(ts, off, len(rec), key)))
            self._written()

    def delete(self, key: bytes) -> bool:
        """Remove ``key`` (appends a tombstone); False if it was not there."""
        _check_key(key)
        with self._lock:
            self.check_open()
            if key not in self.keydir:
                return False
            ts = self._tick()
            self._append(encode(fmt.T_DELETE, fmt.delete_payload(ts, key)))
            del self.keydir[key]
            self._sorted = None
            self._active_hints.append(encode(fmt.T_HINT_DELETE, fmt.hint_delete(ts, key)))
            self._written()
            return True

    def keys(self) -> list[bytes]:
        with self._lock:
            return list(self.keydir)

    def scan(self, start: bytes | None = None, end: bytes | None = None) -> Iterator[
        tuple[bytes, bytes]
    ]:
        """(key, value) for start <= key < end in key order.

        The keydir is a hash, so the keys are sorted once and the sorted list kept
        until a key is added or deleted (an overwrite keeps it): seeks between
        writes to existing keys cost a bisect, not a sort. The list is replaced,
        never changed, so iterating it outside the lock is safe.
        """
        with self._lock:
            if self._sorted is None:
                self._sorted = sorted(self.keydir)
            keys = self._sorted
        lo = bisect_left(keys, start) if start is not None else 0
        hi = bisect_left(keys, end) if end is not None else len(keys)
        for i in range(lo, hi):
            v = self.get(keys[i])
            if v is not None:  # deleted since the keys were listed
                yield keys[i], v

    def __contains__(self, key: object) -> bool:
        return key in self.keydir

    def __len__(self) -> int:
        return len(self.keydir)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.keys())

    def merge(self) -> dict[str, int]:
        """Compact every file but the active one; reads and writes keep working meanwhile."""
        return merge.merge(self)

    def sync(self) -> None:
        """fsync the active file: everything written so far survives a crash."""
        with self._lock:
            self.check_open()
            self._sync_active()

    def close(self) -> None:
        """Sync, write the active file's hint, release descriptors and the lock."""
        self._stop_sync_thread()  # before taking the lock: the thread may be waiting for it
        with self._lock:
            if self._closed:
                return
            # A merge thread writes files in the directory: the lock may not be released
            # (letting another process in) until it has stopped. It stops at its next file.
            self._closing = True
            while self.merging:
                self.merge_idle.wait()
            if self._active_size > len(FILE_HEADER):
                self._seal_active()
            else:  # nothing was written since open: leave no empty file behind
                os.close(self._fds.pop(self._active_id))
                os.unlink(self.active_path)
            self._release_fds()

    def abandon(self) -> None:
        """Drop everything without syncing or writing a hint: what a crash leaves (for tests)."""
        self._stop_sync_thread()
        with self._lock:
            self._release_fds()

    def __enter__(self) -> Bitcask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what tests and stats look at -----------------------------------------
    @property
    def active_path(self) -> str:
        return os.path.join(self.dir, fmt.data_name(self._active_id))

    @property
    def active_size(self) -> int:
        return self._active_size

    @property
    def synced_size(self) -> int:
        """Bytes of the active file known to be on disk (a crash keeps at least these)."""
        return self._synced_size

    def disk_usage(self) -> int:
        """Bytes of data and hint files in the directory."""
        names = os.listdir(self.dir)
        return sum(
            os.path.getsize(os.path.join(self.dir, n))
            for n in names
            if n.endswith((".data", ".hint"))
        )

    # -- the active file ---------------------------------------------------------
    def _tick(self) -> int:
        self._last_ts = max(time.time_ns(), self._last_ts + 1)
        return self._last_ts

    def _append(self, rec: bytes) -> int:
        if self._active_size + len(rec) > self.max_file_size and self._active_size > len(
            FILE_HEADER
        ):
            self._rotate()
        off = self._active_size
        try:
            n = os.write(self._active_fd, rec)
            if n != len(rec):
                # A short write to a regular file means no space is left (the next
                # write would fail with ENOSPC): say so in the error's errno.
                raise OSError(errno.ENOSPC, f"short write ({n} of {len(rec)} bytes)")
        except OSError:
            os.ftruncate(self._active_fd, off)  # never leave half a record behind a good one
            raise
        self._active_size += len(rec)
        return off

    def _written(self) -> None:
        if self.sync_policy == "always":
            self._sync_active()

    def _sync_active(self) -> None:
        if self._synced_size < self._active_size:
            _datasync(self._active_fd)
            self._synced_size = self._active_size

    def _rotate(self) -> None:
        self._seal_active()
        self._new_active_file()

    def _seal_active(self) -> None:
        """Make the active file immutable: fsync it and write its hint file."""
        if self._active_fd < 0:
            return
        self._sync_active()
        load.write_hint(self.dir, self._active_id, self._active_hints, self._active_size)
        self._active_hints = []

    def _new_active_file(self) -> None:
        file_id = self.allocate_id()
        path = os.path.join(self.dir, fmt.data_name(file_id))
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.write(fd, FILE_HEADER)
        os.fsync(fd)
        fsync_dir(self.dir)
        self._fds[file_id] = fd
        self._active_id, self._active_fd = file_id, fd
        self._active_size = self._synced_size = len(FILE_HEADER)

    def allocate_id(self) -> int:
        """A new file id (the active file's and merge's outputs come from one counter)."""
        with self._lock:
            file_id = self._next_id
            self._next_id += 1
            return file_id

    # -- descriptors, the sync thread, checks ----------------------------------------
    def _release_fds(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._active_fd = -1
        self._closed = True
        if self._dirlock is not None:
            self._dirlock.release()

    def check_open(self) -> None:
        if self._closed or self._closing:
            raise Closed(f"Bitcask {self.dir} is closed")

    def _start_sync_thread(self) -> None:
        if isinstance(self.sync_policy, int):
            self._sync_thread = threading.Thread(
                target=self._sync_loop, args=(self.sync_policy / 1000,), daemon=True,
                name=f"bitcask-sync {self.dir}",
            )  # fmt: skip
            self._sync_thread.start()

    def _sync_loop(self, interval: float) -> None:
        """fsync outside the lock, so writers are not held up by the disk."""
        while not self._stop_sync.wait(interval):
            with self._lock:
                if self._closed:
                    return
                file_id, fd, size = self._active_id, self._active_fd, self._active_size
                if self._synced_size >= size:
                    continue
            try:
                _datasync(fd)
            except OSError:  # rotated and closed meanwhile: rotation synced it
                continue
            with self._lock:
                # Compare ids, not descriptors: after a rotation and a merge the number
                # ``fd`` may already name a newer active file that this fsync never covered.
                if self._active_id == file_id:
                    self._synced_size = max(self._synced_size, size)

    def _stop_sync_thread(self) -> None:
        self._stop_sync.set()
        t = self._sync_thread
        if t is not None and t is not threading.current_thread():
            t.join()

    # used by merge.py
    def files_to_merge(self) -> list[int]:
        """Seal the active file (so everything written so far is merged) and list the old files."""
        with self._lock:
            self.check_open()
            if self._active_size > len(FILE_HEADER):
                self._rotate()
            return sorted(i for i in self._fds if i != self._active_id)

    def install_merged(self, file_id: int, moves: list[tuple[bytes, Loc, Loc]]) -> int:
        """Point keys at a finished merge output file; only keys not rewritten meanwhile.

        Returns how many keys moved. Compare-and-swap per key under the lock, so a
        put or delete that raced with the merge always wins over the merged copy.
        """
        path = os.path.join(self.dir, fmt.data_name(file_id))
        with self._lock:
            self.check_open()
            self._fds[file_id] = os.open(path, os.O_RDONLY)
            moved = 0
            for key, old, new in moves:
                if self.keydir.get(key) == old:
                    self.keydir[key] = new
                    moved += 1
            return moved

    def drop_files(self, file_ids: list[int]) -> None:
        """Close the descriptors of merged-away files (after checking nothing points there)."""
        gone = set(file_ids)
        with self._lock:
            self.check_open()
            stale = sum(1 for loc in self.keydir.values() if loc.file_id in gone)
            if stale:
                raise StorageError(f"merge bug: {stale} keys still point into {sorted(gone)}")
            for fid in file_ids:
                os.close(self._fds.pop(fid))


def _check_policy(sync: SyncPolicy) -> SyncPolicy:
    if sync in ("always", "never") or (isinstance(sync, int) and sync > 0):
        return sync
    raise ValueError(f"sync must be 'always', 'never' or a positive number of ms, not {sync!r}")


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes):
        raise TypeError("keys are bytes")
    if not 0 < len(key) <= fmt.MAX_KEY_SIZE:
        raise ValueError(f"key length must be 1..{fmt.MAX_KEY_SIZE} bytes")


def _remove_strays(directory: str) -> None:
    """Remove what a crash can leave behind and must never be trusted.

    ``*.tmp``: a hint or marker whose rename never happened. A hint without its
    data file: its id would otherwise be handed to a new data file, and the stale
    hint read for it after the next crash.
    """
    names = set(os.listdir(directory))
    for name in names:
        orphan = name.endswith(".hint") and name[:-5] + ".data" not in names
        if name.endswith(".tmp") or orphan:
            os.unlink(os.path.join(directory, name))
