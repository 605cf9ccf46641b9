"""The MANIFEST: which tables are live, at which level, and how much of the WAL they hold.

A record file of kind ``lsm-manifest``; each record (type 16) is one *version
edit*, a msgpack map applied in order::

    {"add": [[level, number, size, smallest, largest, entries], ...],
     "remove": [number, ...], "log": seq, "next": next_file_number}

A flush is one edit (add the new L0 table, and ``log``: every WAL entry up to
seq is now in a table); a compaction is one edit (add its outputs, remove its
inputs). One record is atomic (its checksum), so after a crash the manifest
names either the old set of tables or the new one, never a mix. A torn tail is
a crash mid-append: it is dropped (that edit never happened, and its tables
are orphans that ``open`` deletes). When the file grows past ``REWRITE_BYTES``
it is replaced by one edit holding the whole state (temp + fsync + rename).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import msgpack

from storage.record import (
    FIRST_ENGINE_TYPE,
    Corruption,
    Writer,
    encode,
    file_header,
    file_kind,
    read_file,
    write_atomically,
)

KIND = "lsm-manifest"
NAME = "MANIFEST"
TYPE_EDIT = FIRST_ENGINE_TYPE
REWRITE_BYTES = 1024 * 1024  # leveldb rolls its MANIFEST at a similar size


@dataclass(frozen=True)
class TableMeta:
    level: int
    number: int
    size: int
    smallest: bytes
    largest: bytes
    entries: int

    def row(self) -> list[object]:
        return [self.level, self.number, self.size, self.smallest, self.largest, self.entries]


@dataclass
class State:
    tables: dict[int, TableMeta] = field(default_factory=dict)  # number -> meta
    log_seq: int = 0  # WAL entries <= this are in tables
    next_number: int = 1

    def apply(self, edit: dict[str, Any]) -> None:
        for number in edit.get("remove", ()):
            self.tables.pop(number, None)
        for row in edit.get("add", ()):  # after the removals: a move re-adds its table
            meta = TableMeta(*row)
            self.tables[meta.number] = meta
            self.next_number = max(self.next_number, meta.number + 1)
        if "log" in edit:
            self.log_seq = max(self.log_seq, int(edit["log"]))
        if "next" in edit:
            self.next_number = max(self.next_number, int(edit["next"]))

    def snapshot_edit(self) -> dict[str, object]:
        return {
            "add": [m.row() for m in self.tables.values()],
            "log": self.log_seq,
            "next": self.next_number,
        }


def load(directory: str) -> State:
    """The state the manifest describes (empty if there is none); Corruption if damaged."""
    path = os.path.join(directory, NAME)
    state = State()
    if not os.path.exists(path):
        return state
    records, _torn = read_file(path)
    if records and file_kind(records[0]) != KIND:
        raise Corruption(path, 0, f"not an {KIND} file")
    for rec in records[1:]:
        try:
            edit = msgpack.unpackb(rec.payload, raw=False)
            if rec.rtype != TYPE_EDIT or not isinstance(edit, dict):
                raise ValueError("not an edit")
            state.apply(edit)
        except (ValueError, TypeError, msgpack.ExtraData) as e:
            raise Corruption(path, rec.offset, f"bad version edit: {e}") from None
    return state


class Manifest:
    """Appends edits (each fsynced before ``log_edit`` returns) and rolls the file when large."""

    def __init__(self, directory: str, state: State) -> None:
        self.dir = directory
        self.path = os.path.join(directory, NAME)
        self.state = state
        if not os.path.exists(self.path):
            self._rewrite()
        self._w = Writer(self.path, KIND)  # truncates a torn tail

    def log_edit(self, edit: dict[str, object]) -> None:
        self._w.append(TYPE_EDIT, msgpack.packb(edit, use_bin_type=True))
        self._w.sync()
        self.state.apply(edit)
        if self._w.offset > REWRITE_BYTES:
            self._w.close()
            self._rewrite()
            self._w = Writer(self.path, KIND)

    def _rewrite(self) -> None:
        body = msgpack.packb(self.state.snapshot_edit(), use_bin_type=True)
        write_atomically(self.path, [file_header(KIND), encode(TYPE_EDIT, body)])

    def close(self) -> None:
        self._w.close()
