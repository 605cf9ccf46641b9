"""The LSM tree's statistics: tables per level, write and space amplification.

Write amplification is bytes written to tables (flushes + compactions) per byte
the user wrote (keys + values of puts and deletes); ``_with_wal`` adds the WAL's
bytes, as RocksDB's "W-Amp" leaves out and its total counts. Space amplification
is bytes on disk (tables + WAL) per byte of live data, measured by a full merged
scan (so ``live=False`` skips it when a caller only wants the counts).
"""

from __future__ import annotations

import os
from typing import Any

WAL_DIR = "wal"


def collect(db: Any, live: bool = True) -> dict[str, object]:
    """Tables and bytes per level, write and space amplification."""
    v, s = db._view, db.stats_
    per_level = [len(lv) for lv in v.levels]
    table_bytes = sum(t.size for lv in v.levels for t in lv)
    wal_bytes = _dir_bytes(os.path.join(db.dir, WAL_DIR))
    out: dict[str, object] = {
        "tables": sum(per_level),
        "tables_per_level": per_level,
        "bytes_per_level": [sum(t.size for t in lv) for lv in v.levels],
        "table_bytes": table_bytes,
        "wal_bytes": wal_bytes,
        "memtable_bytes": v.mem.bytes + (v.imm.bytes if v.imm else 0),
        "user_bytes_written": s.user_bytes,
        "flushes": s.flushes, "flush_bytes": s.flush_bytes,
        "compactions": s.compactions, "trivial_moves": s.moves,
        "compaction_bytes_read": s.compaction_read,
        "compaction_bytes_written": s.compaction_written,
        "write_stalls": s.stalls,
        "block_cache_hits": db.cache.hits, "block_cache_misses": db.cache.misses,
        # Bytes written to tables per byte the user wrote; and with the WAL counted too.
        "write_amplification": _ratio(s.flush_bytes + s.compaction_written, s.user_bytes),
        "write_amplification_with_wal": _ratio(
            s.wal_bytes + s.flush_bytes + s.compaction_written, s.user_bytes),
    }  # fmt: skip
    if live:
        live_bytes = keys = 0
        for k, value in db.scan():
            keys += 1
            live_bytes += len(k) + len(value)
        out["keys"] = keys
        out["live_bytes"] = live_bytes
        # Bytes on disk per byte of live data (tables + WAL).
        out["space_amplification"] = _ratio(table_bytes + wal_bytes, live_bytes)
    return out


def _ratio(a: int, b: int) -> float:
    return round(a / b, 3) if b else 0.0


def _dir_bytes(path: str) -> int:
    try:
        return sum(e.stat().st_size for e in os.scandir(path) if e.is_file())
    except OSError:
        return 0
