"""Flickr's ticket servers: two MariaDB instances, one hands out odd ids, one even.

As Flickr described it (code.flickr.net, "Ticket Servers", 2010): each server
runs with ``auto_increment_increment = 2`` and its own
``auto_increment_offset`` (1 and 2), and has one table::

    CREATE TABLE tickets64 (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                            stub CHAR(1) NOT NULL UNIQUE)

``REPLACE INTO tickets64 (stub) VALUES ('a')`` deletes the one row and inserts
a new one, so the table never grows, and the new id comes back in the OK
packet (``LAST_INSERT_ID()``). The two servers' sequences never meet (odd vs
even), so a client may ask either: round-robin spreads the load, and when one
is down the other keeps handing out ids (the fail-over that is the point of
having two). What it gives up: ids are not ordered across the servers (one
may run far ahead of the other), and each id is a round trip.

``TicketServers`` checks each server's increment and offset on connect: two
servers left at the defaults (1, 1) would hand out the same ids.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from clients.mysql import Connection, DeadlockError, LockWaitTimeoutError, MySQLError

log = logging.getLogger(__name__)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tickets64 ("
    " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " stub CHAR(1) NOT NULL UNIQUE) ENGINE=InnoDB"
)
NEXT = "REPLACE INTO tickets64 (stub) VALUES ('a')"


def server_args(index: int, count: int = 2) -> list[str]:
    """mariadbd flags for ticket server ``index`` (0-based) of ``count``."""
    return [f"--auto-increment-increment={count}", f"--auto-increment-offset={index + 1}"]


class MisconfiguredTicketServer(RuntimeError):
    """A server's auto_increment settings would let it hand out another's ids."""


class TicketServers:
    """One connection per ticket server (so one ``TicketServers`` per thread)."""

    def __init__(
        self,
        addresses: Sequence[Any],
        connect: Callable[[Any], Connection] = Connection.from_address,
    ) -> None:
        self.addresses = list(addresses)
        self._connect = connect
        self.conns: list[Connection | None] = [None] * len(self.addresses)
        self._turn = itertools.cycle(range(len(self.addresses)))
        self._lock = threading.Lock()
        self.failovers = 0
        self.retries = 0  # deadlocks retried on the same server

    @classmethod
    def install(cls, addresses: Sequence[Any]) -> None:
        """Create the table on every server and check their settings fit together."""
        seen: set[int] = set()
        for addr in addresses:
            with Connection.from_address(addr) as conn:
                conn.query(SCHEMA)
                inc, off = conn.query(
                    "SELECT @@auto_increment_increment, @@auto_increment_offset"
                ).rows[0]
                if inc != len(addresses) or off in seen:
                    raise MisconfiguredTicketServer(
                        f"{addr}: increment {inc}, offset {off}: each of {len(addresses)} servers "
                        f"needs increment {len(addresses)} and its own offset"
                    )
                seen.add(off)

    def _conn(self, i: int) -> Connection:
        c = self.conns[i]
        if c is None or not c.usable:
            c = self.conns[i] = self._connect(self.addresses[i])
            # The session's settings come from the server's globals; a session that
            # changed them would break the odd/even split, so they are read back.
        return c

    def next_id(self) -> int:
        """The next ticket from the next server in turn; a failing server is skipped."""
        with self._lock:
            last: Exception | None = None
            for _ in range(len(self.addresses)):
                i = next(self._turn)
                try:
                    return self._ticket(i)
                except (MySQLError, OSError) as e:
                    log.warning(
                        "ticket server %s failed (%s); trying the next", self.addresses[i], e
                    )
                    self.failovers += 1
                    self.conns[i] = None
                    last = e
            raise ConnectionError(f"no ticket server answered: {last}")

    def _ticket(self, i: int, attempts: int = 20) -> int:
        """One REPLACE on server ``i``. Concurrent REPLACEs on the one row can
        deadlock inside InnoDB; that is the server asking for a retry, not a
        server down, so it is retried here (with a jittered backoff, up to ``attempts``) rather than failed over (failing over
        would skew the odd/even split towards whichever server deadlocked less)."""
        for attempt in range(attempts):
            try:
                return int(self._conn(i).query(NEXT).insert_id)
            except (DeadlockError, LockWaitTimeoutError):
                if attempt == attempts - 1:
                    raise
                self.retries += 1
                time.sleep(random.random() * min(0.05, 0.001 * 2**attempt))  # jittered backoff
        raise AssertionError("unreachable")

    def close(self) -> None:
        for c in self.conns:
            if c is not None:
                c.close()
        self.conns = [None] * len(self.addresses)
