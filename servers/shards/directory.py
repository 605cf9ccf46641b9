"""The shard map: user id -> slot -> shard, kept in a ``directory`` database.

Tables (in the directory database)::

    slots(slot PK, lo, hi, shard, state, version)   -- lo/hi only in range mode
    meta(k PK, v)                                  -- mode, slot count, range width
    sequences(name PK, next)                       -- global ids for users and posts

The router keeps the map in memory; ``version`` is bumped on every change so
several API processes could notice a stale map (here one process does the moves,
so its own copy is always current). Ids come from ``sequences`` with
``LAST_INSERT_ID(next + 1)``: one atomic round trip, no lock held after it, and
unique across shards -- per-shard auto-increment would hand out the same id on
two shards, and a moved user would collide with a native one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.hashring import hash64

MODES = ("range", "hash")
STABLE, MIGRATING = "stable", "migrating"

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS slots (
        slot INT PRIMARY KEY, lo BIGINT NULL, hi BIGINT NULL, shard VARCHAR(32) NOT NULL,
        state VARCHAR(16) NOT NULL, version INT NOT NULL
    ) ENGINE=InnoDB""",
    "CREATE TABLE IF NOT EXISTS meta (k VARCHAR(32) PRIMARY KEY, v VARCHAR(64) NOT NULL) ENGINE=InnoDB",
    """CREATE TABLE IF NOT EXISTS sequences (
        name VARCHAR(32) PRIMARY KEY, next BIGINT NOT NULL
    ) ENGINE=InnoDB""",
]


@dataclass
class Slot:
    slot: int
    lo: int | None
    hi: int | None  # None: open at the top (the last range slot), or hash mode
    shard: str
    state: str
    version: int


class ShardMap:
    """The in-memory copy of the directory, and the routing function."""

    def __init__(self, mode: str, width: int, slots: list[Slot]):
        if mode not in MODES:
            raise ValueError(f"mode is one of {MODES}, not {mode!r}")
        self.mode = mode
        self.width = width
        self.slots = sorted(slots, key=lambda s: s.slot)

    def slot_of(self, user_id: int) -> int:
        if self.mode == "hash":
            return hash64(str(user_id)) % len(self.slots)
        return min(user_id // self.width, len(self.slots) - 1)

    def shard_of(self, user_id: int) -> str:
        return self.slots[self.slot_of(user_id)].shard

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "width": self.width if self.mode == "range" else None,
                "slots": [s.__dict__ for s in self.slots]}  # fmt: skip


def initial_slots(mode: str, count: int, width: int, shards: list[str]) -> list[Slot]:
    """Contiguous blocks of slots per shard: slots 0..k-1 on the first shard, and so on."""
    out = []
    for i in range(count):
        lo, hi = (i * width, None if i == count - 1 else (i + 1) * width) if mode == "range" else (None, None)
        out.append(Slot(i, lo, hi, shards[i * len(shards) // count], STABLE, 1))
    return out


async def create(conn: Any, mode: str, count: int, width: int, shards: list[str]) -> ShardMap:
    """Create the directory tables and the initial map (only when there is none yet)."""
    for sql in SCHEMA:
        await conn.query(sql)
    if (await conn.query("SELECT COUNT(*) FROM slots")).scalar() == 0:
        slots = initial_slots(mode, count, width, shards)
        await conn.insert_many("INSERT INTO slots (slot, lo, hi, shard, state, version) VALUES",
                               [(s.slot, s.lo, s.hi, s.shard, s.state, s.version) for s in slots])  # fmt: skip
        await conn.insert_many("INSERT INTO meta (k, v) VALUES",
                               [("mode", mode), ("width", str(width))])  # fmt: skip
        await conn.insert_many("INSERT INTO sequences (name, next) VALUES", [("users", 0), ("posts", 0)])
    return await load(conn)


async def load(conn: Any) -> ShardMap:
    meta = dict((await conn.query("SELECT k, v FROM meta")).rows)
    rows = (await conn.query("SELECT slot, lo, hi, shard, state, version FROM slots")).rows
    return ShardMap(meta["mode"], int(meta["width"]), [Slot(*r) for r in rows])


async def set_slot(conn: Any, slot: Slot, shard: str, state: str) -> None:
    """Record a slot's new home or state (bumping its version) and update ``slot`` in place."""
    slot.version += 1
    await conn.query("UPDATE slots SET shard = %s, state = %s, version = %s WHERE slot = %s",
                     (shard, state, slot.version, slot.slot))  # fmt: skip
    slot.shard, slot.state = shard, state


async def next_id(conn: Any, sequence: str) -> int:
    """A global id: one atomic increment, read back through LAST_INSERT_ID()."""
    r = await conn.query("UPDATE sequences SET next = LAST_INSERT_ID(next + 1) WHERE name = %s",
                         (sequence,))  # fmt: skip
    return int(r.insert_id)
