"""The LSM tree (exercise S7): a WAL and a memtable in front of levels of SSTables.

Why leveled compaction (leveldb's), not size-tiered: this store answers point
reads over RESP, and leveled keeps a key in at most one table per level >= 1,
so a read touches L0 plus one table per level (each behind a Bloom filter),
and the space a key's dead versions take stays near 1/ratio of the data
(space amplification ~1.1 with ratio 10). Size-tiered writes each byte fewer
times (write amplification ~number of tiers instead of ~ratio per level) but
holds several overlapping runs and, mid-merge, up to twice the data: better
for ingest-heavy logs, worse for this workload. ``Options.ratio`` is the
size ratio between adjacent levels (10, as leveldb).

Writes: append to the WAL (``storage.wal``; its sync policy says what an
acknowledged write survives), then into the memtable. A full memtable becomes
the *immutable* memtable (the WAL rotates, so the old segments hold exactly
its entries) and a background thread flushes it to a level-0 table, logs a
manifest edit "this table, and the WAL is in tables up to seq S", and only
then deletes those WAL segments. The same thread compacts (compaction.py)
while reads and writes go on; writers wait only when the immutable memtable
is still being flushed or level 0 holds ``l0_stop`` tables (leveldb's stall).

Reads: memtable, immutable memtable, level-0 tables newest first, then one
table per deeper level; the first source holding the key wins, and a
tombstone there means "deleted". A scan merges iterators over all of them
(``compaction.merge_sources``). Readers never lock: they take the current
``View`` (an immutable tuple the writer thread replaces), and a table deleted
by compaction stays readable through its open descriptor until dropped.

Crash recovery: the MANIFEST names the live tables and the WAL seq they
cover; tables not in it are leftovers of an interrupted flush or compaction
(their data is still in the WAL or the input tables) and are deleted; WAL
entries after the seq are replayed. With ``paranoid`` (the default) every
block of every table is checksummed at open, so a damaged file stops ``open``
with ``Corruption(file, offset)`` instead of surfacing at some later read;
``repair.py`` moves damaged blocks aside.

What limits it (bench/kv, 50k keys of 16 + 100 B, against SQLite): writes are a
WAL append and a dict insert, ~1.6x SQLite on fillrandom; reads pay Python per
entry for block decoding and merging, and the background compaction thread
shares the GIL with them (a C engine compacts on another core), so readrandom
is ~0.3-0.7x and scans and seeks ~0.1x SQLite's B-tree in C.

Candidly given up: no snapshots or sequence numbers inside tables (level
order decides which version is newest); one background thread does both
flushes and compactions; DBSIZE is a full merged scan.
"""

from __future__ import annotations

import bisect
import fcntl
import itertools
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from storage.bloom import key_hash
from storage.record import Corruption, StorageError
from storage.wal import Wal, replay
from storage.wal.entry import MAX_KEY as WAL_MAX_KEY

from . import compaction, manifest
from .memtable import Memtable
from .sstable import MAX_KEY as TABLE_MAX_KEY
from .sstable import BlockCache, Table, TableWriter, table_name
from .stats import collect

log = logging.getLogger(__name__)

MAX_KEY_SIZE = min(TABLE_MAX_KEY, WAL_MAX_KEY)
# One entry must fit one WAL record with room to spare (record.MAX_PAYLOAD is 64 MiB).
MAX_VALUE_SIZE = 32 * 1024 * 1024
WAL_DIR = "wal"
LOCK_NAME = "LOCK"


@dataclass(frozen=True)
class Options:
    sync: str = "always"  # the WAL's policy: always | interval | never
    interval_ms: float = 10  # fsync period under "interval"
    write_buffer: int = 4 * 1024 * 1024  # memtable bytes before a flush (leveldb: 4 MiB)
    l0_trigger: int = 4  # level-0 tables that start a compaction (leveldb: 4)
    l0_stop: int = 12  # level-0 tables at which writers wait (leveldb: 12)
    ratio: int = 10  # size ratio between adjacent levels
    base_bytes: int = 10 * 1024 * 1024  # level 1's limit (leveldb: 10 MiB)
    table_bytes: int = 2 * 1024 * 1024  # a compaction's output tables (leveldb: 2 MiB)
    levels: int = 7
    paranoid: bool = True  # checksum every block of every table at open
    block_cache: int = 4096  # decoded data blocks kept (~16 MiB of 4 KiB blocks)


class Closed(StorageError):
    """The store was closed."""


class Locked(StorageError):
    """Another process has the directory open."""


class View(NamedTuple):
    """What a reader sees, replaced whole by the writer (never mutated)."""

    mem: Memtable
    imm: Memtable | None
    levels: tuple[tuple[Table, ...], ...]  # level 0 newest first; others sorted by key
    largest: tuple[list[bytes], ...]  # per level >= 1, the tables' largest keys (bisect)


@dataclass
class Stats:
    user_bytes: int = 0  # key + value bytes of every put and delete
    wal_bytes: int = 0
    flushes: int = 0
    flush_bytes: int = 0
    compactions: int = 0
    moves: int = 0
    compaction_read: int = 0
    compaction_written: int = 0
    stalls: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class LSM:
    """An LSM-tree key-value store in one directory (one process at a time)."""

    max_key = MAX_KEY_SIZE  # the limits every engine states (servers.respkit.kv reads them)
    max_value = MAX_VALUE_SIZE

    def __init__(self, directory: str, options: Options) -> None:
        self.dir = directory
        self.opts = options
        self.stats_ = Stats()
        self.cache = BlockCache(options.block_cache)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._closed = False
        self._bg_error: BaseException | None = None
        self._manual_asked = self._manual_done = 0
        self._pointers: dict[int, bytes] = {}
        self._lockfd = -1
        self._thread: threading.Thread | None = None

    # -- opening -------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | os.PathLike[str], **options: object) -> LSM:
        """Open (creating) a store; Corruption if a file is damaged, Locked if in use."""
        db = cls(os.fspath(directory), Options(**options))  # type: ignore[arg-type]
        os.makedirs(db.dir, exist_ok=True)
        db._take_lock()
        try:
            db._recover()
        except BaseException:
            os.close(db._lockfd)
            raise
        db._thread = threading.Thread(target=db._background, name="lsm-bg", daemon=True)
        db._thread.start()
        with db._lock:
            db._cond.notify_all()
        return db

    def _take_lock(self) -> None:
        fd = os.open(os.path.join(self.dir, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Locked(f"{self.dir} is already open in another process") from None
        self._lockfd = fd

    def _recover(self) -> None:
        state = manifest.load(self.dir)
        self._remove_orphans(state)
        levels: list[list[Table]] = [[] for _ in range(self.opts.levels)]
        for meta in sorted(state.tables.values(), key=lambda m: -m.number):
            t = self._open_table(meta)
            levels[meta.level].append(t)
        for lvl in levels[1:]:
            lvl.sort(key=lambda t: t.smallest)
        waldir = os.path.join(self.dir, WAL_DIR)
        mem = Memtable()
        last = state.log_seq
        for e in replay(waldir, after=state.log_seq) if os.path.isdir(waldir) else ():
            mem.put(e.key, e.value)
            last = e.seq
        self.manifest = manifest.Manifest(self.dir, state)
        self._next_number = state.next_number
        self.wal = Wal(waldir, sync=self.opts.sync, interval_ms=self.opts.interval_ms,
                       first_seq=last + 1)  # fmt: skip
        self._view = _make_view(mem, None, levels)
        log.debug(
            "opened %s: %d tables, %d entries replayed", self.dir, len(state.tables), len(mem)
        )

    def _open_table(self, meta: manifest.TableMeta) -> Table:
        path = os.path.join(self.dir, table_name(meta.number))
        if not os.path.exists(path):
            raise Corruption(path, 0, "table named by the MANIFEST is missing")
        t = Table(path, meta.number, self.cache)
        if self.opts.paranoid:
            t.verify()
        t.smallest, t.largest = meta.smallest, meta.largest
        return t

    def _remove_orphans(self, state: manifest.State) -> None:
        for name in os.listdir(self.dir):
            stem, _, ext = name.partition(".")
            orphan = ext == "sst" and stem.isdigit() and int(stem) not in state.tables
            if orphan or name.endswith(".tmp"):
                log.info(
                    "%s: removing %s, left by an interrupted flush or compaction", self.dir, name
                )
                os.unlink(os.path.join(self.dir, name))

    # -- the engine API (what bench/kv and the contract suite drive) ------------------
    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, or None if it is absent or deleted."""
        v = self._view
        found, value = v.mem.get(key)
        if found:
            return value
        if v.imm is not None:
            found, value = v.imm.get(key)
            if found:
                return value
        h = key_hash(key)  # once, for every table's filter
        for t in v.levels[0]:
            if t.smallest <= key <= t.largest:
                found, value = t.get(key, h)
                if found:
                    return value
        for lvl in range(1, len(v.levels)):
            tables = v.levels[lvl]
            i = bisect.bisect_left(v.largest[lvl], key)
            if i < len(tables) and tables[i].smallest <= key:
                found, value = tables[i].get(key, h)
                if found:
                    return value
        return None

    def put(self, key: bytes, value: bytes) -> None:
        if not 0 < len(key) <= MAX_KEY_SIZE:
            raise ValueError(f"key length must be 1..{MAX_KEY_SIZE} bytes")
        if len(value) > MAX_VALUE_SIZE:
            raise ValueError(f"value longer than {MAX_VALUE_SIZE} bytes")
        self._write(key, value)

    def delete(self, key: bytes) -> bool:
        """Delete ``key`` (a tombstone); True if it was there."""
        if not 0 < len(key) <= MAX_KEY_SIZE:
            return False
        with self._lock:
            if self.get(key) is None:
                return False
        self._write(key, None)
        return True

    def _write(self, key: bytes, value: bytes | None) -> None:
        with self._lock:
            self._make_room()
            if value is None:
                self.wal.delete(key)
            else:
                self.wal.put(key, value)
            mem = self._view.mem
            mem.put(key, value)
            n = len(key) + (len(value) if value is not None else 0)
            self.stats_.user_bytes += n
            self.stats_.wal_bytes += n + 21  # record header 9 + seq 8 + klen 4
            if mem.bytes >= self.opts.write_buffer:
                try:
                    self._switch_memtable()
                except (OSError, StorageError) as e:
                    # This write is in the WAL and acknowledged; what failed (a full disk
                    # rotating the WAL) stops the writes that follow, not this one.
                    log.error("%s: cannot switch memtable: %s; writes stopped", self.dir, e)
                    self._bg_error = e

    def __contains__(self, key: bytes) -> bool:
        return self.get(key) is not None

    def scan(
        self, start: bytes | None = None, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Live (key, value) pairs with start <= key < end, in key order (merged iterators)."""
        with self._lock:
            v = self._view
            keys = v.mem.sorted_keys()
        sources = [v.mem.scan(start, keys)]
        if v.imm is not None:
            sources.append(v.imm.scan(start))
        sources += [t.scan(start) for t in v.levels[0]]
        for lvl in range(1, len(v.levels)):
            i = 0 if start is None else bisect.bisect_left(v.largest[lvl], start)
            run = v.levels[lvl][i:]
            if run:
                sources.append(itertools.chain.from_iterable(t.scan(start) for t in run))
        for k, value in compaction.merge_sources(sources):
            if end is not None and k >= end:
                return
            if value is not None:
                yield k, value

    def keys(self) -> list[bytes]:
        return [k for k, _ in self.scan()]

    def __len__(self) -> int:
        return sum(1 for _ in self.scan())

    # -- memtable switch and background work ----------------------------------------
    def _check(self) -> None:
        if self._closed:
            raise Closed("store is closed")
        if self._bg_error is not None:
            raise StorageError(f"writes stopped: background work failed: {self._bg_error}")

    def _make_room(self) -> None:
        """Under the lock: wait while the previous memtable is still flushing or L0 is full."""
        self._check()
        stalled = False
        while (
            self._view.imm is not None and self._view.mem.bytes >= self.opts.write_buffer
        ) or len(self._view.levels[0]) >= self.opts.l0_stop:
            stalled = True
            self._cond.wait()
            self._check()
        self.stats_.stalls += stalled

    def _switch_memtable(self) -> None:
        """Under the lock: the memtable becomes immutable; the WAL rotates so its segments match."""
        v = self._view
        if v.imm is not None or not len(v.mem):
            return
        first = self.wal.rotate()  # every entry < first is in v.mem (writes hold the lock)
        self._imm_seq = first - 1
        self._view = v._replace(mem=Memtable(), imm=v.mem)
        self._cond.notify_all()

    def _background(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._work_pending():
                    self._cond.wait()
                if self._closed:
                    return
                imm, manual = self._view.imm, self._manual_asked > self._manual_done
            try:
                if imm is not None:
                    self._flush(imm, self._imm_seq)
                elif manual:
                    self._compact_all()
                else:
                    self._compact_once()
            except BaseException as e:  # noqa: BLE001  (reported to writers, never lost)
                log.error(
                    "%s: background %s failed: %s", self.dir, "flush" if imm else "compaction", e
                )
                with self._lock:
                    self._bg_error = e
                    self._cond.notify_all()
                return

    def _work_pending(self) -> bool:
        v = self._view
        return (
            v.imm is not None or self._manual_asked > self._manual_done or self._needs_compaction(v)
        )

    def _needs_compaction(self, v: View) -> bool:
        return compaction.pick(
            [list(x) for x in v.levels], self.opts.l0_trigger, self.opts.base_bytes,
            self.opts.ratio, dict(self._pointers),
        ) is not None  # fmt: skip

    def _new_number(self) -> int:
        n = self._next_number
        self._next_number += 1
        return n

    def _write_tables(self, entries: Iterator[tuple[bytes, bytes | None]], expected: int,
                      split: int | None) -> list[Table]:  # fmt: skip
        """Write ``entries`` into new tables of about ``split`` bytes each (one table if None)."""
        out: list[TableWriter] = []
        w: TableWriter | None = None
        try:
            for k, value in entries:
                if w is None:
                    path = os.path.join(self.dir, table_name(self._new_number()))
                    w = TableWriter(path, expected)
                w.add(k, value)
                if split is not None and w.size >= split:
                    w.finish()
                    out.append(w)
                    w = None
            if w is not None:
                w.finish()
                out.append(w)
                w = None
        except BaseException:
            for x in [*out, *([w] if w else [])]:
                x.abandon()
            raise
        tables = []
        for x in out:
            t = Table(x.path, int(os.path.basename(x.path)[:9]), self.cache)
            t.smallest, t.largest = x.smallest or b"", x.largest
            tables.append(t)
        return tables

    def _flush(self, imm: Memtable, seq: int) -> None:
        tables = self._write_tables(imm.scan(), len(imm), None)
        rows = [_meta(0, t).row() for t in tables]
        self.manifest.log_edit({"add": rows, "log": seq, "next": self._next_number})
        with self._lock:
            v = self._view
            levels = [list(x) for x in v.levels]
            levels[0][:0] = tables
            self._view = _make_view(v.mem, None, levels)
            self.stats_.flushes += 1
            self.stats_.flush_bytes += sum(t.size for t in tables)
            self._cond.notify_all()
        self.wal.truncate_through(seq)

    def _compact_once(self) -> None:
        with self._lock:
            levels = [list(x) for x in self._view.levels]
            p = compaction.pick(levels, self.opts.l0_trigger, self.opts.base_bytes,
                                self.opts.ratio, self._pointers)  # fmt: skip
        if p is None:
            return
        if p.level > 0 and len(p.inputs) == 1 and not p.below:
            self._move(p.inputs[0], p.level)
            return
        self._merge(p.level, p.inputs, p.below, p.output_level)

    def _move(self, t: Table, level: int) -> None:
        self.manifest.log_edit({"remove": [t.number], "add": [_meta(level + 1, t).row()]})
        self._install(lambda lv: (lv[level].remove(t), lv[level + 1].append(t)))
        self.stats_.moves += 1

    def _merge(self, level: int, inputs: list[Table], below: list[Table], out: int) -> None:
        """Merge ``inputs`` (newest first) and ``below`` into new tables at level ``out``."""
        with self._lock:
            deeper = self._view.levels[out + 1 :]
        lo, hi = compaction.key_range(inputs + below)
        bottom = not any(compaction.overlapping(lv, lo, hi) for lv in deeper)
        runs = [[t] for t in inputs] + [sorted(below, key=lambda t: t.smallest)]

        def swap(lv: list[list[Table]], outputs: list[Table]) -> None:
            lv[level][:] = [t for t in lv[level] if t not in inputs]
            lv[out][:] = [t for t in lv[out] if t not in below] + outputs

        self._rewrite(runs, out, bottom, swap)

    def _compact_all(self) -> None:
        """Manual compaction: every table merged into one sorted run, tombstones dropped."""
        with self._lock:
            levels = [list(x) for x in self._view.levels]
        deepest = max([i for i, lv in enumerate(levels) if lv] + [1])
        if any(levels[:deepest]) or len(levels[deepest]) > 1:
            # Newest first: each level-0 table, then each deeper level as one sorted run.
            runs = [[t] for t in levels[0]] + levels[1 : deepest + 1]
            gone = {t.number for run in runs for t in run}

            def swap(lv: list[list[Table]], outputs: list[Table]) -> None:
                for i in range(deepest + 1):
                    lv[i][:] = [t for t in lv[i] if t.number not in gone]
                lv[deepest].extend(outputs)

            self._rewrite(runs, deepest, True, swap)
        with self._lock:
            self._manual_done = self._manual_asked
            self._cond.notify_all()

    def _rewrite(self, runs: list[list[Table]], out: int, bottom: bool, swap: Any) -> None:
        """Merge sorted ``runs`` (newest first) into tables at level ``out``; commit; install.

        The commit point is one manifest edit (outputs in, inputs out); only after it
        are the inputs unlinked (readers that still hold them keep their descriptors).
        """
        gone = [t for run in runs for t in run]
        sources: list[Iterator[tuple[bytes, bytes | None]]] = [
            itertools.chain.from_iterable(t.scan() for t in run) for run in runs
        ]
        entries = compaction.merge_sources(sources)
        if bottom:  # nothing older below: a tombstone shadows nothing any more
            entries = compaction.drop_tombstones(entries)
        total = sum(t.entries for t in gone)
        size = sum(t.size for t in gone)
        expected = min(total, int(total * self.opts.table_bytes / max(size, 1) * 1.2) + 16)
        outputs = self._write_tables(entries, expected, self.opts.table_bytes)
        self.manifest.log_edit({
            "remove": [t.number for t in gone],
            "add": [_meta(out, t).row() for t in outputs],
            "next": self._next_number,
        })  # fmt: skip
        self._install(lambda lv: swap(lv, outputs))
        for t in gone:
            os.unlink(t.path)
        self.stats_.compactions += 1
        self.stats_.compaction_read += size
        self.stats_.compaction_written += sum(t.size for t in outputs)

    def _install(self, change: Any) -> None:
        with self._lock:
            v = self._view
            levels = [list(x) for x in v.levels]
            change(levels)
            for lvl in levels[1:]:
                lvl.sort(key=lambda t: t.smallest)
            self._view = _make_view(v.mem, v.imm, levels)
            self._cond.notify_all()

    # -- manual control ----------------------------------------------------------------
    def flush(self) -> None:
        """Turn the memtable into a level-0 table now; returns once it is in the manifest."""
        with self._lock:
            self._check()
            self._wait(lambda: self._view.imm is None)  # a previous flush still running
            self._switch_memtable()
            self._wait(lambda: self._view.imm is None)

    def compact(self) -> dict[str, object]:
        """Flush, then merge every table into one sorted run (the COMPACT command)."""
        before = self.stats(live=False)
        with self._lock:
            self._check()
            self._wait(lambda: self._view.imm is None)
            self._switch_memtable()
            self._manual_asked += 1
            ticket = self._manual_asked
            self._cond.notify_all()
            self._wait(lambda: self._manual_done >= ticket)
        after = self.stats(live=False)
        return {"tables_before": before["tables"], "tables_after": after["tables"],
                "bytes_before": before["table_bytes"], "bytes_after": after["table_bytes"]}  # fmt: skip

    def wait_idle(self) -> None:
        """Block until no flush or compaction is pending (tests and benchmarks)."""
        with self._lock:
            self._wait(lambda: not self._work_pending())

    def _wait(self, done: object) -> None:
        while not done():  # type: ignore[operator]
            if self._bg_error is not None:
                raise StorageError(f"background work failed: {self._bg_error}")
            if self._closed:
                raise Closed("store is closed")
            self._cond.wait()

    # -- stats ----------------------------------------------------------------------
    def stats(self, live: bool = True) -> dict[str, object]:
        """Tables and bytes per level, write and space amplification (``stats.py``)."""
        return collect(self, live)

    # -- closing --------------------------------------------------------------------
    def close(self) -> None:
        """Stop background work, close the WAL (fsynced) and the files. The memtable stays in the WAL."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        try:
            self.wal.close()
        finally:
            self.manifest.close()
            for lv in self._view.levels:
                for t in lv:
                    t.close()
            os.close(self._lockfd)

    def __enter__(self) -> LSM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _make_view(mem: Memtable, imm: Memtable | None, levels: list[list[Table]]) -> View:
    return View(mem, imm, tuple(tuple(lv) for lv in levels),
                tuple([t.largest for t in lv] for lv in levels))  # fmt: skip


def _meta(level: int, t: Table) -> manifest.TableMeta:
    return manifest.TableMeta(level, t.number, t.size, t.smallest, t.largest, t.entries)
