"""The two-phase-commit coordinator over MariaDB XA transactions, and its recovery.

A branch of a global transaction is named by the XA xid ``(gtrid, bqual)`` =
``(txid, participant name)``, so ``XA RECOVER`` on any participant says which
global transaction a prepared branch belongs to. Participants are prepared one
after the other (clear, and what a lab wants to watch; a production coordinator
sends the PREPAREs in parallel, since the slowest participant bounds latency).

``pause_at`` is the fault-injection hook: the crash tests and ``bench.twopc``
pass a function that is called at each named step (``after-prepare``,
``after-decision``, ``after-first-commit``) and SIGKILL the process there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clients.mysql import Connection, MySQLError
from clients.pool import Pool, PoolConfig, PoolError
from clients.pool.mysql import mysql_pool

from .decisions import ABORT, COMMIT, DecisionLog

log = logging.getLogger(__name__)

STEPS = ("after-prepare", "after-decision", "after-first-commit")
TXID_PREFIX = "order-"  # XA RECOVER lists every XA user's branches: ours start with this
# One piece of a global transaction on one participant: (connection, txid, results so far).
Work = Callable[[Connection, str, dict[str, Any]], Any]


class Refused(Exception):
    """A participant cannot do its part (no stock, no free agent): the order aborts."""


@dataclass
class Outcome:
    txid: str
    committed: bool
    results: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    unsettled: list[str] = field(default_factory=list)  # committed, but not yet applied there


@dataclass
class Branch:
    name: str
    conn: Connection
    state: str = "active"  # active -> idle (XA END) -> prepared -> done


class Coordinator:
    """Runs global transactions over named participants and settles them after crashes."""

    def __init__(
        self,
        decisions: DecisionLog,
        participants: dict[str, Any],
        pool_size: int = 8,
        pause_at: Callable[[str, str], None] | None = None,
    ):
        self.decisions = decisions
        self.names = list(participants)
        self.pools: dict[str, Pool[Connection]] = {
            name: mysql_pool(addr, PoolConfig(max_size=pool_size, timeout=30))
            for name, addr in participants.items()
        }
        self.pause_at = pause_at or (lambda step, txid: None)
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    # -- one global transaction ----------------------------------------------------------

    def run(self, txid: str, work: dict[str, Work]) -> Outcome:
        """Phase 1 on every participant in order; if all prepared, decide COMMIT and apply it."""
        if not txid.startswith(TXID_PREFIX):
            raise ValueError(f"transaction ids start with {TXID_PREFIX!r}")
        with self._lock:
            self._in_flight.add(txid)
        branches: list[Branch] = []
        results: dict[str, Any] = {}
        try:
            try:
                for name, fn in work.items():
                    results[name] = self._prepare(name, txid, fn, results, branches)
            except (Refused, MySQLError, PoolError) as e:
                self._roll_back(txid, branches)
                self.decisions.decide(txid, ABORT)
                self.decisions.finish(txid)
                log.info("%s aborted: %s", txid, e)
                return Outcome(txid, False, results, reason=str(e))
            self.pause_at("after-prepare", txid)
            self.decisions.decide(txid, COMMIT)  # the commit point: durable before anyone commits
            self.pause_at("after-decision", txid)
            unsettled = self._commit(txid, branches)
            if not unsettled:
                self.decisions.finish(txid)
            return Outcome(txid, True, results, unsettled=unsettled)
        finally:
            for b in branches:
                self.pools[b.name].release(b.conn, broken=b.state != "done")
            with self._lock:
                self._in_flight.discard(txid)

    def _prepare(self, name: str, txid: str, fn: Work, results: dict[str, Any],
                 branches: list[Branch]) -> Any:  # fmt: skip
        conn = self.pools[name].acquire()
        branch = Branch(name, conn)
        branches.append(branch)
        xid = (txid, name)
        conn.query("XA START %s, %s", xid)
        result = fn(conn, txid, results)
        conn.query("XA END %s, %s", xid)
        branch.state = "idle"
        conn.query("XA PREPARE %s, %s", xid)
        branch.state = "prepared"
        return result

    def _roll_back(self, txid: str, branches: list[Branch]) -> None:
        """Undo every branch, whatever state it reached; a dead one is left to recovery."""
        for b in branches:
            xid = (txid, b.name)
            try:
                if b.state == "active":
                    b.conn.query("XA END %s, %s", xid)
                b.conn.query("XA ROLLBACK %s, %s", xid)
                b.state = "done"
            except MySQLError as e:
                # A branch that never prepared dies with its session; a prepared one
                # stays in XA RECOVER and the next recover() rolls it back (no COMMIT logged).
                log.warning("%s: rollback on %s failed (%s); recovery will settle it", txid, b.name, e)

    def _commit(self, txid: str, branches: list[Branch]) -> list[str]:
        """Phase 2: XA COMMIT each branch; the names that could not be reached now."""
        unsettled = []
        for i, b in enumerate(branches):
            try:
                b.conn.query("XA COMMIT %s, %s", (txid, b.name))
                b.state = "done"
            except MySQLError as e:
                log.warning("%s: commit on %s failed (%s); recovery will settle it", txid, b.name, e)
                unsettled.append(b.name)
            if i == 0:
                self.pause_at("after-first-commit", txid)
        return unsettled

    # -- recovery --------------------------------------------------------------------------

    def prepared_branches(self, name: str) -> list[tuple[str, str]]:
        """``XA RECOVER`` on one participant: (txid, branch) of our prepared branches."""
        with self.pools[name].connection() as conn:
            rows = conn.query("XA RECOVER").rows
        out = []
        for _fmt, glen, blen, data in rows:
            raw = data if isinstance(data, bytes) else str(data).encode()
            gtrid, bqual = raw[:glen].decode(), raw[glen : glen + blen].decode()
            if gtrid.startswith(TXID_PREFIX):
                out.append((gtrid, bqual))
        return out

    def recover(self) -> dict[str, int]:
        """Settle every prepared branch not in flight here: COMMIT if logged, else ROLLBACK.

        Returns counts (committed, rolled_back, unreachable). Safe to call while the
        coordinator serves: branches of transactions it is still running are skipped.
        """
        counts = {"committed": 0, "rolled_back": 0, "unreachable": 0}
        for name in self.names:
            try:
                prepared = self.prepared_branches(name)
            except MySQLError as e:
                log.warning("recovery: %s unreachable (%s)", name, e)
                counts["unreachable"] += 1
                continue
            for txid, branch in prepared:
                with self._lock:
                    if txid in self._in_flight:
                        continue
                verb = "COMMIT" if self.decisions.outcome(txid) == COMMIT else "ROLLBACK"
                with self.pools[name].connection() as conn:
                    conn.query(f"XA {verb} %s, %s", (txid, branch))
                counts["committed" if verb == "COMMIT" else "rolled_back"] += 1
                log.info("recovery: %s %s on %s", verb, txid, name)
        if not counts["unreachable"]:
            self._finish_settled()
        return counts

    def _finish_settled(self) -> None:
        """Mark decided transactions finished once no participant holds a branch of theirs."""
        with self._lock:
            candidates = [t for t in self.decisions.unfinished() if t not in self._in_flight]
        for txid in candidates:
            if self.decisions.outcome(txid) is not None:
                self.decisions.finish(txid)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
        self.decisions.close()
