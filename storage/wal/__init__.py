"""The write-ahead log: what S4's recovering KV store is built on.

Layout: ``entry.py`` is the payload of a put/delete record (seq, key, value);
``segment.py`` names segment files and replays them in order (torn tail only in
the last one, Corruption anywhere else); ``log.py`` is the ``Wal`` itself: sync
policies (always / interval / never), group commit, rotation and truncation after
a checkpoint. The record bytes come from ``storage.record``; the payload grammar
is in ``storage/FORMAT.md`` (section "WAL").
"""

from .entry import TYPE_DELETE, TYPE_PUT, BadEntry, Entry
from .log import DEFAULT_INTERVAL_MS, DEFAULT_SEGMENT_BYTES, POLICIES, Stats, Wal, WalError
from .segment import KIND, list_segments, read_segment, replay, segment_name

__all__ = [
    "BadEntry",
    "DEFAULT_INTERVAL_MS",
    "DEFAULT_SEGMENT_BYTES",
    "Entry",
    "KIND",
    "POLICIES",
    "Stats",
    "TYPE_DELETE",
    "TYPE_PUT",
    "Wal",
    "WalError",
    "list_segments",
    "read_segment",
    "replay",
    "segment_name",
]
