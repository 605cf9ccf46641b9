"""S3: ``python -m storage.check FILE|DIR ...`` -- is this syslab data file whole?

Every syslab data file starts with a FILE_HEADER naming its kind, so one walker
serves them all. For each file it reports one of:

* ``OK``: every record passes its checksum (and, for kinds it knows, its payload
  parses); the kind and record count are printed. Exit 0.
* ``TORN``: whole records, then a torn tail at an offset -- what a crash mid-append
  leaves, and what a reader ignores. Exit 0, but it is said.
* ``CORRUPT``: the first bad record and its offset. Exit 1.

``--repair DIR`` hands an engine directory (Bitcask, B+ tree, LSM: told apart
by their files, ``storage.engines.detect``) to that engine's repair, which
moves damaged records or pages into ``DIR/quarantine/`` (``storage.quarantine``)
and prints what it moved and the keys whose newest version was damaged.

The record-level rules are ``storage.record``'s (a length that runs past the end
with whole records behind it is corruption, not a tail). Kinds with a payload grammar are checked
record by record through ``PAYLOAD_CHECKERS``; other kinds get the record-level
check only. A directory argument checks every file in it that opens with a
FILE_HEADER (others, such as a LOCK file, are listed as skipped); a file named
explicitly is always checked.
"""

from __future__ import annotations

import argparse
import importlib
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage.record import (
    FILE_MAGIC,
    HEADER_SIZE,
    TYPE_FILE_HEADER,
    Corruption,
    Reader,
    Record,
    StorageError,
    file_kind,
)

# kind -> "module:function"; the function takes (file name, records incl. the header)
# and raises Corruption. Imported lazily so a checker's room may arrive later.
PAYLOAD_CHECKERS: dict[str, str] = {
    "wal": "storage.wal.segment:check_records",
    "snapshot": "storage.kv.snapshot:check_records",
    "bitcask-data": "storage.check:check_bitcask_data",
    "bitcask-hint": "storage.check:check_bitcask_hint",
    "bitcask-retire": "storage.check:check_bitcask_retire",
    "lsm-sst": "storage.lsm.sstable:check_records",
    "lsm-manifest": "storage.lsm.manifest:check_records",
    "bptree": "storage.bptree.check:check_records",
    "bptree-dwrite": "storage.bptree.check:check_dwrite",
    "quarantine": "storage.quarantine:check_records",
}

EXIT_OK, EXIT_CORRUPT, EXIT_UNREADABLE = 0, 1, 2


@dataclass
class Report:
    path: str
    size: int
    kind: str | None = None
    records: int = 0  # whole records after the header
    torn_at: int | None = None
    corruption: Corruption | None = None

    @property
    def status(self) -> str:
        return "CORRUPT" if self.corruption else "TORN" if self.torn_at is not None else "OK"

    def line(self) -> str:
        kind = f"kind={self.kind or '?'}"
        if self.corruption is not None:
            c = self.corruption
            return (
                f"{self.path}: CORRUPT at offset {c.offset}: {c.reason} "
                f"({kind}, {self.records} whole records before it)"
            )
        if self.torn_at is not None:
            lost = self.size - self.torn_at
            return (
                f"{self.path}: TORN tail at offset {self.torn_at} ({lost} bytes ignored) "
                f"after {self.records} whole records, {kind}"
            )
        return f"{self.path}: OK, {kind}, {self.records} records, {self.size} bytes"


def check_bytes(data: bytes, name: str) -> Report:
    """Walk one file's bytes; never raises for bad content."""
    rep = Report(name, len(data))
    reader = Reader(data, name)
    records: list[Record] = []
    try:
        for rec in reader:
            records.append(rec)
    except Corruption as e:
        rep.corruption = e
    if records:
        rep.kind = file_kind(records[0])
        rep.records = len(records) - 1
        if rep.kind is None and rep.corruption is None:
            rep.corruption = Corruption(name, 0, "first record is not a FILE_HEADER")
    elif rep.corruption is None and reader.torn_at is None:
        reader.torn_at = 0  # an empty file: created, then crashed before its header
    elif rep.corruption is None and not _torn_header(data):
        rep.corruption = Corruption(name, 0, "not a syslab data file (no FILE_HEADER)")
    if rep.corruption is None:
        rep.torn_at = reader.torn_at
    if rep.corruption is None and rep.kind is not None:
        _check_payloads(rep, name, records)
    return rep


def _torn_header(data: bytes) -> bool:
    """Could these bytes (too few for one whole record) be the start of a FILE_HEADER?

    A crash while a file's first record is written leaves a prefix of
    crc, length, type 1, "SYSLAB1 " + kind: that is a torn tail. Short bytes of
    anything else (a LOCK file's pid, a note) are not a syslab file at all.
    """
    length, rtype = data[4:8], data[8:9]  # u32le; a header's is below 256
    if length and not (length[0] > len(FILE_MAGIC) and not any(length[1:])):
        return False
    if rtype and rtype[0] != TYPE_FILE_HEADER:
        return False
    return FILE_MAGIC.startswith(data[HEADER_SIZE : HEADER_SIZE + len(FILE_MAGIC)])


def _check_payloads(rep: Report, name: str, records: list[Record]) -> None:
    checker = _checker(rep.kind or "")
    if checker is None:
        return
    try:
        checker(name, records)
    except Corruption as e:
        rep.corruption = e
        rep.records = sum(1 for r in records[1:] if r.offset < e.offset)


def _checker(kind: str) -> Callable[[str, list[Record]], None] | None:
    target = PAYLOAD_CHECKERS.get(kind)
    if target is None:
        return None
    module, func = target.split(":")
    try:
        return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        return None  # the room is not there (yet): record-level check only


# -- Bitcask payloads (FORMAT.md, section "Bitcask"; types and field layouts from its format.py) --


def check_bitcask_data(name: str, records: list[Record]) -> None:
    """Every record after the header is a put or a tombstone whose key fits its payload."""
    from storage.bitcask import format as fmt

    for rec in records[1:]:
        if rec.rtype not in (fmt.T_PUT, fmt.T_DELETE):
            raise Corruption(name, rec.offset, f"record type {rec.rtype} in a data file")
        _key_fits(name, rec, fmt.PUT_FIELDS, exact=rec.rtype == fmt.T_DELETE)


def check_bitcask_hint(name: str, records: list[Record]) -> None:
    """Hint entries, then (when whole) one END whose count matches them."""
    from storage.bitcask import format as fmt

    for i, rec in enumerate(records[1:], start=1):
        if rec.rtype == fmt.T_HINT_END:
            end = fmt.HINT_END_FIELDS
            count = end.unpack(rec.payload)[0] if len(rec.payload) == end.size else -1
            if i != len(records) - 1 or count != i - 1:
                raise Corruption(name, rec.offset, f"END says {count} entries, {i - 1} precede it")
        elif rec.rtype in (fmt.T_HINT_PUT, fmt.T_HINT_DELETE):
            put = rec.rtype == fmt.T_HINT_PUT
            _key_fits(name, rec, fmt.HINT_PUT_FIELDS if put else fmt.HINT_DEL_FIELDS, exact=True)
        else:
            raise Corruption(name, rec.offset, f"record type {rec.rtype} in a hint file")


def check_bitcask_retire(name: str, records: list[Record]) -> None:
    """MERGE-RETIRE: exactly one RETIRE record, a whole number of u64 file ids."""
    from storage.bitcask import format as fmt

    if len(records) != 2:
        raise Corruption(name, records[-1].offset, "a merge marker holds exactly one record")
    rec = records[1]
    if rec.rtype != fmt.T_RETIRE or len(rec.payload) % 8:
        raise Corruption(name, rec.offset, "not a list of u64 file ids")


def _key_fits(name: str, rec: Record, prefix: struct.Struct, exact: bool) -> None:
    if len(rec.payload) < prefix.size:
        raise Corruption(name, rec.offset, "payload shorter than its fixed fields")
    klen = prefix.unpack_from(rec.payload)[-1]
    end = prefix.size + klen
    if end > len(rec.payload) or (exact and end != len(rec.payload)):
        raise Corruption(name, rec.offset, f"key length {klen} does not fit the payload")


def check_file(path: str | os.PathLike[str]) -> Report:
    p = os.fspath(path)
    with open(p, "rb") as f:
        return check_bytes(f.read(), p)


def _expand(paths: list[str]) -> list[tuple[Path, bool]]:
    """(file, named explicitly) for every argument; directories are walked."""
    out: list[tuple[Path, bool]] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            out.extend((f, False) for f in files)
        else:
            out.append((p, True))
    return out


def _looks_like_data(path: Path) -> bool:
    """Does the file open with a FILE_HEADER? (LOCK files and notes in a store dir do not.)"""
    with open(path, "rb") as f:
        return FILE_MAGIC in f.read(HEADER_SIZE + len(FILE_MAGIC))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m storage.check", description="Check syslab data files for corruption."
    )
    ap.add_argument("paths", nargs="+", help="data files, or directories to walk")
    ap.add_argument(
        "--repair", action="store_true",
        help="for each engine directory: move damaged records/pages into DIR/quarantine/ "
        "(nothing is deleted), list the keys whose newest version was damaged",
    )  # fmt: skip
    args = ap.parse_args(argv)
    if args.repair:
        return _repair_all(args.paths)
    code = EXIT_OK
    for path, explicit in _expand(args.paths):
        try:
            if not explicit and not _looks_like_data(path):
                print(f"{path}: SKIPPED, no syslab file header")
                continue
            rep = check_file(path)
        except (OSError, StorageError) as e:
            print(f"{path}: UNREADABLE: {e}")
            code = max(code, EXIT_UNREADABLE)
            continue
        print(rep.line())
        if rep.corruption is not None:
            code = max(code, EXIT_CORRUPT)
    return code


def _repair_all(paths: list[str]) -> int:
    from storage import engines

    code = EXIT_OK
    for path in paths:
        engine = engines.detect(path) if os.path.isdir(path) else None
        if engine is None:
            print(f"{path}: not a Bitcask, B+ tree or LSM directory", file=sys.stderr)
            code = max(code, EXIT_UNREADABLE)
            continue
        try:
            report = engine.repair(path)
        except (OSError, StorageError, ImportError) as e:
            print(f"{path}: repair failed: {e}", file=sys.stderr)
            code = max(code, EXIT_UNREADABLE)
            continue
        lines = report.lines() if hasattr(report, "lines") else [str(report)]
        print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
