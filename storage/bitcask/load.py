"""Start-up: rebuild the keydir from hint files, or from data files where a hint is missing.

A hint file is trusted only when it is whole: every record passes its
checksum, it ends with a HINT_END record whose count matches, and the data file
it describes still has the size the hint recorded. Anything else (bit rot, a
truncated hint, a data file that changed) and the data file is scanned instead
and a fresh hint written: a bad hint costs start-up time, never data.

Which record wins for a key is decided by ``ts`` (see format.py), so files can
be loaded in any order; tombstones seen during loading are remembered until the
end so that an older put in a later-loaded file cannot resurrect a deleted key.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import NamedTuple

from storage.record import (
    Corruption,
    Reader,
    Record,
    encode,
    file_header,
    file_kind,
    write_atomically,
)

from . import format as fmt

log = logging.getLogger(__name__)


class Loc(NamedTuple):
    """A keydir value: where the newest record of a key is (the paper's keydir entry).

    ``offset``/``size`` locate the whole record (header included), not just the
    value, so a read can check the record's checksum and key before trusting it.
    """

    file_id: int
    offset: int
    size: int
    ts: int


Keydir = dict[bytes, Loc]


@dataclass
class Loader:
    """Accumulates the keydir over many files (``tombs`` lives only during start-up)."""

    keydir: Keydir = field(default_factory=dict)
    tombs: dict[bytes, int] = field(default_factory=dict)
    max_ts: int = 0

    def apply(self, file_id: int, e: fmt.Entry) -> None:
        self.max_ts = max(self.max_ts, e.ts)
        cur = self.keydir.get(e.key)
        if e.deleted:
            if cur is not None and cur.ts < e.ts:
                del self.keydir[e.key]
            if self.tombs.get(e.key, -1) < e.ts:
                self.tombs[e.key] = e.ts
        elif (cur is None or cur.ts < e.ts) and self.tombs.get(e.key, -1) < e.ts:
            self.keydir[e.key] = Loc(file_id, e.offset, e.size, e.ts)


@dataclass
class Scan:
    """What scanning one data file found."""

    entries: list[fmt.Entry]
    valid_end: int  # bytes of whole records; a torn tail starts here
    size: int  # bytes in the file as found


def scan_data(path: str) -> Scan:
    """Every entry of a data file. Raises Corruption for a bad record before the tail."""
    with open(path, "rb") as f:
        buf = f.read()
    reader = Reader(buf, path)
    entries: list[fmt.Entry] = []
    for rec in reader:
        if rec.offset == 0:
            if file_kind(rec) != fmt.DATA_KIND:
                raise Corruption(path, 0, f"not a {fmt.DATA_KIND} file")
            continue
        entries.append(_data_entry(path, rec))
    valid_end = reader.torn_at if reader.torn_at is not None else len(buf)
    return Scan(entries, valid_end, len(buf))


def _data_entry(path: str, rec: Record) -> fmt.Entry:
    if rec.rtype not in (fmt.T_PUT, fmt.T_DELETE):
        raise Corruption(path, rec.offset, f"record type {rec.rtype} in a data file")
    ts, key, _ = fmt.split_data(rec.payload)
    return fmt.Entry(key, ts, rec.rtype == fmt.T_DELETE, rec.offset, rec.size)


def read_hint(hint_path: str, data_size: int) -> list[fmt.Entry] | None:
    """The entries of a whole, matching hint file; None if it is missing or untrustworthy."""
    try:
        with open(hint_path, "rb") as f:
            buf = f.read()
    except FileNotFoundError:
        return None
    try:
        return _parse_hint(hint_path, buf, data_size)
    except (Corruption, ValueError) as e:
        log.warning("hint file %s unusable (%s): rebuilding from the data file", hint_path, e)
        return None


def _parse_hint(path: str, buf: bytes, data_size: int) -> list[fmt.Entry]:
    reader = Reader(buf, path)
    entries: list[fmt.Entry] = []
    end: tuple[int, int] | None = None
    for rec in reader:
        if rec.offset == 0:
            if file_kind(rec) != fmt.HINT_KIND:
                raise ValueError("not a hint file")
        elif end is not None:
            raise ValueError("records after HINT_END")
        elif rec.rtype == fmt.T_HINT_END:
            end = fmt.decode_end(rec.payload)
        elif rec.rtype in (fmt.T_HINT_PUT, fmt.T_HINT_DELETE):
            entries.append(fmt.decode_hint(rec.rtype, rec.payload))
        else:
            raise ValueError(f"record type {rec.rtype} in a hint file")
    if reader.torn_at is not None or end is None:
        raise ValueError("incomplete (no HINT_END)")
    if end != (len(entries), data_size):
        raise ValueError(f"HINT_END says {end}, found {(len(entries), data_size)}")
    return entries


def hint_records(entries: list[fmt.Entry]) -> list[bytes]:
    """Encoded hint records for entries (what rotation and recovery write)."""
    return [hint_record(e) for e in entries]


def hint_record(e: fmt.Entry) -> bytes:
    if e.deleted:
        return encode(fmt.T_HINT_DELETE, fmt.hint_delete(e.ts, e.key))
    return encode(fmt.T_HINT_PUT, fmt.hint_put(e.ts, e.offset, e.size, e.key))


def write_hint(directory: str, file_id: int, records: list[bytes], data_size: int) -> None:
    """Write a hint file atomically (whole or absent), ending in HINT_END."""
    end = encode(fmt.T_HINT_END, fmt.hint_end(len(records), data_size))
    path = os.path.join(directory, fmt.hint_name(file_id))
    write_atomically(path, [file_header(fmt.HINT_KIND), *records, end])
