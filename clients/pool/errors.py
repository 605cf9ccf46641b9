"""The pool's errors: a small flat hierarchy callers can catch by meaning."""

from __future__ import annotations


class PoolError(Exception):
    """Root of the pool's own errors (misuse, closed, timed out)."""


class PoolTimeout(PoolError, TimeoutError):
    """No connection became free (and none could be created) within the timeout."""


class PoolClosed(PoolError):
    """The pool was closed: nothing more is handed out."""


class QueueFull(PoolError):
    """A bounded queue is at capacity and the put did not wait (or timed out)."""
