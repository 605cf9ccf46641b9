"""maxmemory and eviction with Redis's sampled approximation.

Strategy. Redis does not keep a global LRU list (it would cost two pointers per
key and a write per read); it samples ``maxmemory-samples`` keys per database,
keeps the best candidates in a small *eviction pool* across rounds
(EVPOOL_SIZE 16), and evicts the best one. We do the same, sampling through
each database's ``KeyLog`` (all keys) or ``volatile`` log (keys with a TTL).

Per-key metadata lives in ``Database.meta`` and is only maintained while the
policy needs it (``Keyspace.tracker`` is None otherwise, so GET/SET pay nothing
under the default noeviction):

* LRU: the last access time in ms of the keyspace clock;
* LFU: Redis's 8-bit logarithmic counter with decay, packed with the minute it
  was last decremented (``minutes << 8 | counter``), using Redis's formulas and
  defaults (LFU_INIT_VAL 5, lfu-log-factor 10, lfu-decay-time 1 minute).

A key switching into tracking without metadata counts as idle since forever
(LRU) or at LFU_INIT_VAL: a simplification Redis does not need since it always
stores the 24 bits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .keyspace import Database, Keyspace

POLICIES = (
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-lfu",
    "volatile-lfu",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
)
DEFAULT_SAMPLES = 5  # Redis's maxmemory-samples default
EVPOOL_SIZE = 16  # Redis's eviction pool size
LFU_INIT_VAL = 5  # new keys start here so they are not evicted at once
LFU_MAX = 255  # an 8-bit counter, like Redis's
OOM_ERROR = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"


class LruTracker:
    def __init__(self, ks: Keyspace) -> None:
        self.ks = ks

    def touch(self, db: Database, key: bytes) -> None:
        db.meta[key] = self.ks.clock()

    created = touch

    def score(self, db: Database, key: bytes, now: int) -> float:
        """Higher = better to evict: the idle time."""
        return now - db.meta.get(key, 0)


class LfuTracker:
    def __init__(self, ks: Keyspace, log_factor: int = 10, decay_minutes: int = 1) -> None:
        self.ks = ks
        self.log_factor = log_factor
        self.decay_minutes = decay_minutes

    def _decayed(self, packed: int | None, minutes: int) -> int:
        if packed is None:
            return LFU_INIT_VAL
        counter, last = packed & 0xFF, packed >> 8
        if self.decay_minutes <= 0:
            return counter
        periods = (minutes - last) // self.decay_minutes
        return max(counter - periods, 0)

    def created(self, db: Database, key: bytes) -> None:
        """A new key starts at LFU_INIT_VAL, not incremented (Redis's createObject)."""
        db.meta[key] = (self.ks.clock() // 60_000) << 8 | LFU_INIT_VAL

    def touch(self, db: Database, key: bytes) -> None:
        minutes = self.ks.clock() // 60_000
        counter = self._decayed(db.meta.get(key), minutes)
        if counter < LFU_MAX:
            base = max(counter - LFU_INIT_VAL, 0)
            if self.ks.rng.random() < 1.0 / (base * self.log_factor + 1):
                counter += 1
        db.meta[key] = minutes << 8 | counter

    def frequency(self, db: Database, key: bytes) -> int:
        return self._decayed(db.meta.get(key), self.ks.clock() // 60_000)

    def score(self, db: Database, key: bytes, now: int) -> float:
        return LFU_MAX - self.frequency(db, key)


class Evictor:
    """Frees memory down to maxmemory by the configured policy."""

    def __init__(self, ks: Keyspace) -> None:
        self.ks = ks
        self.maxmemory = 0
        self.policy = "noeviction"
        self.samples = DEFAULT_SAMPLES
        self.pool: list[tuple[float, int, bytes]] = []
        # What maxmemory is compared with: the dataset plus the server's own overhead
        # (memory.Memory.for_eviction, set by the State); the dataset alone until then.
        self.measure: Callable[[], int] = lambda: ks.used
        # Told when maxmemory changes (the state's ``policy_changed``: writes may be refused).
        self.changed: Callable[[], None] = lambda: None

    def configure(self, maxmemory: int | None = None, policy: str | None = None) -> None:
        if maxmemory is not None:
            self.maxmemory = maxmemory
            self.changed()
        if policy is not None:
            if policy not in POLICIES:
                raise ValueError(policy)
            self.policy = policy
            self.pool = []
        tracker: Any = None
        if self.policy.endswith("-lru"):
            tracker = LruTracker(self.ks)
        elif self.policy.endswith("-lfu"):
            tracker = LfuTracker(self.ks)
        if type(tracker) is not type(self.ks.tracker):
            self.ks.tracker = tracker
            for db in self.ks.dbs:
                db.meta.clear()

    # Told of each evicted key (the AOF logs a DEL: a restart must not bring it back).
    on_evict: Callable[[Database, bytes], None] | None = None

    def over(self) -> bool:
        return bool(self.maxmemory) and self.measure() > self.maxmemory

    def make_room(self) -> bool:
        """Evict until under maxmemory; False when nothing (more) can be evicted: answer -OOM.
        The overhead stays while keys go, so a limit below it empties what the policy may
        evict and still refuses, as Redis does; a limit above it keeps what fits."""
        while self.measure() > self.maxmemory:
            victim = self._pick()
            if victim is None:
                return False
            db, key = victim
            db.delete(key)
            self.ks.dirty -= 1  # an eviction is no change to save (Redis's performEvictions)
            self.ks.evicted_keys += 1
            if self.on_evict is not None:
                self.on_evict(db, key)
        return True

    def _pick(self) -> tuple[Database, bytes] | None:
        if self.policy == "noeviction":
            return None
        volatile = self.policy.startswith("volatile-")
        if self.policy.endswith("-random"):
            return self._random(volatile)
        self._fill_pool(volatile)
        while self.pool:
            _, index, key = self.pool.pop()
            db = self.ks.dbs[index]
            if key in db.data and (not volatile or key in db.expires):
                return db, key
        return None

    def _random(self, volatile: bool) -> tuple[Database, bytes] | None:
        for db in self.ks.rng.sample(self.ks.dbs, len(self.ks.dbs)):
            log = db.volatile if volatile else db.keylog
            if log:
                return db, log.sample(1, self.ks.rng)[0]
        return None

    def _fill_pool(self, volatile: bool) -> None:
        """Sample each database and keep the EVPOOL_SIZE best candidates (best last)."""
        now = self.ks.clock()
        tracker = self.ks.tracker
        seen = {(i, k) for _, i, k in self.pool}
        for db in self.ks.dbs:
            log = db.volatile if volatile else db.keylog
            if not log:
                continue
            for key in log.sample(self.samples, self.ks.rng):
                if (db.index, key) in seen:
                    continue
                if self.policy == "volatile-ttl":
                    score = float(-db.expires[key])  # soonest expiry is best
                else:
                    score = tracker.score(db, key, now)
                self.pool.append((score, db.index, key))
        self.pool.sort(key=lambda e: e[0])
        del self.pool[:-EVPOOL_SIZE]
