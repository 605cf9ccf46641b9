"""``repair(dir)``: take damaged records out of Bitcask data files into quarantine.

Each data file is walked record by record; after a record that fails its
checksum the walk resumes at the next valid put or tombstone (``storage.
quarantine.salvage``). The damaged bytes are appended to a quarantine file
(fsynced first), then the data file is rewritten without them (temp + fsync +
rename) and its hint file, now describing other offsets, is removed so the
next open rebuilds it. A key whose damaged record was newer than every
surviving record of it is listed as lost: it would otherwise come back with an
older value, or vanish, unannounced.
"""

from __future__ import annotations

import os

from storage.quarantine import Moved, Quarantine, RepairReport, salvage
from storage.record import HEADER_SIZE, file_header, write_atomically

from . import format as fmt
from . import load
from .lock import DirLock

TYPES = frozenset({fmt.T_PUT, fmt.T_DELETE})


def repair(directory: str) -> RepairReport:
    report = RepairReport(directory, "bitcask")
    lock = DirLock(directory)
    try:
        damaged_keys = _quarantine_damage(directory, report)
    finally:
        lock.release()
    if damaged_keys:
        _find_lost(directory, damaged_keys, report)
    return report


def _quarantine_damage(directory: str, report: RepairReport) -> list[tuple[bytes, int, str]]:
    q = Quarantine(directory)
    rewrites = []
    keys: list[tuple[bytes, int, str]] = []
    for file_id in sorted(i for n in os.listdir(directory) if (i := fmt.parse_data_name(n))):
        path = os.path.join(directory, fmt.data_name(file_id))
        with open(path, "rb") as f:
            buf = f.read()
        s = salvage(buf, path, TYPES)
        if not s.damaged:
            continue
        for offset, raw in s.damaged:
            q.add(path, offset, raw)
            report.moved.append(Moved(path, offset, len(raw), "record"))
            where = f"{path} offset {offset}"
            found = _key_of(raw)
            if found is None:
                report.unknown.append(f"{where}: {len(raw)} bytes, key unreadable")
            else:
                keys.append((*found, where))
        body = [buf[r.offset : r.end] for r in s.kept if r.offset > 0 or r.rtype != 1]
        rewrites.append((file_id, path, [file_header(fmt.DATA_KIND), *body, s.torn]))
    q.close()  # the damage is safely aside before it leaves its file
    for file_id, path, chunks in rewrites:
        write_atomically(path, chunks)
        hint = os.path.join(directory, fmt.hint_name(file_id))
        if os.path.exists(hint):
            os.unlink(hint)  # derived from the old offsets; rebuilt at the next open
    report.quarantine_file = q.path
    return keys


def _key_of(raw: bytes) -> tuple[bytes, int] | None:
    """(key, ts) as a damaged put/tombstone seems to hold them, or None if unreadable."""
    fixed = HEADER_SIZE + fmt.PUT_FIELDS.size
    if len(raw) < fixed or raw[8] not in TYPES:
        return None
    ts, klen = fmt.PUT_FIELDS.unpack_from(raw, HEADER_SIZE)
    if klen == 0 or fixed + klen > len(raw):
        return None
    return raw[fixed : fixed + klen], ts


def _find_lost(directory: str, damaged: list[tuple[bytes, int, str]], report: RepairReport) -> None:
    loader = load.Loader()
    for file_id in sorted(i for n in os.listdir(directory) if (i := fmt.parse_data_name(n))):
        for e in load.scan_data(os.path.join(directory, fmt.data_name(file_id))).entries:
            loader.apply(file_id, e)
    for key, ts, _where in damaged:
        loc = loader.keydir.get(key)
        newest = max(loc.ts if loc else -1, loader.tombs.get(key, -1))
        if ts > newest and key not in report.lost_keys:
            report.lost_keys.append(key)
