"""Instances and their state machine, and the waiters of long polls.

An instance is ``pending`` when created and moves to ``running`` (or ``failed``)
after its delay, by a timer on the event loop (``call_later``); ``terminate``
moves it to ``terminated`` at once. Every change bumps ``version`` and wakes the
futures of the long polls waiting on that instance. A waiter is a future in a
per-instance set, removed in a ``finally`` whatever ends the wait (a change,
the timeout, the client leaving): thousands of clients leaving at once leave
nothing behind. No task per waiter beyond the request's own.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STATES = ("pending", "running", "failed", "terminated")
MAX_INSTANCES = 100_000  # a bound on memory: creating more is refused (429)


class FleetFull(Exception):
    pass


@dataclass
class Instance:
    id: str
    name: str
    state: str = "pending"
    version: int = 1
    created_at: float = field(default_factory=time.time)
    changed_at: float = field(default_factory=time.time)
    waiters: set[asyncio.Future[None]] = field(default_factory=set)
    timer: asyncio.TimerHandle | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": self.state, "version": self.version,
                "created_at": self.created_at, "changed_at": self.changed_at}  # fmt: skip


class Fleet:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.instances: dict[str, Instance] = {}
        self.clock = clock

    @property
    def waiting(self) -> int:
        return sum(len(i.waiters) for i in self.instances.values())

    def create(self, name: str, delay: float, outcome: str) -> Instance:
        if len(self.instances) >= MAX_INSTANCES:
            raise FleetFull(f"at most {MAX_INSTANCES} instances")
        now = self.clock()
        inst = Instance(f"i-{secrets.token_hex(8)}", name, created_at=now, changed_at=now)
        self.instances[inst.id] = inst
        inst.timer = asyncio.get_running_loop().call_later(delay, self._change, inst, outcome)
        return inst

    def terminate(self, inst: Instance) -> None:
        if inst.timer is not None:
            inst.timer.cancel()
        self._change(inst, "terminated")

    def _change(self, inst: Instance, state: str) -> None:
        inst.timer = None
        if inst.state == state:
            return
        inst.state, inst.version, inst.changed_at = state, inst.version + 1, self.clock()
        for w in inst.waiters:
            if not w.done():
                w.set_result(None)

    async def wait_change(self, inst: Instance, known: str, timeout: float) -> bool:
        """Wait until ``inst``'s state is not ``known`` (True) or ``timeout`` passes (False)."""
        if inst.state != known:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        inst.waiters.add(fut)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            inst.waiters.discard(fut)

    def close(self) -> None:
        for inst in self.instances.values():
            if inst.timer is not None:
                inst.timer.cancel()
