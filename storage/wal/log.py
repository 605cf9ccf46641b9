"""The write-ahead log: append with a sync policy, group commit, rotation, truncation.

Sync policies (what "append returned" promises):

* ``always``: the entry is on disk (fsync) -- survives power loss.
* ``interval``: the entry is written to the OS; a background thread fsyncs every
  ``interval_ms``, so power loss costs at most that window. A process crash loses
  nothing (the page cache belongs to the kernel).
* ``never``: written to the OS; the kernel flushes when it likes (~30 s on Linux).

Group commit (all policies): appending is split into ``submit`` (take a sequence
number, encode, queue -- under a short lock, which fixes the log order) and
``wait`` (return once the entry is written / fsynced). The first waiter to find no
write in progress becomes the *leader*: it takes the whole queue, writes it with
one ``write()`` and, under ``always``, one fsync, then wakes everyone it covered.
Writers that queued meanwhile ride on the next leader's fsync, so 8 threads pay
for far fewer than 8 fsyncs. This is the leveldb/InnoDB scheme minus the
leader handing work to followers (Python's GIL makes that not worth it here).

Locks: ``_lock`` guards the queue and the counters; ``_io`` guards the file
(write, fsync, rotate). Order is always ``_io`` then ``_lock``, never the reverse.

What we give up: a failed write or fsync poisons the log (every later call raises
``WalError``) instead of retrying -- after a failed fsync the page cache state is
unknown (the PostgreSQL "fsyncgate" lesson), so the only honest move is to stop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage.record import Corruption, StorageError, Writer, encode, fsync_dir

from . import entry
from .segment import KIND, list_segments, read_segment, segment_name

log = logging.getLogger(__name__)

POLICIES = ("always", "interval", "never")
# 4 MiB segments: big enough that rotation (two fsyncs) is rare, small enough that
# truncation after a checkpoint frees space promptly.
DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024
# 10 ms: the "every N ms" default, a common group-commit/flush window (e.g. MySQL's
# binlog_group_commit_sync_delay is in this range).
DEFAULT_INTERVAL_MS = 10


class WalError(StorageError):
    """The log is closed or a write/fsync failed earlier."""


@dataclass
class Stats:
    appends: int = 0
    writes: int = 0  # write() calls (one per group)
    fsyncs: int = 0
    rotations: int = 0


class Wal:
    """An append-only log of puts and deletes in a directory of segments."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        sync: str = "always",
        interval_ms: float = DEFAULT_INTERVAL_MS,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        first_seq: int = 1,
    ) -> None:
        if sync not in POLICIES:
            raise ValueError(f"sync must be one of {POLICIES}, not {sync!r}")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.policy = sync
        self.segment_bytes = segment_bytes
        self.stats = Stats()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._io = threading.Lock()
        self._pending: list[bytes] = []
        self._leader = False
        self._error: BaseException | None = None
        self._closed = False
        self._writer, self._seg_first, next_seq = self._open_last_segment(first_seq)
        self._next_seq = next_seq  # the next number submit() hands out
        self._file_next = next_seq  # the next number written to the file (under _io)
        self._written = next_seq - 1  # highest seq handed to the OS
        self._durable = next_seq - 1  # highest seq covered by an fsync
        self._synced_offset = self._writer.offset  # what open() read back was on disk
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if sync == "interval":
            self._flusher = threading.Thread(
                target=self._flush_every,
                args=(interval_ms / 1000,),
                name="wal-flusher",
                daemon=True,
            )
            self._flusher.start()

    # -- opening ---------------------------------------------------------------

    def _open_last_segment(self, first_seq: int) -> tuple[Writer, int, int]:
        """The active segment: the last one (torn tail truncated) or a new one at ``first_seq``.

        ``first_seq`` matters only for an empty directory: a store whose snapshot
        covers up to S starts a fresh log at S + 1.
        """
        segs = list_segments(self.dir)
        if not segs:
            return self._create_segment(first_seq), first_seq, first_seq
        first, path = segs[-1]
        seg = read_segment(first, path)  # Corruption here stops the open, before truncating
        if seg.torn_at is not None:
            log.warning("%s: torn tail at %d truncated", path, seg.torn_at)
        w = Writer(path, KIND)  # truncates the torn tail
        return w, first, seg.next_seq

    def _create_segment(self, first_seq: int) -> Writer:
        w = Writer(self.dir / segment_name(first_seq), KIND)
        w.sync()
        fsync_dir(self.dir)  # the new name must survive a crash before anything in it counts
        return w

    # -- appending -------------------------------------------------------------

    def put(self, key: bytes, value: bytes) -> int:
        """Append a put; returns its seq once the policy's promise holds."""
        seq = self.submit(lambda s: entry.encode_put(s, key, value))
        self.wait(seq)
        return seq

    def delete(self, key: bytes) -> int:
        seq = self.submit(lambda s: entry.encode_delete(s, key))
        self.wait(seq)
        return seq

    def submit(self, make: Callable[[int], tuple[int, bytes]]) -> int:
        """Queue one entry built by ``make(seq)``; the returned seq fixes its place in the log."""
        with self._lock:
            self._check()
            seq = self._next_seq
            rtype, payload = make(seq)
            self._pending.append(encode(rtype, payload))
            self._next_seq = seq + 1
            self.stats.appends += 1
            return seq

    def wait(self, seq: int, durable: bool | None = None) -> None:
        """Return once ``seq`` is written (and fsynced when ``durable``, default: policy)."""
        if durable is None:
            durable = self.policy == "always"
        with self._cond:
            while (self._durable if durable else self._written) < seq:
                self._check()
                if self._leader:
                    self._cond.wait()
                else:
                    self._lead(durable)

    def wait_flushed(self, seq: int, timeout: float) -> bool:
        """Block until something else (the interval flusher) made ``seq`` durable.

        Unlike ``wait(durable=True)`` this never fsyncs itself; False on timeout.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._durable >= seq or self._error is not None, timeout)
            return self._durable >= seq

    def sync(self) -> None:
        """Write and fsync everything submitted so far."""
        with self._lock:
            last = self._next_seq - 1
        self.wait(last, durable=True)

    def _lead(self, durable: bool) -> None:
        """Called with _lock held: write the whole queue as one group, then wake its writers."""
        self._leader = True
        batch, self._pending = self._pending, []
        self._lock.release()
        try:
            with self._io:
                last = self._write_group(batch, durable)
        except BaseException as e:  # poison: see the module docstring
            self._lock.acquire()
            self._error = e
            self._leader = False
            self._cond.notify_all()
            raise
        self._lock.acquire()
        self._leader = False
        self._written = max(self._written, last)
        if durable:
            self._durable = max(self._durable, last)
        self._cond.notify_all()

    def _write_group(self, batch: list[bytes], durable: bool) -> int:
        """Under _io: append the batch (rotating first if the segment is full)."""
        if batch and self._writer.offset >= self.segment_bytes:
            self._rotate_locked()
        start = self._writer.offset
        if batch:
            self._writer.append_raw(b"".join(batch))  # undoes itself when refused
        if durable:
            try:
                self._fsync()
            except BaseException:
                # The batch's writers are told it failed: it must not reappear at the next
                # open (a refused write that comes back is as wrong as a lost one).
                self._writer.truncate(start)
                raise
        if batch:
            self._file_next += len(batch)
            self.stats.writes += 1
        return self._file_next - 1

    def _fsync(self) -> None:
        self._writer.sync()
        self._synced_offset = self._writer.offset
        self.stats.fsyncs += 1

    def _flush_every(self, period: float) -> None:
        while not self._stop.wait(period):
            with self._io:  # rotation swaps the writer under _io, so this one is open
                upto = self._file_next - 1
                if upto > self._durable:
                    try:
                        self._fsync()
                    except OSError as e:
                        with self._lock:
                            self._error = e
                            self._cond.notify_all()
                        return
                    with self._lock:
                        self._durable = max(self._durable, upto)
                        self._cond.notify_all()

    # -- segments --------------------------------------------------------------

    def rotate(self) -> int:
        """Write and fsync everything queued, start a new segment; returns its first seq.

        After ``rotate`` returns S, every entry below S is durable: the checkpoint
        protocol relies on it (snapshot up to S-1, then ``truncate_through(S-1)``).
        """
        self.sync()
        with self._io:
            self._rotate_locked()
            return self._seg_first

    def _rotate_locked(self) -> None:
        if self._file_next == self._seg_first:
            return  # the active segment is empty: nothing to seal
        self._fsync()  # seal: a segment that is not the last may never be torn
        with self._lock:
            self._durable = max(self._durable, self._file_next - 1)
        self._writer.close()
        self._seg_first = self._file_next
        self._writer = self._create_segment(self._seg_first)
        self._synced_offset = self._writer.offset
        self.stats.rotations += 1

    def truncate_through(self, seq: int) -> list[Path]:
        """Delete sealed segments holding only entries ``<= seq``; returns what was removed."""
        removed = []
        with self._io:
            segs = list_segments(self.dir)
            for (first, path), (nxt, _) in zip(segs, segs[1:], strict=False):
                if nxt <= seq + 1 and first != self._seg_first:
                    path.unlink()
                    removed.append(path)
            if removed:
                fsync_dir(self.dir)
        return removed

    # -- state -----------------------------------------------------------------

    @property
    def durable_seq(self) -> int:
        return self._durable

    @property
    def synced_extent(self) -> tuple[Path, int]:
        """(active segment, bytes of it covered by the last fsync): what power loss keeps.

        Tests simulate power loss by cutting the segment there (leveldb's fault
        injection drops unsynced bytes the same way).
        """
        with self._io:
            return Path(self._writer.path), self._synced_offset

    @property
    def last_seq(self) -> int:
        """The highest seq handed out so far."""
        return self._next_seq - 1

    def _check(self) -> None:
        if self._error is not None:
            raise WalError(f"log failed earlier: {self._error!r}")
        if self._closed:
            raise WalError("log is closed")

    def close(self) -> None:
        """Write what is queued, fsync it (whatever the policy) and close."""
        if self._closed:
            return
        if self._error is None:
            self.sync()
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        with self._lock:
            self._closed = True
        with self._io:
            self._writer.close()

    def __enter__(self) -> Wal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Wal", "WalError", "Stats", "POLICIES", "Corruption"]
