"""The edge's storage: an LRU bounded in bytes, in memory, with an optional disk tier.

A key (the request target) holds its variants (one per Vary selection, §4.1).
Memory is an ``OrderedDict`` in recency order; inserting past ``max_bytes``
evicts from the cold end. With a disk tier, an evicted key is written to a
file instead of dropped (a second, larger LRU, also bounded in bytes), and a
lookup that misses memory reads it back and promotes it: the way Varnish's
"file" storage or Nginx's proxy_cache keep more than RAM holds.

Disk entries are files of checksummed records (``storage.record``): a header
record, one metadata record (JSON: status, headers, times, vary) and one body
record per variant. A file that fails its checksum is a miss and is deleted.
Writes are temp-file + rename without fsync: a cache that loses an entry in a
power cut refetches it, which is cheaper than an fsync per eviction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from pathlib import Path

from storage import record

from .policy import Fields, Stored, vary_matches

log = logging.getLogger(__name__)

TYPE_META = record.FIRST_ENGINE_TYPE
TYPE_BODY = record.FIRST_ENGINE_TYPE + 1
FILE_KIND = "cdn-entry"
# Variants kept per key: a Vary on a high-cardinality header (User-Agent) must not
# turn one URL into thousands of entries. Varnish warns past a few dozen.
MAX_VARIANTS = 16


class Store:
    """key -> variants, LRU by bytes; ``disk_dir`` adds the second tier."""

    def __init__(self, max_bytes: int, disk_dir: Path | None = None, disk_bytes: int = 0) -> None:
        self.max_bytes = max_bytes
        self.mem: OrderedDict[str, list[Stored]] = OrderedDict()
        self.mem_bytes = 0
        self.disk_dir = disk_dir
        self.disk_bytes_max = disk_bytes
        self.disk: OrderedDict[str, int] = OrderedDict()  # key -> file size
        self.disk_bytes = 0
        self.evictions = 0
        if disk_dir is not None:
            disk_dir.mkdir(parents=True, exist_ok=True)
            for stale in disk_dir.glob("*.entry*"):  # a restart starts cold: old files are junk
                stale.unlink(missing_ok=True)

    # -- lookups -------------------------------------------------------------------
    def lookup(self, key: str, request: Fields) -> Stored | None:
        variants = self._variants(key)
        if variants is None:
            return None
        for s in variants:
            if vary_matches(s, request):
                return s
        return None

    def _variants(self, key: str) -> list[Stored] | None:
        variants = self.mem.get(key)
        if variants is not None:
            self.mem.move_to_end(key)
            return variants
        if key not in self.disk:
            return None
        variants = self._read_disk(key)
        self._drop_disk(key)
        if variants is not None:
            self._put_mem(key, variants)
        return variants

    # -- changes -------------------------------------------------------------------
    def put(self, key: str, s: Stored) -> bool:
        """Store (or replace) the variant with the same Vary selection. False if too big."""
        if s.size > self.max_bytes:
            return False
        variants = [v for v in (self._variants(key) or []) if v.vary != s.vary]
        variants = [s, *variants][:MAX_VARIANTS]
        self._remove_mem(key)
        self._put_mem(key, variants)
        return True

    def purge(self, key: str) -> bool:
        found = self._remove_mem(key) or key in self.disk
        self._drop_disk(key)
        return found

    def purge_prefix(self, prefix: str) -> int:
        keys = [k for k in (*self.mem, *self.disk) if k.startswith(prefix)]
        return sum(self.purge(k) for k in set(keys))

    def clear(self) -> int:
        return self.purge_prefix("")

    def __len__(self) -> int:
        return len(self.mem) + len(self.disk)

    def stats(self) -> dict[str, int]:
        return {
            "keys_memory": len(self.mem), "bytes_memory": self.mem_bytes, "max_bytes": self.max_bytes,
            "keys_disk": len(self.disk), "bytes_disk": self.disk_bytes, "evictions": self.evictions,
        }  # fmt: skip

    # -- memory tier ---------------------------------------------------------------
    def _put_mem(self, key: str, variants: list[Stored]) -> None:
        self.mem[key] = variants
        self.mem_bytes += _size(variants)
        while self.mem_bytes > self.max_bytes and self.mem:
            old_key, old = self.mem.popitem(last=False)
            self.mem_bytes -= _size(old)
            self.evictions += 1
            self._spill(old_key, old)

    def _remove_mem(self, key: str) -> bool:
        old = self.mem.pop(key, None)
        if old is None:
            return False
        self.mem_bytes -= _size(old)
        return True

    # -- disk tier -----------------------------------------------------------------
    def _path(self, key: str) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".entry")

    def _spill(self, key: str, variants: list[Stored]) -> None:
        if self.disk_dir is None or _size(variants) > self.disk_bytes_max:
            return
        chunks = [record.file_header(FILE_KIND)]
        for s in variants:
            meta = {"key": key, "status": s.status, "headers": s.headers, "vary": s.vary,
                    "request_time": s.request_time, "response_time": s.response_time}  # fmt: skip
            chunks += [record.encode(TYPE_META, json.dumps(meta).encode()), record.encode(TYPE_BODY, s.body)]
        path = self._path(key)
        try:
            tmp = path.with_suffix(".entry.tmp")
            tmp.write_bytes(b"".join(chunks))
            os.replace(tmp, path)
        except OSError as e:
            log.warning("disk tier: cannot write %s: %s", path, e)
            return
        size = sum(len(c) for c in chunks)
        self._drop_disk(key)
        self.disk[key] = size
        self.disk_bytes += size
        while self.disk_bytes > self.disk_bytes_max and self.disk:
            self._drop_disk(next(iter(self.disk)))

    def _read_disk(self, key: str) -> list[Stored] | None:
        path = self._path(key)
        try:
            records, torn = record.read_file(path)
        except (OSError, record.StorageError) as e:
            log.warning("disk tier: %s unreadable, dropped: %s", path, e)
            return None
        if torn is not None or len(records) < 3 or (len(records) - 1) % 2:
            log.warning("disk tier: %s is incomplete, dropped", path)
            return None
        out = []
        for meta_rec, body_rec in zip(records[1::2], records[2::2], strict=True):
            m = json.loads(meta_rec.payload)
            if m["key"] != key:  # a hash collision on the file name: not ours
                return None
            out.append(Stored(m["status"], [tuple(h) for h in m["headers"]], body_rec.payload,
                              m["request_time"], m["response_time"], m["vary"]))  # fmt: skip
        return out

    def _drop_disk(self, key: str) -> None:
        size = self.disk.pop(key, None)
        if size is None:
            return
        self.disk_bytes -= size
        self._path(key).unlink(missing_ok=True)


def _size(variants: list[Stored]) -> int:
    return sum(s.size for s in variants)
