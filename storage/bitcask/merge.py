"""Merge (compaction): rewrite the immutable data files keeping only live records.

Strategy, after the paper: seal the active file, then walk every older data
file sequentially. A put is live exactly when the keydir still points at it;
live records are copied byte for byte (their checksum and ``ts`` travel with
them) into fresh output files, each closed with an fsync and a hint file.
Tombstones and overwritten puts are simply not copied: every older file is in
the same merge, so no older put is left for a dropped tombstone to have hidden.

Reads and writes keep going meanwhile: the merge reads old files without the
lock, writes its own files, and takes the lock only to swap keydir entries per
output file (compare-and-swap: a key rewritten during the merge keeps its newer
location) and to close the old descriptors.

Deleting the old files is the one step that must not be half done: if a crash
deleted a file holding a tombstone but kept an older file holding the put, the
key would come back. So the old ids are first written to a MERGE-RETIRE marker
(temp + fsync + rename: the commit point); ``finish_retire`` deletes them and
then the marker, and ``open`` runs it again after a crash. Before the marker the
merge output is harmless duplicates (same ``ts``), cleaned by the next merge.
"""

from __future__ import annotations

import logging
import os
import struct
from typing import TYPE_CHECKING, BinaryIO

from storage.record import (
    Corruption,
    Reader,
    StorageError,
    encode,
    file_header,
    fsync_dir,
    read_file,
    write_atomically,
)

from . import format as fmt
from . import load
from .load import Loc

if TYPE_CHECKING:
    from .engine import Bitcask

log = logging.getLogger(__name__)

RETIRE_MARKER = "MERGE-RETIRE"


def merge(db: Bitcask) -> dict[str, int]:
    """Compact ``db``; returns what it did (files, keys, bytes before and after)."""
    with db._lock:
        if db.merging:
            raise StorageError("a merge is already running")
        db.merging = True
    try:
        return _merge(db)
    finally:
        with db._lock:
            db.merging = False
            db.merge_idle.notify_all()


def _merge(db: Bitcask) -> dict[str, int]:
    old = db.files_to_merge()
    before = _bytes_of(db.dir, old)
    out = _Output(db)
    try:
        for file_id in old:
            _copy_live(db, file_id, out)
        out.close_file()
    except BaseException:
        out.abandon()  # what was written is harmless duplicates; the old files stay
        raise
    db.drop_files(old)
    retire(db.dir, old)
    stats = {
        "files_merged": len(old),
        "files_written": len(out.written),
        "keys_copied": out.copied,
        "bytes_before": before,
        "bytes_after": _bytes_of(db.dir, out.written),
    }
    log.info("merge of %s: %s", db.dir, stats)
    return stats


def _copy_live(db: Bitcask, file_id: int, out: _Output) -> None:
    db.check_open()  # close() waits for us: give up between files
    path = os.path.join(db.dir, fmt.data_name(file_id))
    with open(path, "rb") as f:
        buf = f.read()
    for rec in Reader(buf, path):
        if rec.offset == 0 or rec.rtype != fmt.T_PUT:
            continue
        ts, key, _ = fmt.split_data(rec.payload)
        loc = db.keydir.get(key)
        if loc is not None and loc.file_id == file_id and loc.offset == rec.offset:
            out.add(key, loc, buf[rec.offset : rec.end])


class _Output:
    """The merge's output files, rotated at the same size limit as the active file."""

    def __init__(self, db: Bitcask) -> None:
        self.db = db
        self.written: list[int] = []
        self.copied = 0
        self._f: BinaryIO | None = None
        self._id = 0
        self._size = 0
        self._hints: list[bytes] = []
        self._moves: list[tuple[bytes, Loc, Loc]] = []

    def add(self, key: bytes, old: Loc, raw: bytes) -> None:
        if self._f is not None and self._size + len(raw) > self.db.max_file_size:
            self.close_file()
        if self._f is None:
            self._open_file()
        assert self._f is not None
        new = Loc(self._id, self._size, len(raw), old.ts)
        self._f.write(raw)
        self._size += len(raw)
        self._hints.append(load.hint_record(fmt.Entry(key, old.ts, False, new.offset, new.size)))
        self._moves.append((key, old, new))
        self.copied += 1

    def _open_file(self) -> None:
        self._id = self.db.allocate_id()
        path = os.path.join(self.db.dir, fmt.data_name(self._id))
        self._f = open(path, "xb")  # noqa: SIM115 - closed in close_file
        header = file_header(fmt.DATA_KIND)
        self._f.write(header)
        self._size = len(header)
        self.written.append(self._id)

    def abandon(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def close_file(self) -> None:
        """fsync the file, write its hint, then let the keydir point at it."""
        if self._f is None:
            return
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        self._f = None
        load.write_hint(self.db.dir, self._id, self._hints, self._size)
        self.db.install_merged(self._id, self._moves)
        self._hints, self._moves = [], []


def retire(directory: str, file_ids: list[int]) -> None:
    """Commit the deletion of merged-away files (marker first), then carry it out."""
    payload = b"".join(struct.pack("<Q", i) for i in file_ids)
    marker = os.path.join(directory, RETIRE_MARKER)
    write_atomically(marker, [file_header(fmt.RETIRE_KIND), encode(fmt.T_RETIRE, payload)])
    finish_retire(directory)


def finish_retire(directory: str) -> None:
    """Delete the files a committed merge replaced (idempotent; ``open`` calls it)."""
    marker = os.path.join(directory, RETIRE_MARKER)
    if not os.path.exists(marker):
        return
    records, torn = read_file(marker)
    if torn is not None or len(records) != 2 or records[1].rtype != fmt.T_RETIRE:
        raise Corruption(marker, 0, "unreadable merge marker: not deleting anything")
    payload = records[1].payload
    for (file_id,) in struct.iter_unpack("<Q", payload):
        for name in (fmt.hint_name(file_id), fmt.data_name(file_id)):
            path = os.path.join(directory, name)
            if os.path.exists(path):
                os.unlink(path)
    fsync_dir(directory)
    os.unlink(marker)
    fsync_dir(directory)


def _bytes_of(directory: str, file_ids: list[int]) -> int:
    total = 0
    for file_id in file_ids:
        for name in (fmt.data_name(file_id), fmt.hint_name(file_id)):
            path = os.path.join(directory, name)
            if os.path.exists(path):
                total += os.path.getsize(path)
    return total
