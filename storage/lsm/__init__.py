"""An LSM-tree key-value store (exercise S7).

Layout, from the user down: ``engine.py`` is ``LSM`` (open, get, put, delete,
scan, compact, stats, close; the WAL + memtable, the background flush and
compaction thread, crash recovery) and says why compaction is leveled;
``compaction.py`` picks what to merge and merges iterators; ``memtable.py``
the in-memory table; ``sstable.py`` the immutable tables (data blocks with
restart points, filter, index, footer); ``manifest.py`` the MANIFEST of live
tables; ``repair.py`` moves damaged blocks aside (``python -m storage.check
--repair DIR``). The bytes are in ``storage/FORMAT.md``, section "LSM";
``servers/lsm`` serves it over RESP.

The engine API every KV engine offers (``bench/kv`` and the contract suite
drive it): ``db = storage.lsm.open(path)``, ``db.get(k)``, ``db.put(k, v)``,
``db.delete(k)``, ``db.scan(start, end)``, ``db.close()``.
"""

from __future__ import annotations

import os

from storage.record import Corruption, StorageError

from .engine import LSM, MAX_KEY_SIZE, MAX_VALUE_SIZE, Closed, Locked, Options


def open(path: str | os.PathLike[str], **options: object) -> LSM:  # noqa: A001
    """Open (creating if needed) the LSM store at ``path``; see ``Options`` for the settings."""
    return LSM.open(path, **options)


__all__ = [
    "LSM", "MAX_KEY_SIZE", "MAX_VALUE_SIZE", "Closed", "Corruption", "Locked", "Options",
    "StorageError", "open",
]  # fmt: skip
