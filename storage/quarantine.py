"""Quarantine: where ``python -m storage.check --repair`` moves damaged bytes (nothing is deleted).

A repair never throws bytes away: every damaged record, page or block it
takes out of a store is appended, with the file and offset it came from, to
``DIR/quarantine/NNNNNN.quarantine``, itself a syslab record file (kind
``quarantine``, so ``storage.check`` walks it too):

```
quarantine := header_record("quarantine") ITEM*
ITEM (type 16) := offset:u64 nlen:u16 file_name:byte[nlen] raw:byte[rest]
```

``RepairReport`` is what every engine's ``repair(path)`` returns: what was
moved, the keys whose newest version was in the damage (so no key silently
reverts to an older value unannounced), and damage whose keys could not be
read at all (named by its place and, where known, its key range).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from storage.record import Corruption, Record, Writer, file_kind, fsync_dir

KIND = "quarantine"
T_ITEM = 16
ITEM = struct.Struct("<QH")
DIR_NAME = "quarantine"


@dataclass
class Moved:
    file: str
    offset: int
    length: int
    what: str  # "record", "page 17", "block", ...


@dataclass
class RepairReport:
    path: str
    engine: str
    moved: list[Moved] = field(default_factory=list)
    lost_keys: list[bytes] = field(default_factory=list)  # newest version was in the damage
    unknown: list[str] = field(default_factory=list)  # damage whose keys could not be read
    quarantine_file: str | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.moved:
            return [f"{self.path}: {self.engine}: nothing damaged, nothing moved", *self.notes]
        out = [f"{self.path}: {self.engine}: moved {len(self.moved)} damaged range(s) to "
               f"{self.quarantine_file}"]  # fmt: skip
        out += [f"  {m.file} offset {m.offset}: {m.length} bytes ({m.what})" for m in self.moved]
        if self.lost_keys:
            out.append(f"keys whose newest version was damaged ({len(self.lost_keys)}):")
            out += [f"  {k!r}" for k in self.lost_keys]
        out += [f"damage with unreadable keys: {u}" for u in self.unknown]
        if not self.lost_keys and not self.unknown:
            out.append("no key lost its newest version")
        return out + self.notes


class Quarantine:
    """Appends damaged bytes to a new quarantine file (created on first use)."""

    def __init__(self, directory: str) -> None:
        self.dir = os.path.join(directory, DIR_NAME)
        self._writer: Writer | None = None
        self.path: str | None = None

    def add(self, file: str, offset: int, raw: bytes) -> None:
        if self._writer is None:
            os.makedirs(self.dir, exist_ok=True)
            n = 1 + len([p for p in os.listdir(self.dir) if p.endswith(".quarantine")])
            self.path = os.path.join(self.dir, f"{n:06d}.quarantine")
            self._writer = Writer(self.path, KIND)
        name = os.path.basename(file).encode()
        self._writer.append(T_ITEM, ITEM.pack(offset, len(name)) + name + raw)

    def close(self) -> None:
        """fsync the quarantine file: it must be on disk before the damage leaves its file."""
        if self._writer is not None:
            self._writer.sync()
            self._writer.close()
            fsync_dir(self.dir)
            self._writer = None


def items(path: str | os.PathLike[str]) -> list[tuple[str, int, bytes]]:
    """(file name, offset, raw bytes) of every item of a quarantine file."""
    from storage.record import read_file

    records, _ = read_file(path)
    check_records(os.fspath(path), records)
    out = []
    for rec in records[1:]:
        offset, nlen = ITEM.unpack_from(rec.payload)
        name = rec.payload[ITEM.size : ITEM.size + nlen].decode(errors="replace")
        out.append((name, offset, rec.payload[ITEM.size + nlen :]))
    return out


def check_records(name: str, records: list[Record]) -> None:
    """storage.check's payload checker for kind ``quarantine``."""
    if file_kind(records[0]) != KIND:
        raise Corruption(name, 0, f"not a {KIND} file")
    for rec in records[1:]:
        if rec.rtype != T_ITEM or len(rec.payload) < ITEM.size:
            raise Corruption(name, rec.offset, "not a quarantine item")
        if ITEM.size + ITEM.unpack_from(rec.payload)[1] > len(rec.payload):
            raise Corruption(name, rec.offset, "file name runs past the item")


def files(directory: str | os.PathLike[str]) -> list[Path]:
    d = Path(directory) / DIR_NAME
    return sorted(d.glob("*.quarantine")) if d.is_dir() else []


# -- taking the damage out of a record file ---------------------------------------------


@dataclass
class Salvage:
    """A record file split into what reads and what does not."""

    kept: list[Record]  # whole, valid records (the FILE_HEADER included when it is whole)
    damaged: list[tuple[int, bytes]]  # (offset, raw bytes) of each damaged stretch
    torn: bytes  # a torn tail (a crash artefact, not damage: left for the engine to cut)


def salvage(buf: bytes, name: str, types: frozenset[int]) -> Salvage:
    """Walk the records of ``buf``; after a bad one, resume at the next valid record of ``types``."""
    from storage.record import Reader

    out = Salvage([], [], b"")
    pos = 0
    while pos < len(buf):
        reader = Reader(buf, name, pos)
        try:
            out.kept.extend(reader)
        except Corruption as e:
            nxt = _resync(buf, e.offset + 1, types)
            out.damaged.append((e.offset, buf[e.offset : nxt]))
            pos = nxt
            continue
        if reader.torn_at is not None:
            out.torn = buf[reader.torn_at :]
        break
    return out


def _resync(buf: bytes, start: int, types: frozenset[int]) -> int:
    """The next offset at or after ``start`` where a valid record of one of ``types`` begins."""
    import re

    from storage.record import decode_at

    pattern = re.compile(b"(?=[\\s\\S]{8}[" + b"".join(re.escape(bytes([t])) for t in types) + b"])")
    for m in pattern.finditer(buf, start):
        try:
            decode_at(buf, m.start())
        except Exception:  # noqa: BLE001 - torn or bad: not a record start
            continue
        return m.start()
    return len(buf)
