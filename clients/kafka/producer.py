"""The producer: records are batched per partition and sent by one background thread.

Strategy. ``send`` appends to its partition's open batch and returns a future.
A batch is *ready* when it holds ``batch_size`` bytes or its first record has
waited ``linger_ms`` (or ``flush`` was called); the sender thread then takes
every ready batch, groups them by leader broker, and sends one Produce request
per broker holding at most one batch per partition.

Ordering with retries: each broker connection carries one request at a time
and a failed batch goes back to the *head* of its partition's queue, so a
retried batch is always written before any later batch of its partition (the
Java client's guarantee with max.in.flight=1). ``acks`` is 0 (no response: the
futures resolve on send with offset -1), 1 (the leader wrote it) or -1/"all"
(the broker fsynced it; ours does, see servers/kafka/FORMAT.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from .cluster import Cluster
from .partitioner import partition_for
from .protocol import apis
from .protocol import errors as E
from .protocol.records import encode_batch, now_ms

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes | None]]


@dataclass
class _Batch:
    topic: str
    partition: int
    created: float
    records: list[tuple[bytes | None, bytes | None, Headers, int]] = field(default_factory=list)
    size: int = 0
    attempts: int = 0
    # One completion per batch, not per record: a Future per record cost more than encoding.
    done: threading.Event = field(default_factory=threading.Event)
    base_offset: int = -1
    error: Exception | None = None


class RecordFuture:
    """Where one record landed: ``result()`` is (partition, offset), once acknowledged."""

    __slots__ = ("_batch", "_index")

    def __init__(self, batch: _Batch, index: int) -> None:
        self._batch, self._index = batch, index

    def done(self) -> bool:
        return self._batch.done.is_set()

    def result(self, timeout: float | None = None) -> tuple[int, int]:
        b = self._batch
        if not b.done.wait(timeout):
            raise TimeoutError("record not acknowledged in time")
        if b.error is not None:
            raise b.error
        return b.partition, (b.base_offset + self._index if b.base_offset >= 0 else -1)

    def exception(self, timeout: float | None = None) -> Exception | None:
        if not self._batch.done.wait(timeout):
            raise TimeoutError("record not acknowledged in time")
        return self._batch.error


class Producer:
    def __init__(
        self,
        bootstrap: str | list[str],
        *,
        acks: int | str = 1,
        batch_size: int = 16384,
        linger_ms: float = 5,
        retries: int = 5,
        retry_backoff_ms: float = 100,
        client_id: str = "syslab-producer",
        max_buffered: int = 1_000_000,
    ) -> None:
        self.acks = -1 if acks == "all" else int(acks)
        if self.acks not in (0, 1, -1):
            raise ValueError("acks must be 0, 1, -1 or 'all'")
        self.batch_size, self.linger = batch_size, linger_ms / 1000
        self.retries, self.backoff = retries, retry_backoff_ms / 1000
        self.max_buffered = max_buffered
        self.cluster = Cluster(bootstrap, client_id)
        self._queues: dict[tuple[str, int], deque[_Batch]] = {}
        self._buffered = 0
        self._cond = threading.Condition(threading.Lock())
        self._flushing = 0
        self._closed = False
        self._rr: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="kafka-producer", daemon=True)
        self._thread.start()

    # -- the caller's side ---------------------------------------------------------
    def send(self, topic: str, value: bytes | None, key: bytes | None = None, *,
             partition: int | None = None, headers: Headers = (),
             timestamp_ms: int | None = None) -> RecordFuture:  # fmt: skip
        """Queue one record; the future gives (partition, offset) once acknowledged."""
        if partition is None:
            partition = self._partition(topic, key)
        size = 16 + len(value or b"") + len(key or b"")
        if headers:
            size += sum(len(k) + len(v or b"") for k, v in headers)
        with self._cond:
            if self._closed:
                raise RuntimeError("producer is closed")
            while self._buffered >= self.max_buffered:  # backpressure, not unbounded memory
                self._cond.wait()
            q = self._queues.setdefault((topic, partition), deque())
            if not q or q[-1].size >= self.batch_size or q[-1].attempts:
                q.append(_Batch(topic, partition, time.monotonic()))
            b = q[-1]
            fut = RecordFuture(b, len(b.records))
            b.records.append((key, value, headers, timestamp_ms or now_ms()))
            b.size += size
            self._buffered += 1
            if b.size >= self.batch_size > b.size - size:  # just filled: wake the sender once
                self._cond.notify_all()
        return fut

    def _partition(self, topic: str, key: bytes | None) -> int:
        n = self.cluster_partitions(topic)
        if key is not None:
            return partition_for(key, n)
        i = self._rr.get(topic, 0)  # keyless: round-robin (sticky batching would be faster)
        self._rr[topic] = i + 1
        return i % n

    def cluster_partitions(self, topic: str) -> int:
        with self._cond:
            return self.cluster.partition_count(topic)

    def flush(self, timeout: float | None = None) -> None:
        """Send everything queued and wait until each record is acknowledged or failed."""
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            ok = self._cond.wait_for(lambda: self._buffered == 0, timeout)
            self._flushing -= 1
        if not ok:
            raise TimeoutError("flush timed out")

    def close(self, timeout: float = 30.0) -> None:
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join(timeout)
            self.cluster.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the sender thread ---------------------------------------------------------------
    def _ready(self, now: float) -> list[_Batch]:
        out = []
        for q in self._queues.values():
            if q and (self._flushing or len(q) > 1 or q[0].size >= self.batch_size
                      or now - q[0].created >= self.linger):  # fmt: skip
                out.append(q.popleft())
        return out

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    batches = self._ready(time.monotonic())
                    if batches or (self._closed and not self._buffered):
                        break
                    self._cond.wait(self.linger if self._buffered else 1.0)
                if not batches:
                    return
            self._send(batches)

    def _send(self, batches: list[_Batch]) -> None:
        by_node: dict[int, list[_Batch]] = {}
        failed: list[tuple[_Batch, int]] = []
        for b in batches:
            try:
                with self._cond:
                    node = self.cluster.leader(b.topic, b.partition)
                by_node.setdefault(node, []).append(b)
            except E.KafkaError as e:
                failed.append((b, e.code))
            except OSError:  # no broker reachable right now: retriable, like a lost leader
                failed.append((b, E.LEADER_NOT_AVAILABLE))
        for node, group in by_node.items():
            failed += self._send_to(node, group)
        if failed:
            self._retry_or_fail(failed)

    def _send_to(self, node: int, batches: list[_Batch]) -> list[tuple[_Batch, int]]:
        topics: dict[str, list[dict[str, object]]] = {}
        for b in batches:
            topics.setdefault(b.topic, []).append(
                {"index": b.partition, "records": encode_batch(b.records)})
        body = {"transactional_id": None, "acks": self.acks, "timeout_ms": 30_000,
                "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]}  # fmt: skip
        try:
            conn = self.cluster.connection(node)
            conn.send(apis.PRODUCE, body, expect_response=self.acks != 0)
            if self.acks == 0:
                for b in batches:
                    self._complete(b, -1)
                return []
            resp = conn.receive()
        except OSError:
            self.cluster.drop(node, "main")
            return [(b, E.NOT_LEADER_OR_FOLLOWER) for b in batches]
        results = {(t["name"], p["index"]): p for t in resp["responses"] for p in t["partitions"]}
        failed = []
        for b in batches:
            r = results.get((b.topic, b.partition))
            if r is None or r["error_code"]:
                failed.append((b, r["error_code"] if r else E.UNKNOWN_SERVER_ERROR))
            else:
                self._complete(b, r["base_offset"])
        return failed

    def _complete(self, b: _Batch, base: int) -> None:
        b.base_offset = base
        b.done.set()
        self._release(len(b.records))

    def _release(self, n: int) -> None:
        with self._cond:
            self._buffered -= n
            self._cond.notify_all()

    def _retry_or_fail(self, failed: list[tuple[_Batch, int]]) -> None:
        retry = False
        with self._cond:
            for b, code in failed:
                b.attempts += 1
                if code in E.RETRIABLE and b.attempts <= self.retries and not self._closed:
                    self._queues[(b.topic, b.partition)].appendleft(b)  # head: order kept
                    self.cluster.leaders.pop((b.topic, b.partition), None)
                    retry = True
                else:
                    b.error = E.KafkaError(code, f"produce to {b.topic}-{b.partition}")
                    b.done.set()
                    self._buffered -= len(b.records)
                    self._cond.notify_all()
        if retry:
            time.sleep(self.backoff)  # back off before resending (the sender thread only)
