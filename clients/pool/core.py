"""What both pool flavours share: the settings, the per-connection record, the policy.

Strategy. The pool is a bounded blocking queue of *tokens*, exactly
``max_size`` of them. A token is either an idle connection (a ``Pooled``
record) or ``None``, an empty slot: the right to open one more connection.
Checking out takes a token (blocking when there is none: that is the bound);
an empty slot is turned into a connection by the caller that took it, outside
any lock; a connection found broken or too old is closed and its token becomes
an empty slot again. So ``max_size`` is never exceeded, nobody holds a lock
while connecting, and a waiter is woken as soon as *either* a connection comes
back *or* a slot frees up.

Health checks follow HikariCP's and SQLAlchemy's ``pool_pre_ping``: a
connection idle for longer than ``ping_after`` is pinged on checkout (one round
trip, paid only after idleness, when the server or a NAT may have dropped it);
an error during use that ``is_broken`` recognises discards it on release; and
``max_lifetime`` retires every connection eventually (so a server-side
``wait_timeout`` or a failover never meets a very old socket).
The clock is injectable so lifetime tests need no sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

C = TypeVar("C")

# Defaults, with where they come from.
DEFAULT_MAX_SIZE = 10  # HikariCP's maximumPoolSize default
DEFAULT_TIMEOUT = 30.0  # HikariCP's connectionTimeout: 30 s
DEFAULT_MAX_LIFETIME = 1800.0  # HikariCP's maxLifetime: 30 min, under MySQL's 8 h wait_timeout
DEFAULT_PING_AFTER = 30.0  # ping only connections idle longer than this (seconds)


def _transport_errors(exc: BaseException) -> bool:
    return isinstance(exc, (ConnectionError, OSError))


@dataclass(frozen=True)
class PoolConfig:
    """Every setting of a pool, with its default."""

    min_size: int = 0  # connections opened up front (replacements are opened lazily)
    max_size: int = DEFAULT_MAX_SIZE  # connections open at most, idle + in use
    timeout: float = DEFAULT_TIMEOUT  # seconds acquire() waits before PoolTimeout
    max_lifetime: float | None = DEFAULT_MAX_LIFETIME  # retire connections older than this
    ping_after: float | None = DEFAULT_PING_AFTER  # ping on checkout after this much idleness
    clock: Callable[[], float] = time.monotonic  # for lifetime and idleness, not for waiting

    def __post_init__(self) -> None:
        if not 0 <= self.min_size <= self.max_size or self.max_size < 1:
            raise ValueError(f"need 0 <= min_size <= max_size, max_size >= 1 (got {self})")


@dataclass(frozen=True)
class ConnectionOps(Generic[C]):
    """How a blocking pool makes, checks and closes one kind of connection."""

    connect: Callable[[], C]
    close: Callable[[C], None]
    ping: Callable[[C], object]  # raises when the connection is dead
    is_broken: Callable[[BaseException], bool] = _transport_errors
    reset: Callable[[C], object] | None = None  # after a failed use (e.g. ROLLBACK)
    usable: Callable[[C], bool] | None = None  # local check on release, no round trip


@dataclass(frozen=True)
class AsyncConnectionOps(Generic[C]):
    """The asyncio flavour: connect, ping and close are coroutines."""

    connect: Callable[[], Awaitable[C]]
    close: Callable[[C], Awaitable[object]]
    ping: Callable[[C], Awaitable[object]]
    is_broken: Callable[[BaseException], bool] = _transport_errors
    reset: Callable[[C], Awaitable[object]] | None = None
    usable: Callable[[C], bool] | None = None


@dataclass(eq=False)
class Pooled(Generic[C]):
    """One open connection and the two times the policy looks at."""

    conn: C
    created: float
    last_used: float


@dataclass
class PoolStats:
    """Counters a test or a benchmark reads (a snapshot, not live)."""

    size: int = 0  # open connections (idle + in use)
    idle: int = 0
    in_use: int = 0
    waiting: int = 0
    opened: int = 0  # connections ever opened
    closed: int = 0
    broken: int = 0  # discarded because a ping or a use failed
    expired: int = 0  # retired by max_lifetime
    timeouts: int = 0  # acquire() calls that gave up

    def with_queue(self, tokens: list[Any], waiting: int) -> PoolStats:
        """Fill in the derived figures from the token queue's contents."""
        self.idle = sum(1 for t in tokens if t is not None)
        self.size = self.opened - self.closed
        self.waiting = waiting
        return self

    def count_discard(self, why: str) -> None:
        """One connection closed: why is "broken", "expired" or "closed"."""
        self.closed += 1
        if why == "broken":
            self.broken += 1
        elif why == "expired":
            self.expired += 1


def expired(p: Pooled[Any], cfg: PoolConfig, now: float) -> bool:
    return cfg.max_lifetime is not None and now - p.created >= cfg.max_lifetime


def needs_ping(p: Pooled[Any], cfg: PoolConfig, now: float, suspect_before: float) -> bool:
    """Idle past ``ping_after``, or idle since some connection was found broken.

    The second rule is SQLAlchemy's pool invalidation: a server restart or a
    failover breaks every idle connection at once, and without it each one
    would be handed out once more and fail its caller's query. One ping each
    (only for those idle since then) finds them instead.
    """
    if p.last_used <= suspect_before:
        return True
    return cfg.ping_after is not None and now - p.last_used >= cfg.ping_after


def retire_reason(
    p: Pooled[Any], cfg: PoolConfig, usable: Callable[[Any], bool] | None, broken: bool, now: float
) -> str | None:
    """Why a returned connection must be closed rather than reused, or None."""
    if broken or (usable is not None and not usable(p.conn)):
        return "broken"
    if expired(p, cfg, now):
        return "expired"
    return None
