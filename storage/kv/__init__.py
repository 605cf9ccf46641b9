"""S4, database recovery: a small KV store on the WAL plus periodic snapshots.

Layout: ``store.py`` is ``KVStore`` (put/get/delete, recovery = load the snapshot,
replay the WAL after it; the checkpoint protocol); ``snapshot.py`` writes and
reads the snapshot file (temp + fsync + rename + fsync dir, in the record
format); ``crashchild.py`` runs the store as a child process speaking a line
protocol over a pipe, so ``tests/test_recovery_crash.py`` can SIGKILL it at
random points and check that every acknowledged write survived. The WAL itself
is ``storage.wal``; the byte layouts are in ``storage/FORMAT.md``.
"""

from .store import DEFAULT_SNAPSHOT_EVERY, KVStore, Recovery

__all__ = ["DEFAULT_SNAPSHOT_EVERY", "KVStore", "Recovery"]
