"""Repair an LSM directory: move damaged blocks aside, keep everything else, say what was lost.

``repair(path) -> report`` (what ``python -m storage.check --repair DIR``
calls for an LSM directory). Nothing is deleted:

* **A table** (``NNNNNNNNN.sst``) with damaged blocks: its records are walked
  one by one; a record that fails its checksum (or its structure) is copied,
  with its file and offset, into ``QUARANTINE`` (a record file of kind
  ``lsm-quarantine``), resynchronising at the next whole record. The good data
  blocks are written into a new table at the same level, the MANIFEST swaps
  the two, and the damaged file is renamed ``NNNNNNNNN.sst.damaged``. A
  damaged footer, index or filter costs nothing: they are rebuilt from the
  data blocks.
* **The WAL**: its good entries (in seq order) go into a new level-0 table,
  newest of all; the damaged segments are quarantined the same way and renamed
  ``*.wal.damaged``, and the log starts afresh.
* **The MANIFEST**, when damaged: rebuilt from the tables present, all at level
  0, newer table numbers first (candidly: a flush racing a compaction can
  number a newer table below an older one; the old MANIFEST is kept as
  ``MANIFEST.damaged`` for a human).

The report lists the damaged ranges and the *keys whose newest version was
damaged* (read best-effort from the damaged bytes, which usually still hold
them, and kept only when no newer source has the key), so no key silently
reverts to an older value; ``lost_ranges`` gives the index's bounds of each
lost data block when its keys are unreadable.
"""

from __future__ import annotations

import os
import struct
import time
from typing import Any

import msgpack

from storage.record import (
    HEADER,
    HEADER_SIZE,
    MAX_PAYLOAD,
    Corruption,
    Record,
    Writer,
    decode_at,
    file_kind,
)
from storage.wal import list_segments
from storage.wal.entry import BadEntry, decode

from . import manifest
from .engine import LOCK_NAME, WAL_DIR
from .sstable import (
    _ENTRY,
    _INDEX,
    KIND,
    PUT,
    TYPE_DATA,
    TYPE_INDEX,
    BlockCache,
    Table,
    decode_block,
    table_name,
    write_table,
)

QUARANTINE = "QUARANTINE"
QUARANTINE_KIND = "lsm-quarantine"
TYPE_DAMAGED = 16  # payload: msgpack {"file", "offset", "bytes"}


def walk(data: bytes, name: str) -> tuple[list[Record], list[tuple[int, int]]]:
    """The whole records of a file and the damaged (offset, length) ranges between them."""
    good: list[Record] = []
    bad: list[tuple[int, int]] = []
    pos = 0
    while pos < len(data):
        try:
            rec = decode_at(data, pos, name)
        except Exception:  # Corruption or a torn record: resync at the next whole one
            nxt = _next_record(data, pos + 1, name)
            bad.append((pos, nxt - pos))
            pos = nxt
            continue
        good.append(rec)
        pos = rec.end
    return good, bad


def _next_record(data: bytes, start: int, name: str) -> int:
    for pos in range(start, len(data) - HEADER_SIZE + 1):
        _, length, rtype = HEADER.unpack_from(data, pos)
        if rtype == 0 or length > MAX_PAYLOAD or pos + HEADER_SIZE + length > len(data):
            continue
        try:
            decode_at(data, pos, name)
        except Exception:
            continue
        return pos
    return len(data)


def salvage_keys(raw: bytes) -> list[bytes]:
    """Keys readable from a damaged data block's bytes (its checksum failed): best effort."""
    p, pos, last = raw[HEADER_SIZE:], 0, b""
    keys: list[bytes] = []
    try:
        while pos + _ENTRY.size <= len(p) and len(keys) < 10_000:
            shared, unshared, vlen, kind = _ENTRY.unpack_from(p, pos)
            if shared > len(last) or kind > PUT or unshared == 0:
                break
            key = last[:shared] + p[pos + _ENTRY.size : pos + _ENTRY.size + unshared]
            if keys and key <= last:
                break
            keys.append(key)
            last = key
            pos += _ENTRY.size + unshared + vlen
    except struct.error:
        pass
    return keys


class _Repair:
    def __init__(self, path: str) -> None:
        self.dir = path
        self.report: dict[str, Any] = {
            "path": path, "damaged": [], "lost_keys": [], "lost_ranges": [],
            "tables_rebuilt": [], "wal_entries_saved": 0, "manifest_rebuilt": False,
            "quarantine": os.path.join(path, QUARANTINE),
        }  # fmt: skip
        self._q: Writer | None = None
        self.cache = BlockCache(64)
        self.candidates: list[tuple[bytes, int, int]] = []  # key, level, table number

    def quarantine(self, name: str, data: bytes, offset: int, length: int) -> None:
        if self._q is None:
            self._q = Writer(os.path.join(self.dir, QUARANTINE), QUARANTINE_KIND)
        chunk = data[offset : offset + length]
        self._q.append(TYPE_DAMAGED, msgpack.packb(
            {"file": name, "offset": offset, "bytes": chunk, "when": time.time()}))  # fmt: skip
        self._q.sync()
        self.report["damaged"].append({"file": name, "offset": offset, "length": length})

    def run(self) -> dict[str, Any]:
        state = self._load_manifest()
        for meta in sorted(state.tables.values(), key=lambda m: m.number):
            self._table(state, meta)
        self._wal(state)
        self._decide_lost(state)
        if self._q is not None:
            self._q.close()
        self.report["lost_keys"] = sorted(set(self.report["lost_keys"]))
        return self.report

    def _load_manifest(self) -> manifest.State:
        try:
            return manifest.load(self.dir)
        except Corruption as e:
            path = os.path.join(self.dir, manifest.NAME)
            data = open(path, "rb").read()  # noqa: SIM115
            self.quarantine(manifest.NAME, data, e.offset, len(data) - e.offset)
            os.replace(path, path + ".damaged")
        state = manifest.State()
        for name in sorted(os.listdir(self.dir)):
            stem, _, ext = name.partition(".")
            if ext == "sst" and stem.isdigit():  # key ranges come from the rebuild below
                state.tables[int(stem)] = manifest.TableMeta(0, int(stem), 0, b"", b"", 0)
        state.next_number = max(state.tables, default=0) + 1
        waldir = os.path.join(self.dir, WAL_DIR)
        segs = list_segments(waldir) if os.path.isdir(waldir) else []
        state.log_seq = segs[0][0] - 1 if segs else 0  # the WAL is replayed whole
        manifest.Manifest(self.dir, state).close()
        self.report["manifest_rebuilt"] = True
        for number in sorted(state.tables):  # oldest first, so newer data gets newer numbers
            self._table(state, state.tables[number], force=True)
        return state

    def _table(self, state: manifest.State, meta: manifest.TableMeta, force: bool = False) -> None:
        name = table_name(meta.number)
        path = os.path.join(self.dir, name)
        if meta.number not in state.tables:
            return
        try:
            data = open(path, "rb").read()  # noqa: SIM115
        except FileNotFoundError:
            self.report["lost_ranges"].append([name, None, None])
            self._edit(state, meta, [])
            return
        good, bad = walk(data, path)
        blocks: list[Record] = []
        index_keys: list[tuple[int, bytes]] = []
        for rec in good:
            if rec.rtype == TYPE_DATA:
                try:
                    decode_block(rec.payload, path, rec.offset)
                    blocks.append(rec)
                except Corruption:
                    bad.append((rec.offset, rec.size))
            elif rec.rtype == TYPE_INDEX:
                index_keys = _index(rec.payload)
        if not good or file_kind(good[0]) != KIND:
            bad = [(0, len(data))]
            blocks = []
        if not bad and not force:
            return
        for off, length in sorted(bad):
            self.quarantine(name, data, off, length)
            for k in salvage_keys(data[off : off + length]):
                self.candidates.append((k, meta.level, meta.number))
            lo = max((k for o, k in index_keys if o < off), default=None)
            hi = next((k for o, k in index_keys if o >= off), None)
            if hi is not None and off > 0:
                self.report["lost_ranges"].append([name, lo, hi])
        entries: list[tuple[bytes, bytes | None]] = []
        for rec in blocks:
            keys, values = decode_block(rec.payload, path, rec.offset)
            entries.extend(zip(keys, values, strict=True))
        self._edit(state, meta, entries)
        if bad:
            os.replace(path, path + ".damaged")

    def _edit(self, state: manifest.State, meta: manifest.TableMeta, entries: list) -> None:
        adds = []
        if entries:
            number = state.next_number
            w = write_table(os.path.join(self.dir, table_name(number)), entries, len(entries))
            size = os.path.getsize(w.path)
            adds.append([meta.level, number, size, w.smallest, w.largest, w.entries])
            self.report["tables_rebuilt"].append(table_name(number))
        m = manifest.Manifest(self.dir, state)
        m.log_edit({"remove": [meta.number], "add": adds, "next": state.next_number + 1})
        m.close()

    def _wal(self, state: manifest.State) -> None:
        waldir = os.path.join(self.dir, WAL_DIR)
        if not os.path.isdir(waldir):
            return
        segs = list_segments(waldir)
        latest: dict[bytes, bytes | None] = {}
        damaged_any, damaged_keys = False, list[bytes]()
        for _first, seg in segs:
            data = seg.read_bytes()
            good, bad = walk(data, os.fspath(seg))
            # A torn tail of the last segment is a crash artefact, not damage.
            if bad and seg == segs[-1][1] and bad[-1][0] + bad[-1][1] == len(data):
                bad = bad[:-1]
            for rec in good[1:]:
                try:
                    e = decode(rec)
                except BadEntry:
                    continue
                if e.seq > state.log_seq:
                    latest[e.key] = e.value
                    if e.key in damaged_keys:
                        damaged_keys.remove(e.key)  # a newer good entry: nothing lost
            for off, length in bad:
                damaged_any = True
                self.quarantine(f"{WAL_DIR}/{seg.name}", data, off, length)
                raw = data[off : off + length]
                if len(raw) > HEADER_SIZE + 12:
                    klen = struct.unpack_from("<I", raw, HEADER_SIZE + 8)[0]
                    if klen <= 65536:
                        damaged_keys.append(raw[HEADER_SIZE + 12 : HEADER_SIZE + 12 + klen])
        if not damaged_any:
            return
        self.report["lost_keys"].extend(damaged_keys)
        last_seq = state.log_seq
        for _first, seg in segs:
            os.replace(seg, os.fspath(seg) + ".damaged")
        entries = sorted(latest.items())
        self.report["wal_entries_saved"] = len(entries)
        adds = []
        if entries:
            number = state.next_number
            w = write_table(os.path.join(self.dir, table_name(number)), entries, len(entries))
            adds.append([0, number, os.path.getsize(w.path), w.smallest, w.largest, w.entries])
            last_seq = max(last_seq, _max_seq(segs))
        m = manifest.Manifest(self.dir, state)
        m.log_edit({"add": adds, "log": last_seq, "next": state.next_number + 1})
        m.close()

    def _decide_lost(self, state: manifest.State) -> None:
        """A salvaged key was lost as its newest version unless a newer table still has it."""
        tables = {}
        for meta in state.tables.values():
            path = os.path.join(self.dir, table_name(meta.number))
            try:
                t = Table(path, meta.number, self.cache)
            except (Corruption, OSError):
                continue
            tables[meta.number] = (meta, t)
        for key, level, number in self.candidates:
            newer = any(
                (m.level < level or (m.level == 0 == level and m.number > number))
                and m.smallest <= key <= m.largest
                and t.get(key)[0]
                for m, t in tables.values()
            )
            if not newer:
                self.report["lost_keys"].append(key)
        for _m, t in tables.values():
            t.close()


def _index(payload: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    try:
        while pos < len(payload):
            klen, off, _size = _INDEX.unpack_from(payload, pos)
            pos += _INDEX.size
            out.append((off, payload[pos : pos + klen]))
            pos += klen
    except struct.error:
        pass
    return out


def _max_seq(segs: list) -> int:
    best = 0
    for _first, seg in segs:
        data = open(os.fspath(seg) + ".damaged", "rb").read()  # noqa: SIM115
        good, _ = walk(data, seg.name)
        for rec in good[1:]:
            try:
                best = max(best, decode(rec).seq)
            except BadEntry:
                continue
    return best


def repair(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Repair the LSM directory at ``path`` (the store must not be open); returns the report."""
    directory = os.fspath(path)
    import fcntl

    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Corruption(
            directory, 0, "the store is open in another process; stop it first"
        ) from None
    try:
        return _Repair(directory).run()
    finally:
        os.close(fd)
