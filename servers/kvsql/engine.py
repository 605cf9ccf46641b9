"""A key-value store on MySQL tables, sharded by hash or by range across instances.

Each shard is one table on one MariaDB instance::

    kv(k VARBINARY(512) PRIMARY KEY, v LONGBLOB, expires_at BIGINT NULL,
       deleted_at BIGINT NULL, updated_at BIGINT)       -- times in ms since the epoch

* **TTL**: ``expires_at`` is stored with the row; every read filters expired
  rows out (``expires_at > now``), so a key is gone the moment it expires even
  though its row is still there.
* **Soft deletes**: DEL stamps ``deleted_at`` instead of deleting. A delete is
  then an UPDATE of one row (no page merge, no index rebalance on the hot path),
  and the row can be audited or undone until the cleaner runs.
* **The cleaner** removes soft-deleted and expired rows in bounded batches
  (``DELETE ... LIMIT n``): one huge DELETE would hold locks on millions of
  rows and bloat the undo log; small batches let writes interleave. This is
  what Redis does lazily and actively for expiry, moved to SQL.
* **Routing**: ``hash`` puts a key on the shard the consistent-hash ring of
  ``clients.hashring`` names (even spread, a new shard takes ~1/n of the keys);
  ``range`` splits the key space at given boundaries (``[b"g", b"p"]`` -> three
  shards: keys < g, g..p, >= p): ordered scans stay on one shard, hot prefixes
  stay hot.

The clock is injected (``now_ms``) so tests control expiry without sleeping.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from clients.address import address_from_url
from clients.hashring import HashRing
from clients.pool import Pool, PoolConfig
from clients.pool.mysql import mysql_pool

log = logging.getLogger(__name__)

MAX_KEY = 512  # bytes: the VARBINARY column (InnoDB index prefixes stay under 3072 bytes)
MAX_VALUE = 16 * 1024 * 1024  # bytes: a LONGBLOB can hold more; the default max_allowed_packet cannot
CLEAN_BATCH = 1000  # rows per cleaner DELETE: short lock holds, bounded undo
SCHEMA = """CREATE TABLE IF NOT EXISTS kv (
    k VARBINARY(512) PRIMARY KEY, v LONGBLOB NOT NULL, expires_at BIGINT NULL,
    deleted_at BIGINT NULL, updated_at BIGINT NOT NULL,
    KEY by_expiry (expires_at), KEY by_deletion (deleted_at)
) ENGINE=InnoDB"""
LIVE = "deleted_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"


def wall_ms() -> int:
    return int(time.time() * 1000)


class KeyTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class Routing:
    """Which shard a key lives on: ``hash`` (a consistent-hash ring) or ``range`` (boundaries)."""

    mode: str
    shards: tuple[str, ...]
    boundaries: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("hash", "range"):
            raise ValueError(f"routing is 'hash' or 'range', not {self.mode!r}")
        if self.mode == "range" and (len(self.boundaries) != len(self.shards) - 1
                                     or list(self.boundaries) != sorted(set(self.boundaries))):  # fmt: skip
            raise ValueError("range routing needs len(shards) - 1 increasing boundaries")
        object.__setattr__(self, "_ring", HashRing(list(self.shards)) if self.mode == "hash" else None)

    def shard_of(self, key: bytes) -> str:
        if self.mode == "hash":
            return str(self._ring.lookup(key))  # type: ignore[attr-defined]
        return self.shards[bisect.bisect_right(self.boundaries, key)]


class KVSql:
    """GET/SET/DEL/EXPIRE/TTL over MySQL shards, with soft deletes and a batch cleaner."""

    def __init__(self, shards: dict[str, Any], routing: Routing | None = None, pool_size: int = 8,
                 now_ms: Callable[[], int] = wall_ms):  # fmt: skip
        self.routing = routing or Routing("hash", tuple(shards))
        if set(self.routing.shards) != set(shards):
            raise ValueError("the routing names other shards than the ones given")
        self.pools: dict[str, Pool[Any]] = {
            name: mysql_pool(addr, PoolConfig(max_size=pool_size, timeout=10)) for name, addr in shards.items()
        }
        self.addresses = dict(shards)
        self.now_ms = now_ms
        self.cleaned = 0
        self._stop = threading.Event()
        self._cleaner: threading.Thread | None = None
        for name in self.pools:
            with self.pools[name].connection() as c:
                c.query(SCHEMA)

    # -- routing -----------------------------------------------------------------------------

    def _conn(self, key: bytes) -> Any:
        if len(key) > MAX_KEY:
            raise KeyTooLarge(f"keys are at most {MAX_KEY} bytes")
        return self.pools[self.routing.shard_of(key)].connection()

    # -- the operations ----------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        with self._conn(key) as c:
            v = c.execute(f"SELECT v FROM kv WHERE k = ? AND {LIVE}",
                          (key, self.now_ms())).scalar()  # fmt: skip
        return None if v is None else bytes(v)

    def set(self, key: bytes, value: bytes, ttl_ms: int | None = None, only: str | None = None) -> bool:
        """Store ``value``; ``only`` = "nx" (if absent) or "xx" (if present). True if written."""
        if len(value) > MAX_VALUE:
            raise ValueError(f"values are at most {MAX_VALUE} bytes")
        now = self.now_ms()
        expires = None if ttl_ms is None else now + ttl_ms
        with self._conn(key) as c:
            if only is None:
                c.execute("INSERT INTO kv (k, v, expires_at, deleted_at, updated_at) VALUES (?, ?, ?, NULL, ?)"
                          " ON DUPLICATE KEY UPDATE v = VALUES(v), expires_at = VALUES(expires_at),"
                          " deleted_at = NULL, updated_at = VALUES(updated_at)", (key, value, expires, now))  # fmt: skip
                return True
            with c.transaction():
                live = c.execute(f"SELECT 1 FROM kv WHERE k = ? AND {LIVE} FOR UPDATE",
                                 (key, now)).scalar() is not None  # fmt: skip
                if (only == "nx") == live:
                    return False
                c.execute("REPLACE INTO kv (k, v, expires_at, deleted_at, updated_at)"
                          " VALUES (?, ?, ?, NULL, ?)", (key, value, expires, now))  # fmt: skip
            return True

    def delete(self, key: bytes) -> bool:
        """Soft delete: the row stays, stamped, until the cleaner removes it."""
        now = self.now_ms()
        with self._conn(key) as c:
            r = c.execute(f"UPDATE kv SET deleted_at = ? WHERE k = ? AND {LIVE}",
                          (now, key, now))  # fmt: skip
        return bool(r.affected_rows)

    def expire(self, key: bytes, ttl_ms: int) -> bool:
        now = self.now_ms()
        with self._conn(key) as c:
            r = c.execute(f"UPDATE kv SET expires_at = ?, updated_at = ? WHERE k = ? AND {LIVE}",
                          (now + ttl_ms, now, key, now))  # fmt: skip
        return bool(r.affected_rows)

    def persist(self, key: bytes) -> bool:
        now = self.now_ms()
        with self._conn(key) as c:
            r = c.execute("UPDATE kv SET expires_at = NULL WHERE k = ? AND expires_at IS NOT NULL"
                          f" AND {LIVE}", (key, now))  # fmt: skip
        return bool(r.affected_rows)

    def pttl(self, key: bytes) -> int:
        """Milliseconds left; -1 without expiry; -2 when the key does not exist (Redis's codes)."""
        now = self.now_ms()
        with self._conn(key) as c:
            row = c.execute(f"SELECT expires_at FROM kv WHERE k = ? AND {LIVE}",
                            (key, now)).first()  # fmt: skip
        if row is None:
            return -2
        return -1 if row[0] is None else max(0, int(row[0]) - now)

    def count(self) -> int:
        now = self.now_ms()
        total = 0
        for pool in self.pools.values():
            with pool.connection() as c:
                total += int(c.execute(f"SELECT COUNT(*) FROM kv WHERE {LIVE}",
                                       (now,)).scalar())  # fmt: skip
        return total

    def scan(self, start: bytes | None = None, end: bytes | None = None,
             limit: int | None = None) -> Iterator[tuple[bytes, bytes]]:  # fmt: skip
        """Live pairs with ``start <= key < end`` in key order, merged across shards."""
        now = self.now_ms()
        where, args = f"k >= ? AND {LIVE}", [start or b"", now]
        if end is not None:
            where, args = f"k < ? AND {where}", [end, *args]
        rows: list[tuple[bytes, bytes]] = []
        for pool in self.pools.values():
            with pool.connection() as c:
                got = c.execute(f"SELECT k, v FROM kv WHERE {where} ORDER BY k"
                                + (f" LIMIT {int(limit)}" if limit is not None else ""), tuple(args)).rows  # fmt: skip
            rows += [(bytes(k), bytes(v)) for k, v in got]
        rows.sort()
        yield from rows[:limit] if limit is not None else rows

    # -- the engine contract (storage/engines.py): put, get, delete, scan, len, close ---------

    def put(self, key: bytes, value: bytes) -> None:
        self.set(key, value)

    def __len__(self) -> int:
        return self.count()

    def flush(self) -> None:
        """Remove every row on every shard (FLUSHDB)."""
        for pool in self.pools.values():
            with pool.connection() as c:
                c.query("DELETE FROM kv")

    # -- the cleaner -------------------------------------------------------------------------

    def clean_once(self, batch: int = CLEAN_BATCH) -> int:
        """Delete soft-deleted and expired rows, ``batch`` at a time, on every shard."""
        removed = 0
        now = self.now_ms()
        for pool in self.pools.values():
            for condition in ("deleted_at IS NOT NULL", "expires_at <= ?"):
                while True:
                    with pool.connection() as c:
                        args = (now,) if "?" in condition else ()
                        n = c.execute(f"DELETE FROM kv WHERE {condition} LIMIT {batch}", args).affected_rows
                    removed += n
                    if n < batch:
                        break
        self.cleaned += removed
        return removed

    def start_cleaner(self, every_s: float = 1.0) -> None:
        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    self.clean_once()
                except Exception as e:  # noqa: BLE001 - the next round tries again
                    log.warning("cleaner round failed: %s", e)

        self._cleaner = threading.Thread(target=loop, name="kvsql-cleaner", daemon=True)
        self._cleaner.start()

    def close(self) -> None:
        self._stop.set()
        if self._cleaner is not None:
            self._cleaner.join()
        for pool in self.pools.values():
            pool.close()


SHARDS_FILE = "shards.json"


def open_dir(path: str, **options: Any) -> KVSql:
    """The engine contract's ``open(path)`` for a store whose data is not in ``path``:
    ``path/shards.json`` names the shards (``{"shards": {"s0": "mysql://root@127.0.0.1:P/db", ...},
    "routing": "hash"}``); the rows live in MariaDB. ``options`` such as ``sync``
    do not apply (every write is an autocommitted InnoDB transaction) and are ignored."""
    with open(os.path.join(path, SHARDS_FILE)) as f:
        doc = json.load(f)
    shards = {name: address_from_url(url, 3306) for name, url in doc["shards"].items()}
    return KVSql(shards, Routing(doc.get("routing", "hash"), tuple(shards)), pool_size=2)
