"""Bitcask (exercise S5): a log-structured hash table with merge and hint files.

Layout, from the user down (DBDB's order):

* ``engine.py``: ``Bitcask.open(dir, max_file_size=..., sync=...)`` with
  get/put/delete/keys/merge/sync/close; the keydir, the active file, rotation,
  the sync policies and the thread lock.
* ``merge.py``: compaction of the immutable files while reads and writes go on,
  and the MERGE-RETIRE marker that makes deleting the old files crash-safe.
* ``load.py``: start-up: the keydir from hint files, or from scanning data files
  (torn tail cut, corrupt middle refused); writing hint files.
* ``format.py``: payload layouts and record types inside ``storage.record``
  (grammar in ``storage/FORMAT.md``, section "Bitcask"), file names.
* ``lock.py``: the flock that keeps a second writer out of a directory.

The RESP server over it is ``servers/bitcask``; the word dictionary (S1) that
uses it is ``storage/dictionary``.
"""

from storage.record import Corruption, NotFound, StorageError

from .engine import DEFAULT_MAX_FILE_SIZE, Bitcask, Closed, SyncPolicy
from .lock import Locked

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "Bitcask",
    "Closed",
    "Corruption",
    "Locked",
    "NotFound",
    "StorageError",
    "SyncPolicy",
]
