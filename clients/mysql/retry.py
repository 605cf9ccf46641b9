"""Retrying a whole transaction after a deadlock or a lock wait timeout.

Why whole transactions only: when InnoDB picks a deadlock victim (error 1213)
it rolls back the victim's *entire* transaction, not the statement. Retrying
just the failed statement would run it in a fresh implicit transaction,
with the earlier statements' effects gone: a transfer that debited nobody and
credited someone. So the unit of retry is a function that runs the whole
transaction from BEGIN; ``run_transaction`` calls it inside
``conn.transaction()`` and, on 1213 or 1205, rolls back (if the server has
not already), waits, and calls it again from the start. It refuses to start
inside a transaction the caller opened, because that one could not be retried.

Which errors: 1213 (ER_LOCK_DEADLOCK) and 1205 (ER_LOCK_WAIT_TIMEOUT, which
also answers ``FOR UPDATE NOWAIT``). Nothing else: a duplicate key or a syntax
error will fail the same way every time.

Waiting: exponential backoff with "full jitter" (sleep uniform(0, min(cap,
base * 2**attempt))), the scheme AWS's architecture blog measured as finishing
contended work fastest: the two victims of a deadlock must not retry in
lockstep and collide again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import DeadlockError, InterfaceError, LockWaitTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRYABLE = (DeadlockError, LockWaitTimeoutError)


@dataclass
class RetryPolicy:
    """How often and how long to wait before running a transaction again."""

    attempts: int = 8  # calls in all, the first included
    base: float = 0.005  # seconds: the first backoff's ceiling
    cap: float = 0.5  # seconds: no single wait is longer
    rng: random.Random | None = None  # injected in tests for a fixed sequence

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base < 0 or self.cap < 0:
            raise ValueError(f"need attempts >= 1 and non-negative waits (got {self})")

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return (self.rng or random).uniform(0, min(self.cap, self.base * 2**attempt))


@dataclass
class RetryStats:
    """What retrying cost: counted per call site so a lab can report it."""

    transactions: int = 0
    retries: int = 0
    deadlocks: int = 0
    lock_timeouts: int = 0
    gave_up: int = 0

    def count(self, exc: BaseException) -> None:
        if isinstance(exc, DeadlockError):
            self.deadlocks += 1
        else:
            self.lock_timeouts += 1


def _refuse_open_transaction(conn: Any) -> None:
    if conn.in_transaction:
        raise InterfaceError(
            "run_transaction needs to own the whole transaction: "
            "it was called inside one the caller opened, which could not be retried"
        )


def run_transaction(
    conn: Any,
    body: Callable[[Any], T],
    policy: RetryPolicy | None = None,
    stats: RetryStats | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``body(conn)`` inside BEGIN..COMMIT; rerun it whole on 1213/1205."""
    policy = policy or RetryPolicy()
    _refuse_open_transaction(conn)
    for attempt in range(policy.attempts):
        try:
            with conn.transaction():
                result = body(conn)
            if stats:
                stats.transactions += 1
            return result
        except RETRYABLE as exc:
            _note(exc, attempt, policy, stats)
            sleep(policy.delay(attempt))
    raise AssertionError("unreachable: the last attempt re-raises")


async def run_transaction_async(
    conn: Any,
    body: Callable[[Any], Awaitable[T]],
    policy: RetryPolicy | None = None,
    stats: RetryStats | None = None,
) -> T:
    """The same for ``AsyncConnection``: ``await body(conn)``, rerun whole on 1213/1205."""
    policy = policy or RetryPolicy()
    _refuse_open_transaction(conn)
    for attempt in range(policy.attempts):
        try:
            async with conn.transaction():
                result = await body(conn)
            if stats:
                stats.transactions += 1
            return result
        except RETRYABLE as exc:
            _note(exc, attempt, policy, stats)
            await asyncio.sleep(policy.delay(attempt))
    raise AssertionError("unreachable: the last attempt re-raises")


def _note(exc: BaseException, attempt: int, policy: RetryPolicy, stats: RetryStats | None) -> None:
    """Count the failure; re-raise it when this was the last attempt."""
    if stats:
        stats.count(exc)
    if attempt + 1 >= policy.attempts:
        if stats:
            stats.gave_up += 1
        raise exc
    if stats:
        stats.retries += 1
    log.debug("transaction attempt %d failed (%s); retrying", attempt + 1, exc)
