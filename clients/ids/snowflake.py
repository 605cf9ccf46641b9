"""Snowflake ids in the API: time, worker, sequence in one 64-bit integer.

Layout of an id (most significant first), as Twitter published it in 2010::

    0 | 41 bits: ms since EPOCH_MS | 10 bits: worker | 12 bits: sequence

Ids from one worker strictly increase; ids from many workers are *k-sorted*:
sorted by their millisecond, with no order promised inside one millisecond
across workers (the worker bits decide there). Nothing is coordinated at run
time; uniqueness rests on two promises: no two live generators share a worker
id, and a worker never reuses a (millisecond, sequence) pair.

The second promise is where the clock matters:

* more than 4096 ids in one millisecond: the sequence would wrap, so the
  generator waits (polling the clock) for the next millisecond;
* the clock going backwards (an NTP step, a VM migration): if by at most
  ``max_backwards_ms`` the generator waits until the clock is past its last
  millisecond again; a bigger jump raises ``ClockMovedBackwards`` rather than
  stall callers for seconds or (worse) reissue ids. Production Snowflake did the
  same: refuse and alert.

The clock and the sleep are injected (``clock()`` returns ms since the Unix
epoch) so tests drive both edge cases without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

# Twitter's epoch (2010-11-04T01:42:54.657Z): 41 bits of ms last until 2080.
EPOCH_MS = 1288834974657
TIMESTAMP_BITS = 41
WORKER_BITS = 10  # 1024 workers: Twitter's 5 datacenter + 5 machine bits
SEQUENCE_BITS = 12  # 4096 ids per millisecond per worker
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
WORKER_SHIFT = SEQUENCE_BITS
TIME_SHIFT = SEQUENCE_BITS + WORKER_BITS
# Backward steps up to this are waited out; NTP slews by well under this, a step
# of more is an operator's or a hypervisor's doing and should be seen.
MAX_BACKWARDS_MS = 10


class ClockMovedBackwards(RuntimeError):
    """The clock is further behind the last id's millisecond than we will wait for."""


class SnowflakeParts(NamedTuple):
    unix_ms: int
    worker: int
    sequence: int


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def compose(unix_ms: int, worker: int, sequence: int, epoch_ms: int = EPOCH_MS) -> int:
    return ((unix_ms - epoch_ms) << TIME_SHIFT) | (worker << WORKER_SHIFT) | sequence


def decode_snowflake(sid: int, epoch_ms: int = EPOCH_MS) -> SnowflakeParts:
    """(Unix ms, worker, sequence) of an id."""
    return SnowflakeParts(
        (sid >> TIME_SHIFT) + epoch_ms, (sid >> WORKER_SHIFT) & MAX_WORKER, sid & MAX_SEQUENCE
    )


class Snowflake:
    """A thread-safe generator for one worker id."""

    def __init__(
        self,
        worker: int,
        clock: Callable[[], int] = wall_ms,
        sleep: Callable[[float], None] = time.sleep,
        max_backwards_ms: int = MAX_BACKWARDS_MS,
        epoch_ms: int = EPOCH_MS,
    ) -> None:
        if not 0 <= worker <= MAX_WORKER:
            raise ValueError(f"worker must be 0..{MAX_WORKER}, got {worker}")
        self.worker = worker
        self._clock, self._sleep = clock, sleep
        self.max_backwards_ms = max_backwards_ms
        self.epoch_ms = epoch_ms
        self._last = -1
        self._seq = 0
        self._lock = threading.Lock()
        self.overflow_waits = 0  # times the sequence ran out inside one millisecond
        self.backward_waits = 0  # times a small backward step was waited out

    def next_id(self) -> int:
        with self._lock:
            now = self._clock()
            if now < self._last:
                now = self._recover_backwards(now)
            if now == self._last:
                self._seq = (self._seq + 1) & MAX_SEQUENCE
                if self._seq == 0:
                    self.overflow_waits += 1
                    now = self._wait_past(self._last)
            else:
                self._seq = 0
            self._last = now
            return compose(now, self.worker, self._seq, self.epoch_ms)

    def _recover_backwards(self, now: int) -> int:
        behind = self._last - now
        if behind > self.max_backwards_ms:
            raise ClockMovedBackwards(
                f"clock is {behind} ms behind the last id's time (limit {self.max_backwards_ms} ms)"
            )
        self.backward_waits += 1
        # Back at _last itself is fine: the sequence continues from where it was.
        return self._wait_past(self._last - 1)

    def _wait_past(self, ms: int) -> int:
        """Poll the clock until it reads more than ``ms``."""
        now = self._clock()
        while now <= ms:
            self._sleep(0.0001)
            now = self._clock()
        return now
