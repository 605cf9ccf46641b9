"""Moving one slot to another shard while the API keeps serving it.

The steps (the shape of Vitess's MoveTables and of every online resharding):

1. **mark**: the slot's state becomes ``migrating``; from now on every write to
   it also records the primary key it touched in the slot's *dirty set*.
2. **copy**: every row of the slot, in primary-key batches, from the old shard
   to the new one (``REPLACE``, so a row copied twice is harmless). Writes keep
   going to the old shard meanwhile.
3. **catch up**: copy again each row whose key is in the dirty set (or delete
   it on the new shard if it is gone), until few are left.
4. **freeze**: new writes to the slot wait (reads go on); writes in flight
   finish; the last dirty rows are copied.
5. **verify**: row count and a checksum of every row, per table, old vs new,
   computed by each server; on a mismatch the move is abandoned and the slot
   stays where it was (the copy on the new shard is deleted).
6. **switch**: the directory says the slot lives on the new shard; the waiting
   writes go there. Then the old copy is deleted in batches.

A write is held at most for steps 4-6 of one slot. The dirty set is exact here
because this process is the only writer of its shards; a system with several
writers reads the change stream instead (MySQL's binlog, as Vitess's VReplication
and gh-ost do), which this lab leaves out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from . import directory, store

log = logging.getLogger(__name__)

CATCH_UP_ROUNDS = 10  # copy passes over the dirty set before freezing anyway
FREEZE_BELOW = 50  # dirty keys small enough to copy while writes wait


class MoveError(Exception):
    """A move that cannot start or did not verify (the slot stays where it was)."""


@dataclass
class SlotGate:
    """Lets writes through a slot, or holds new ones while the slot is frozen."""

    active: int = 0
    frozen: bool = False
    dirty: set[tuple[str, int]] | None = None  # (table, pk) while migrating
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class Gates:
    """One gate per slot; ``async with gates.write(slot)`` around every write."""

    def __init__(self, slots: int):
        self.gates = [SlotGate() for _ in range(slots)]

    @asynccontextmanager
    async def write(self, slot: int) -> AsyncIterator[SlotGate]:
        gate = self.gates[slot]
        async with gate.changed:
            await gate.changed.wait_for(lambda: not gate.frozen)
            gate.active += 1
        try:
            yield gate
        finally:
            async with gate.changed:
                gate.active -= 1
                gate.changed.notify_all()

    @staticmethod
    def touched(gate: SlotGate, table: str, pk: int) -> None:
        if gate.dirty is not None:
            gate.dirty.add((table, pk))

    async def freeze(self, slot: int) -> None:
        gate = self.gates[slot]
        async with gate.changed:
            gate.frozen = True
            await gate.changed.wait_for(lambda: gate.active == 0)

    async def thaw(self, slot: int) -> None:
        gate = self.gates[slot]
        async with gate.changed:
            gate.frozen = False
            gate.dirty = None
            gate.changed.notify_all()


@dataclass
class MoveReport:
    slot: int
    source: str
    target: str
    copied: dict[str, int] = field(default_factory=dict)
    caught_up: int = 0
    frozen_ms: float = 0.0
    verified: dict[str, tuple[int, int]] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)


async def move(router: Any, slot_no: int, target: str) -> MoveReport:
    """Move ``slot_no`` to shard ``target`` while the API serves it (see the module doc)."""
    smap = router.map
    if not 0 <= slot_no < len(smap.slots):
        raise MoveError(f"no slot {slot_no}")
    slot = smap.slots[slot_no]
    if target not in router.pools:
        raise MoveError(f"no shard {target!r}")
    if slot.shard == target:
        raise MoveError(f"slot {slot_no} is already on {target}")
    if slot.state != directory.STABLE:
        raise MoveError(f"slot {slot_no} is already being moved")
    report = MoveReport(slot_no, slot.shard, target)
    gate = router.gates.gates[slot_no]
    gate.dirty = set()
    async with router.directory() as d:
        await directory.set_slot(d, slot, slot.shard, directory.MIGRATING)
    try:
        await _copy(router, report)
        await _catch_up(router, report, gate, until=FREEZE_BELOW)
        loop = asyncio.get_running_loop()
        await router.gates.freeze(slot_no)
        t0 = loop.time()
        try:
            await _catch_up(router, report, gate, until=0)
            await _verify(router, report)
            async with router.directory() as d:
                await directory.set_slot(d, slot, target, directory.STABLE)
        finally:
            report.frozen_ms = round((loop.time() - t0) * 1000, 1)
            await router.gates.thaw(slot_no)
    except BaseException:
        if slot.state == directory.MIGRATING:  # not switched: the slot stays, the copy goes
            async with router.directory() as d:
                await directory.set_slot(d, slot, report.source, directory.STABLE)
            await _delete(router, target, slot_no, {})
        raise
    await _delete(router, report.source, slot_no, report.deleted)
    log.info("moved slot %d %s -> %s: %s", slot_no, report.source, target, report)
    return report


async def _copy(router: Any, report: MoveReport) -> None:
    for table in store.TABLES:
        after, n = -1, 0
        while True:
            async with router.shard(report.source) as src:
                rows = await store.rows_after(src, table, report.slot, after)
            if not rows:
                break
            async with router.shard(report.target) as dst:
                await store.put_rows(dst, table, rows)
            after, n = rows[-1][0], n + len(rows)
        report.copied[table] = n


async def _catch_up(router: Any, report: MoveReport, gate: SlotGate, until: int) -> None:
    for _ in range(CATCH_UP_ROUNDS):
        assert gate.dirty is not None
        if len(gate.dirty) <= until:
            return
        batch, gate.dirty = gate.dirty, set()
        for table, pk in sorted(batch):
            async with router.shard(report.source) as src:
                current = await store.row(src, table, pk)
            async with router.shard(report.target) as dst:
                if current is None:
                    await store.delete_row(dst, table, pk)
                else:
                    await store.put_rows(dst, table, [current])
        report.caught_up += len(batch)
    if until == 0 and gate.dirty:
        raise MoveError("writes kept dirtying the slot while it was frozen")  # cannot happen: frozen


async def _verify(router: Any, report: MoveReport) -> None:
    for table in store.TABLES:
        async with router.shard(report.source) as src:
            old = await store.slot_checksum(src, table, report.slot)
        async with router.shard(report.target) as dst:
            new = await store.slot_checksum(dst, table, report.slot)
        if old != new:
            raise MoveError(f"slot {report.slot} {table}: source {old} != target {new}")
        report.verified[table] = new


async def _delete(router: Any, shard: str, slot: int, into: dict[str, int]) -> None:
    for table in store.TABLES:
        async with router.shard(shard) as conn:
            into[table] = await store.delete_slot(conn, table, slot)
