"""A B+ tree on 4 KiB pages (exercise S8).

Layout, from the user down (DBDB's order):

* ``engine.py``: ``BPlusTree.open(dir, sync=..., cache_pages=...)`` with
  get/put/delete/scan/checkpoint/close; the crash-safety approach (a logical
  WAL plus checkpoints through a double-write file) is argued there.
* ``tree.py``: search, insert with splits and root growth, delete with
  merge/redistribution and root collapse, range scans along the leaf links,
  values past ~1 KiB in chains of overflow pages.
* ``pager.py``: the page file, the bounded page cache (LRU of clean pages,
  dirty pages pinned until a checkpoint), the free list, checkpoints and the
  double-write file.
* ``page.py``: the page layouts: each page is exactly one checksummed
  ``storage.record`` record of 4096 bytes (grammar in ``storage/FORMAT.md``,
  section "B+ tree"); ``check.py`` is what ``python -m storage.check`` and its
  ``--repair`` do with a B+ tree directory.

The RESP server over it is ``servers/bptree``.
"""

from storage.record import Corruption, NotFound, StorageError

from .engine import BPlusTree, Closed, SyncPolicy
from .page import MAX_ENTRY, MAX_KEY, MAX_VALUE, PAGE_SIZE

__all__ = [
    "MAX_ENTRY",
    "MAX_KEY",
    "MAX_VALUE",
    "PAGE_SIZE",
    "BPlusTree",
    "Closed",
    "Corruption",
    "NotFound",
    "StorageError",
    "SyncPolicy",
]
