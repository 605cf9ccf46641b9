"""What ``python -m storage.check`` does with B+ tree files, and ``repair(dir)``.

Checking: ``check_records`` is the payload checker of kind ``bptree`` (every
page is one 4096-byte record at its page's offset, and parses as META, a
leaf, an internal node or a free page); ``check_dwrite`` that of
``bptree-dwrite``.

Repair rebuilds the tree from what survives. Every page that fails its
checksum (and a META or ``DWRITE`` that does) is appended to a quarantine
file; every intact leaf is read (after a checkpoint each leaf page in the
file is live: a page is rewritten as FREE when it leaves the tree); internal
pages are not needed, since a tree can be rebuilt from its sorted leaves. The
WAL after the checkpoint is read the same way, a damaged entry quarantined,
and applied on top; the result is written as a fresh ``tree.db`` (with an
empty WAL: everything it held is in the pages now). Keys named as lost: the
keys a damaged leaf seems to hold (best-effort parse of the bytes that failed
the checksum; if even that fails, the key range its parent gives it) and the
keys of damaged WAL entries, unless a surviving later WAL entry rewrote them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from storage.quarantine import Moved, Quarantine, RepairReport, salvage
from storage.record import Corruption, Record, StorageError, file_kind
from storage.wal import list_segments
from storage.wal.entry import TYPE_DELETE, TYPE_PUT, BadEntry, decode

from ..bitcask.lock import DirLock
from . import page as pg
from . import pager as pgr
from .engine import WAL_DIR
from .tree import Tree

# -- storage.check -----------------------------------------------------------------------


def check_records(name: str, records: list[Record]) -> None:
    """Kind ``bptree``: META, then one 4096-byte page record per page, each parsing."""
    if len(records) < 2 or records[1].rtype != pg.T_META or records[1].end != pg.PAGE_SIZE:
        raise Corruption(name, records[0].end, "page 0 does not end in a META record")
    for i, rec in enumerate(records[2:], start=1):
        if rec.offset != i * pg.PAGE_SIZE or rec.size != pg.PAGE_SIZE:
            raise Corruption(name, rec.offset, f"record of {rec.size} bytes where page {i} starts")
        try:
            pg._parse(rec.rtype, rec.payload, i)
        except (ValueError, Exception) as e:  # noqa: BLE001 - struct.error and ValueError
            raise Corruption(name, rec.offset, f"page {i}: {e}") from None


def check_dwrite(name: str, records: list[Record]) -> None:
    """Kind ``bptree-dwrite``: page images, then END (absent only if torn)."""
    for rec in records[1:]:
        if rec.rtype == pg.T_DW_PAGE and len(rec.payload) == pgr.DW_PAGE.size + pg.PAGE_SIZE:
            continue
        if rec.rtype == pg.T_DW_END and rec is records[-1]:
            continue
        raise Corruption(name, rec.offset, f"unexpected record type {rec.rtype}")


# -- repair ------------------------------------------------------------------------------


@dataclass
class _Found:
    entries: dict[bytes, bytes] = field(default_factory=dict)
    ckpt_seq: int = 0
    bounds: dict[int, tuple[bytes | None, bytes | None]] = field(default_factory=dict)
    damaged_leaves: list[tuple[int, list[bytes] | None]] = field(default_factory=list)
    ops: dict[int, tuple[bytes, bytes | None]] = field(default_factory=dict)  # seq -> op
    overflow: dict[int, pg.OverflowPage] = field(default_factory=dict)
    stubs: dict[bytes, pg.Overflow] = field(default_factory=dict)  # values in overflow chains
    lost_chains: list[bytes] = field(default_factory=list)
    damaged_ops: list[tuple[bytes | None, int, str]] = field(default_factory=list)


def repair(directory: str) -> RepairReport:
    report = RepairReport(directory, "bptree")
    lock = DirLock(directory, "B+ tree")
    try:
        q = Quarantine(directory)
        found = _Found()
        _take_dwrite(directory, q, report)
        _read_pages(directory, q, report, found)
        _read_wal(directory, q, report, found)
        q.close()
        report.quarantine_file = q.path
        if report.moved:
            _rebuild(directory, found)
            _name_lost(found, report)
    finally:
        lock.release()
    return report


def _take_dwrite(directory: str, q: Quarantine, report: RepairReport) -> None:
    path = os.path.join(directory, pgr.DWRITE_NAME)
    if not os.path.exists(path):
        return
    try:
        pgr.redo_dwrite(directory)
    except Corruption as e:
        with open(path, "rb") as f:
            raw = f.read()
        q.add(path, 0, raw)
        report.moved.append(Moved(path, 0, len(raw), f"double-write file ({e.reason})"))
        os.unlink(path)  # its bytes are in the quarantine file, fsynced with it below


def _read_pages(directory: str, q: Quarantine, report: RepairReport, found: _Found) -> None:
    path = os.path.join(directory, pgr.DATA_NAME)
    for pgno, page in pgr.iter_pages(path):
        try:
            if pgno == 0:
                found.ckpt_seq = pg.decode_meta(page, path).ckpt_seq
                continue
            node = pg.decode_node(page, pgno, path)
        except Corruption as e:
            q.add(path, pgno * pg.PAGE_SIZE, page)
            report.moved.append(Moved(path, pgno * pg.PAGE_SIZE, len(page), e.reason))
            if pgno:
                found.damaged_leaves.append((pgno, pg.salvage_keys(page)))
            continue
        if isinstance(node, pg.Leaf):
            for k, v in zip(node.keys, node.vals, strict=True):
                if isinstance(v, pg.Overflow):
                    found.stubs[k] = v
                else:
                    found.entries[k] = v
        elif isinstance(node, pg.OverflowPage):
            found.overflow[pgno] = node
        elif isinstance(node, pg.Internal):
            edges = [None, *node.keys, None]
            for i, child in enumerate(node.children):
                found.bounds[child] = (edges[i], edges[i + 1])
    for key, stub in found.stubs.items():
        value = _chain(found.overflow, stub)
        if value is None:
            found.lost_chains.append(key)  # a page of its value was damaged
        else:
            found.entries[key] = value
    # A damaged META loses the WAL position: replaying the whole log is then safe,
    # since re-applying a suffix of puts and deletes in order ends in the same state.
    if any(m.offset == 0 and m.file == path for m in report.moved):
        found.ckpt_seq = 0


def _chain(pages: dict[int, pg.OverflowPage], stub: pg.Overflow) -> bytes | None:
    parts, pgno, seen = [], stub.first, 0
    while pgno != pg.NO_PAGE and seen <= len(pages):
        page = pages.get(pgno)
        if page is None:
            return None
        parts.append(page.data)
        pgno, seen = page.next, seen + 1
    data = b"".join(parts)
    return data if len(data) == stub.length and pgno == pg.NO_PAGE else None


def _read_wal(directory: str, q: Quarantine, report: RepairReport, found: _Found) -> None:
    for _, seg in list_segments(os.path.join(directory, WAL_DIR)):
        buf = seg.read_bytes()
        s = salvage(buf, str(seg), frozenset({TYPE_PUT, TYPE_DELETE}))
        for rec in s.kept:
            if file_kind(rec) is not None:
                continue
            try:
                e = decode(rec)
            except BadEntry:
                continue
            if e.seq > found.ckpt_seq:
                found.ops[e.seq] = (e.key, e.value)
        for offset, raw in s.damaged:
            q.add(str(seg), offset, raw)
            report.moved.append(Moved(str(seg), offset, len(raw), "WAL entry"))
            key, seq = _wal_key(raw)
            found.damaged_ops.append((key, seq, f"{seg} offset {offset}"))


def _wal_key(raw: bytes) -> tuple[bytes | None, int]:
    import struct

    head = struct.Struct("<QI")
    if len(raw) < 9 + head.size:
        return None, -1
    seq, klen = head.unpack_from(raw, 9)
    key = raw[9 + head.size : 9 + head.size + klen]
    return (key if 0 < klen == len(key) else None), seq


def _rebuild(directory: str, found: _Found) -> None:
    """Write the surviving entries, then the WAL's ops, as a fresh tree; empty the WAL."""
    tmp = os.path.join(directory, "repair.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    pager = pgr.Pager(tmp, cache_pages=1 << 30)  # unbounded: written once, at the end
    tree = Tree(pager)
    for k in sorted(found.entries):
        tree.put(k, found.entries[k])
    last = max(found.ops, default=found.ckpt_seq)
    for seq in sorted(found.ops):
        key, value = found.ops[seq]
        if value is None:
            tree.delete(key)
        else:
            tree.put(key, value)
    pager.checkpoint(max(last, found.ckpt_seq))
    pager.close()
    os.replace(os.path.join(tmp, pgr.DATA_NAME), os.path.join(directory, pgr.DATA_NAME))
    shutil.rmtree(tmp)
    wal = os.path.join(directory, WAL_DIR)
    for _, seg in list_segments(wal):
        seg.unlink()  # every entry is in the new pages (damaged ones are in quarantine)


def _name_lost(found: _Found, report: RepairReport) -> None:
    rewritten = {key for key, _ in found.ops.values()}
    report.lost_keys += [k for k in found.lost_chains if k not in rewritten]
    for pgno, keys in found.damaged_leaves:
        if keys is None:
            lo, hi = found.bounds.get(pgno, (None, None))
            if pgno in found.bounds:
                report.unknown.append(f"page {pgno}: a leaf or index page, keys in [{lo!r}, {hi!r})")
            continue
        report.lost_keys += [k for k in keys if k not in rewritten and k not in report.lost_keys]
    for key, seq, where in found.damaged_ops:
        if key is None:
            report.unknown.append(f"{where}: WAL entry, key unreadable")
        elif not any(k == key and s > seq for s, (k, _) in found.ops.items()):
            if key not in report.lost_keys:
                report.lost_keys.append(key)


__all__ = ["StorageError", "check_dwrite", "check_records", "repair"]
