"""The KV store's snapshot: the whole map at one sequence number, replaced atomically.

Layout (a syslab record file of kind ``snapshot``; grammar in storage/FORMAT.md)::

    file  := FILE_HEADER("snapshot")  META  ITEM*  END
    META  (type 16) := seq:u64 count:u64     -- holds every WAL entry <= seq
    ITEM  (type 17) := klen:u32 key:byte[klen] value:byte[rest]
    END   (type 18) := count:u64             -- proves the file is complete

Writing: the records go to ``snapshot.tmp``, which is fsynced, renamed over
``snapshot`` and then the directory is fsynced. rename() is atomic, so after a
crash the name holds the old snapshot or the new one, never half of each; the
directory fsync makes the rename itself durable before the WAL it replaces is
truncated. A snapshot is therefore never legitimately torn: a missing END or a
torn tail is Corruption, not something to skip.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path

from storage.record import (
    FIRST_ENGINE_TYPE,
    Corruption,
    Reader,
    Record,
    Writer,
    file_kind,
    fsync_dir,
)

KIND = "snapshot"
NAME = "snapshot"
TMP_NAME = "snapshot.tmp"
TYPE_META = FIRST_ENGINE_TYPE  # 16
TYPE_ITEM = FIRST_ENGINE_TYPE + 1  # 17
TYPE_END = FIRST_ENGINE_TYPE + 2  # 18

_META = struct.Struct("<QQ")
_KLEN = struct.Struct("<I")
_COUNT = struct.Struct("<Q")


def write(directory: Path, seq: int, items: Mapping[bytes, bytes]) -> Path:
    """Write a snapshot of ``items`` at ``seq`` with temp + fsync + rename + fsync(dir)."""
    tmp, final = directory / TMP_NAME, directory / NAME
    tmp.unlink(missing_ok=True)
    # Buffered: a snapshot is written in one go and fsynced once at the end.
    with Writer(tmp, KIND, buffering=1 << 20) as w:
        w.append(TYPE_META, _META.pack(seq, len(items)))
        for k, v in items.items():
            w.append(TYPE_ITEM, _KLEN.pack(len(k)) + k + v)
        w.append(TYPE_END, _COUNT.pack(len(items)))
        w.sync()
    os.replace(tmp, final)
    fsync_dir(directory)
    return final


def load(directory: Path) -> tuple[int, dict[bytes, bytes]]:
    """(seq, items) of the current snapshot; (0, {}) when there is none yet."""
    path = directory / NAME
    if not path.exists():
        return 0, {}
    name = os.fspath(path)
    reader = Reader(path.read_bytes(), name)
    records = list(reader)
    if reader.torn_at is not None:
        raise Corruption(name, reader.torn_at, "a snapshot is renamed into place whole")
    return decode_records(name, records)


def decode_records(name: str, records: list[Record]) -> tuple[int, dict[bytes, bytes]]:
    """Check a snapshot's records and return (seq, items); Corruption if malformed."""
    if not records or file_kind(records[0]) != KIND:
        raise Corruption(name, 0, f"not a {KIND} file")
    if len(records) < 3 or records[1].rtype != TYPE_META or records[-1].rtype != TYPE_END:
        at = records[-1].end if records else 0
        raise Corruption(name, at, "snapshot without META or END record")
    seq, count = _META.unpack(records[1].payload)
    items: dict[bytes, bytes] = {}
    for rec in records[2:-1]:
        if rec.rtype != TYPE_ITEM or len(rec.payload) < _KLEN.size:
            raise Corruption(name, rec.offset, f"unexpected record type {rec.rtype}")
        (klen,) = _KLEN.unpack_from(rec.payload)
        if _KLEN.size + klen > len(rec.payload):
            raise Corruption(name, rec.offset, f"key length {klen} out of range")
        items[rec.payload[4 : 4 + klen]] = rec.payload[4 + klen :]
    (end_count,) = _COUNT.unpack(records[-1].payload)
    if not count == end_count == len(items):
        raise Corruption(name, records[-1].offset, f"{len(items)} items, META/END say {count}")
    return seq, items


def check_records(name: str, records: list[Record]) -> None:
    """For ``storage.check``: raise Corruption if the records are not a whole snapshot."""
    decode_records(name, records)
