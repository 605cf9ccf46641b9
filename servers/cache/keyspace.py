"""The keyspace: 16 databases of Python values, TTLs, lazy and active expiry, memory accounting.

Strategy. A database is a plain dict from key (bytes) to value, where the type
of the value is the Redis type: ``bytes`` a string, ``deque`` a list, ``dict``
a hash, ``set`` a set. Beside it:

* ``expires``: key -> absolute expiry in milliseconds of the injectable clock.
  Expiry is lazy (a lookup of an expired key deletes it and misses) plus an
  active cycle (``Keyspace.active_expire``) that samples keys with a TTL, as
  Redis's activeExpireCycle does.
* ``KeyLog``: the keys in insertion order with a sequence number each, so that
  SCAN can use the sequence number as its cursor (a key present for the whole
  scan is returned exactly once, whatever is added or deleted meanwhile) and
  eviction / active expiry can sample a random key in O(1). Python dicts offer
  neither; Redis gets both from its own hash table.
* ``sizes``: an estimate of each aggregate's memory (list, hash, set...),
  kept up to date by deltas from the commands. A string's estimate is not
  stored: it is ``KEY_OVERHEAD + len(key) + len(value)`` (``string_size``),
  derived from the key and the value whenever it is needed (``size_of``). The
  estimates are summed in ``Keyspace.used``: the dataset part of used_memory
  (memory.py adds the server's own overhead for maxmemory and INFO).

Why strings have no ``sizes`` entry: with random keys each dict a write
touches is its own cache misses (a 170k-key dict's index, entry and key
object are not in cache): about 0.7 us per dict per key on the 2-core
machine of 2026-12-01, more than all the rest of a pipelined SET. Reading the
old value from ``data`` instead warms the entry the write then replaces.

Every key is created and deleted through ``Database`` methods, so the dict,
the log, the TTLs, the sizes and the LRU/LFU metadata never disagree.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# Raised here on a type mismatch, answered WRONGTYPE by the kit's session loop.
from servers.respkit.state import WrongType as WrongType

# Memory estimate. Rough like Redis's own accounting is per allocation: a key
# costs a dict entry, an object header and an sds header (~64 bytes on a 64-bit
# Redis); elements of aggregates cost their bytes plus a per-element header.
KEY_OVERHEAD = 64
LIST_ELEM_OVERHEAD = 16  # a listpack entry inside a quicklist node
HASH_FIELD_OVERHEAD = 32  # field + value headers in a dict entry
SET_MEMBER_OVERHEAD = 32

# Active expiry, as Redis's activeExpireCycle: sample 20 keys with a TTL per
# round (ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP), go on while more than 25% of a
# sample had expired (the classic rule; Redis 7 tunes it to 10% with "active
# expire effort"), and spend at most 25% of each 1/hz period
# (ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC).
EXPIRE_SAMPLE = 20
EXPIRE_REPEAT_ABOVE = 0.25
EXPIRE_TIME_PERC = 25

DEFAULT_DATABASES = 16  # Redis's "databases" default


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


TYPE_NAMES: dict[type, bytes] = {bytes: b"string", deque: b"list", dict: b"hash", set: b"set"}
# OBJECT ENCODING for the types whose encoding depends on the value (a type's
# module registers it, as commands/zsets.py does for the sorted set).
ENCODINGS: dict[type, Callable[[Any], bytes]] = {}
# The memory estimate of the elements of a type registered by its own module
# (the sorted set's members, a stream's entries: Stream.memory).
ELEMENT_SIZES: dict[type, Callable[[Any], int]] = {}


def string_size(key: bytes, value: bytes) -> int:
    """A string key's memory estimate: always derived, never stored (see ``sizes``)."""
    return KEY_OVERHEAD + len(key) + len(value)


def estimate(key: bytes, value: Any) -> int:
    """A fresh estimate of one key's memory (commands then track it by deltas)."""
    base = KEY_OVERHEAD + len(key)
    t = type(value)
    if t is bytes:
        return base + len(value)
    if t is deque:
        return base + sum(len(v) + LIST_ELEM_OVERHEAD for v in value)
    if t is dict:
        return base + sum(len(f) + len(v) + HASH_FIELD_OVERHEAD for f, v in value.items())
    if t in ELEMENT_SIZES:
        return base + ELEMENT_SIZES[t](value)
    return base + sum(len(m) + SET_MEMBER_OVERHEAD for m in value)


class KeyLog:
    """Keys with ascending sequence numbers: O(1) add/remove/sample, stable SCAN cursors.

    Removal leaves a stale slot (its key's current sequence differs); stale
    slots are compacted away once they are half the log, which keeps sampling
    at <= 2 tries expected and never changes any live key's sequence number.
    """

    __slots__ = ("seq_of", "seqs", "keys", "next_seq")

    def __init__(self) -> None:
        self.seq_of: dict[bytes, int] = {}
        self.seqs: list[int] = []
        self.keys: list[bytes] = []
        self.next_seq = 1  # cursor 0 means "start" (and "done" when returned)

    def __len__(self) -> int:
        return len(self.seq_of)

    def add(self, key: bytes) -> None:
        s = self.next_seq
        self.next_seq = s + 1
        self.seq_of[key] = s
        self.seqs.append(s)
        self.keys.append(key)

    def extend(self, keys: Iterable[bytes]) -> None:
        """``add`` each of ``keys`` (distinct, none in the log yet), in order."""
        keys = list(keys)
        s = self.next_seq
        self.next_seq = s + len(keys)
        self.seq_of.update(zip(keys, range(s, self.next_seq), strict=True))
        self.seqs.extend(range(s, self.next_seq))
        self.keys.extend(keys)

    def remove(self, key: bytes) -> None:
        del self.seq_of[key]
        if len(self.seqs) > 64 and len(self.seqs) > 2 * len(self.seq_of):
            self._compact()

    def clear(self) -> None:
        self.seq_of.clear()
        self.seqs.clear()
        self.keys.clear()

    def _compact(self) -> None:
        live = self.seq_of
        pairs = [(s, k) for s, k in zip(self.seqs, self.keys, strict=True) if live.get(k) == s]
        self.seqs = [s for s, _ in pairs]
        self.keys = [k for _, k in pairs]

    def sample(self, n: int, rng: random.Random) -> list[bytes]:
        """Up to ``n`` distinct live keys picked at random (fewer if the log is small)."""
        live = self.seq_of
        if len(live) <= n:
            return list(live)
        picked: set[bytes] = set()
        total = len(self.keys)
        while len(picked) < n:
            i = rng.randrange(total)
            k = self.keys[i]
            if live.get(k) == self.seqs[i]:
                picked.add(k)
        return list(picked)

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """Keys from ``cursor`` on (about ``count`` slots); returns (next cursor or 0, keys)."""
        i = bisect_left(self.seqs, cursor)
        live, out = self.seq_of, []
        end = min(len(self.seqs), i + max(count, 1))
        for j in range(i, end):
            k = self.keys[j]
            if live.get(k) == self.seqs[j]:
                out.append(k)
        return (self.seqs[end] if end < len(self.seqs) else 0), out


class Database:
    """One of the numbered databases (SELECT n)."""

    def __init__(self, keyspace: Keyspace, index: int) -> None:
        self.ks = keyspace
        self.index = index
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        self.sizes: dict[bytes, int] = {}  # aggregates only: a string's is derived
        self.keylog = KeyLog()
        self.volatile = KeyLog()  # the keys with a TTL, for sampling
        self.meta: dict[bytes, int] = {}  # LRU: last access ms; LFU: packed counter
        self.watchers: dict[bytes, set[Any]] = {}  # WATCHed key -> clients whose EXEC fails
        self.sticky: dict[bytes, Any] = {}  # key -> value that went "hashtable" (encoding.py)

    def __len__(self) -> int:
        return len(self.data)

    # -- reading ----------------------------------------------------------------
    def get(self, key: bytes) -> Any:
        """The live value or None (expiring it lazily); counts hits and misses."""
        v = self.data.get(key)
        ks = self.ks
        if v is None:
            ks.misses += 1
            return None
        if self.expires:
            exp = self.expires.get(key)
            if exp is not None and exp <= ks.clock() and not ks.loading:
                self.expire_now(key)
                ks.misses += 1
                return None
        ks.hits += 1
        if ks.tracker is not None:
            ks.tracker.touch(self, key)
        return v

    # Redis's lookupKey has two sides: the read lookup (lookupKeyRead*) counts
    # keyspace_hits / keyspace_misses, the write lookup (lookupKeyWrite*, flag
    # LOOKUP_WRITE) counts nothing; both expire lazily and touch the LRU/LFU
    # data. ``get`` is the read lookup, ``get_for_write`` the write lookup, and
    # ``peek_counted`` a read lookup leaving LRU/LFU alone (LOOKUP_NOTOUCH:
    # EXISTS, TYPE, TTL, OBJECT). A command uses the one its Redis counterpart
    # uses (INCR, LPUSH, SADD, LPOP write; GET, EXISTS, TYPE, TTL, SUNIONSTORE's
    # sources read), which is what INFO's counters show:
    # tests/test_cache_keyspace_stats.py compares them with redis-server
    # command by command.
    def get_for_write(self, key: bytes) -> Any:
        """The live value or None for a command about to write ``key`` (Redis's
        lookupKeyWrite): expired lazily and touched for LRU/LFU, but no hit or miss
        counted (INFO keyspace_hits counts reads only)."""
        v = self.data.get(key)
        if v is None:
            return None
        if self.expires:
            exp = self.expires.get(key)
            if exp is not None and exp <= self.ks.clock() and not self.ks.loading:
                self.expire_now(key)
                return None
        if self.ks.tracker is not None:
            self.ks.tracker.touch(self, key)
        return v

    def get_typed(self, key: bytes, t: type) -> Any:
        v = self.get(key)
        if v is not None and type(v) is not t:
            raise WrongType()
        return v

    def get_typed_for_write(self, key: bytes, t: type) -> Any:
        v = self.get_for_write(key)
        if v is not None and type(v) is not t:
            raise WrongType()
        return v

    def peek(self, key: bytes) -> Any:
        """The live value without touching stats or LRU (DEL, RENAME, SCAN filters)."""
        v = self.data.get(key)
        if v is not None and self.expires:
            exp = self.expires.get(key)
            if exp is not None and exp <= self.ks.clock() and not self.ks.loading:
                self.expire_now(key)
                return None
        return v

    def peek_counted(self, key: bytes) -> Any:
        """``peek`` counting a hit or a miss: Redis's lookupKeyReadWithFlags(LOOKUP_NOTOUCH),
        what EXISTS, TYPE, TTL, EXPIRETIME and OBJECT read keys with."""
        v = self.peek(key)
        if v is None:
            self.ks.misses += 1
        else:
            self.ks.hits += 1
        return v

    def ttl_ms(self, key: bytes) -> int | None:
        """Milliseconds left, or None without a TTL (call after peek/get)."""
        exp = self.expires.get(key)
        return None if exp is None else max(exp - self.ks.clock(), 0)

    # -- writing ----------------------------------------------------------------
    def size_of(self, key: bytes) -> int:
        """The memory estimate of ``key``, which is in ``data``."""
        v = self.data[key]
        return KEY_OVERHEAD + len(key) + len(v) if type(v) is bytes else self.sizes[key]

    def put(self, key: bytes, value: Any, size: int, keep_ttl: bool = False) -> None:
        """Create or replace ``key`` (dropping its TTL unless ``keep_ttl``); ``size`` is
        its estimate (for a string ``string_size``, which is not stored)."""
        data = self.data
        old = data.get(key)
        ks = self.ks
        tracker = ks.tracker
        if old is None:
            self.keylog.add(key)
            freed = 0
            if tracker is not None:
                tracker.created(self, key)
        else:
            if type(old) is bytes:
                freed = KEY_OVERHEAD + len(key) + len(old)
            else:
                freed = self.sizes.pop(key)
            if not keep_ttl and self.expires and key in self.expires:
                self.persist(key)
            if tracker is not None:
                tracker.touch(self, key)
        if type(value) is not bytes:
            self.sizes[key] = size
        ks.used += size - freed
        ks.dirty += 1
        data[key] = value
        if self.watchers:
            self.touched(key)
        blocking = ks.blocking
        if blocking is not None and blocking.waiters:
            blocking.changed(self.index, key)

    def put_new(self, key: bytes, value: Any) -> None:
        """Create an aggregate (list, hash, set) for a key known to be missing."""
        self.put(key, value, KEY_OVERHEAD + len(key))

    def grow(self, key: bytes, delta: int) -> None:
        """Account ``delta`` bytes more (or less) for an aggregate changed in place."""
        self.sizes[key] += delta
        self.ks.used += delta
        self.ks.dirty += 1
        if self.watchers:
            self.touched(key)

    def delete(self, key: bytes) -> bool:
        v = self.data.pop(key, None)
        if v is None:
            return False
        self.keylog.remove(key)
        self.ks.used -= (
            KEY_OVERHEAD + len(key) + len(v) if type(v) is bytes else self.sizes.pop(key)
        )
        self.ks.dirty += 1
        if self.expires and key in self.expires:
            del self.expires[key]
            self.volatile.remove(key)
        self.meta.pop(key, None)
        if self.sticky:
            self.sticky.pop(key, None)
        if self.watchers:
            self.touched(key)
        blocking = self.ks.blocking
        if blocking is not None and blocking.waiters:
            blocking.changed(self.index, key)
        return True

    def delete_if_empty(self, key: bytes, value: Any) -> None:
        """Redis never keeps an empty aggregate: the key goes with its last element."""
        if not value:
            self.delete(key)

    def expire_now(self, key: bytes) -> None:
        ks = self.ks
        if ks.expire_paused:
            return  # logically expired: the caller answers as if the key were gone
        self.delete(key)
        ks.expired_keys += 1
        if ks.on_expire is not None:
            ks.on_expire(self, key)

    def set_expiry(self, key: bytes, at_ms: int) -> None:
        if key not in self.expires:
            self.volatile.add(key)
        self.expires[key] = at_ms
        if self.watchers:
            self.touched(key)

    def persist(self, key: bytes) -> bool:
        if self.expires.pop(key, None) is None:
            return False
        self.volatile.remove(key)
        if self.watchers:
            self.touched(key)
        return True

    def touched(self, key: bytes) -> None:
        """A write to ``key``: every client WATCHing it will see its EXEC fail."""
        for client in self.watchers.get(key, ()):
            client.watch_dirty = True

    def rename(self, src: bytes, dst: bytes) -> None:
        value, exp = self.data[src], self.expires.get(src)
        size = self.size_of(src)
        self.delete(src)
        self.delete(dst)
        self.put(dst, value, size - len(src) + len(dst))
        if exp is not None:
            self.set_expiry(dst, exp)

    def flush(self) -> None:
        for key in list(self.watchers):
            if key in self.data:
                self.touched(key)
        self.ks.used -= sum(self.sizes.values()) + sum(
            KEY_OVERHEAD + len(k) + len(v) for k, v in self.data.items() if type(v) is bytes
        )
        for d in (self.data, self.expires, self.sizes, self.meta, self.sticky):
            d.clear()
        self.keylog.clear()
        self.volatile.clear()
        blocking = self.ks.blocking
        if blocking is not None and blocking.waiters:
            blocking.changed(self.index, None)

    def live_keys(self) -> Iterator[bytes]:
        """Every key not yet expired (KEYS); expired ones are removed on the way."""
        now = self.ks.clock()
        for k in list(self.data):
            exp = self.expires.get(k)
            if exp is not None and exp <= now:
                self.expire_now(k)
            else:
                yield k

    # -- active expiry ------------------------------------------------------------
    def expire_sample(self) -> tuple[int, int]:
        """One round: sample keys with a TTL, delete the expired. Returns (sampled, expired)."""
        sample = self.volatile.sample(EXPIRE_SAMPLE, self.ks.rng)
        now, expired = self.ks.clock(), 0
        for k in sample:
            if self.expires[k] <= now:
                self.expire_now(k)
                expired += 1
        return len(sample), expired


class Keyspace:
    """The databases, the clock, the counters INFO reports, and the eviction hook."""

    def __init__(
        self,
        databases: int = DEFAULT_DATABASES,
        clock: Callable[[], int] = wall_clock_ms,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.rng = rng or random.Random()
        self.used = 0
        self.hits = self.misses = 0
        self.expired_keys = self.evicted_keys = 0
        # Changes since start (Redis's server.dirty, INFO rdb_changes_since_last_save):
        # one per key written, aggregate changed in place, or key deleted.
        self.dirty = 0
        # While CLIENT PAUSE lasts nothing expires (Redis 7.0): a key past its TTL reads as
        # gone but stays, and is deleted (expired_keys counted) at its first lookup after.
        self.expire_paused = False
        # While the AOF or a snapshot is replayed nothing expires, as Redis's keyIsExpired
        # and checkAlreadyExpired answer while loading: the log holds what the keys went
        # through while they lived (SET k v PX 50, INCR k, then after its expiry LPUSH k),
        # and replayed later every TTL would be past at once (INCR would make a new key
        # without one, and the LPUSH would meet it: WRONGTYPE, a log that cannot load).
        # Keys past their time expire once loaded (lazily, or by the cron).
        self.loading = False
        # Told of every key that expires (lazily or by the cron): the AOF logs its DEL
        # there, as Redis propagates an expiry, so a replay never needs the clock.
        self.on_expire: Callable[[Database, bytes], None] | None = None
        self.tracker: Any = None  # set by eviction.Evictor when the policy needs LRU/LFU data
        # Set by blocking.Blocking: told when a key clients block on is created,
        # replaced or deleted (a blocked XREADGROUP must learn its stream is gone).
        self.blocking: Any = None
        self.dbs = [Database(self, i) for i in range(databases)]

    def flushall(self) -> None:
        for db in self.dbs:
            db.flush()

    def active_expire(self, budget_s: float) -> int:
        """Redis's activeExpireCycle: per database, sample and repeat while >25% expired."""
        deadline = time.perf_counter() + budget_s
        total = 0
        for db in self.dbs:
            while db.volatile:
                sampled, expired = db.expire_sample()
                total += expired
                if expired <= sampled * EXPIRE_REPEAT_ABOVE or time.perf_counter() > deadline:
                    break
            if time.perf_counter() > deadline:
                break
        return total
