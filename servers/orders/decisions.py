"""The coordinator's decision log: one durable outcome per transaction, on ``storage.wal``.

A record is a WAL put of ``txid -> b"commit" | b"abort"`` (the decision), later
followed by ``txid -> b"commit done" | b"abort done"`` once every participant has
applied it. Appends use ``sync="always"`` with group commit (concurrent orders
share fsyncs), so ``decide()`` returns only once the decision is on disk.
Checksums and torn-tail handling come from the WAL's record format: a decision
half-written by a crash is no decision, and the transaction is then presumed
aborted -- safe, because no participant is told to commit before the record is
durable.
"""

from __future__ import annotations

import os
import threading

from storage.wal import Wal, replay

COMMIT, ABORT = "commit", "abort"


class DecisionLog:
    """Durable outcomes by transaction id; the last record for an id wins."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.dir = os.fspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        self._records: dict[str, str] = {}
        for entry in replay(self.dir):
            self._records[entry.key.decode()] = (entry.value or b"").decode()
        self._wal = Wal(self.dir, sync="always")
        self._lock = threading.Lock()

    def _append(self, txid: str, value: str) -> None:
        self._wal.put(txid.encode(), value.encode())  # returns once fsynced
        with self._lock:
            self._records[txid] = value

    def decide(self, txid: str, outcome: str) -> None:
        if outcome not in (COMMIT, ABORT):
            raise ValueError(f"an outcome is {COMMIT!r} or {ABORT!r}, not {outcome!r}")
        self._append(txid, outcome)

    def finish(self, txid: str) -> None:
        """Every participant applied the outcome: recovery can skip this transaction."""
        outcome = self.outcome(txid)
        if outcome is None:
            raise KeyError(f"{txid}: no decision to finish")
        self._append(txid, f"{outcome} done")

    def outcome(self, txid: str) -> str | None:
        """``"commit"``, ``"abort"``, or None: no decision (presumed abort)."""
        with self._lock:
            value = self._records.get(txid)
        return value.split()[0] if value else None

    def finished(self, txid: str) -> bool:
        with self._lock:
            return self._records.get(txid, "").endswith(" done")

    def unfinished(self) -> list[str]:
        with self._lock:
            return [t for t, v in self._records.items() if not v.endswith(" done")]

    def close(self) -> None:
        self._wal.close()
