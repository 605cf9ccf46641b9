"""The broker: one handler per API, in a table keyed by API key.

Each handler takes the decoded request body (a dict, see
``clients.kafka.protocol.apis``) and returns the response body. Produce and
Fetch are the hot ones; the group APIs delegate to ``groups.Coordinator``.
A single node: it is every partition's leader and the coordinator of every group.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clients.kafka.protocol import errors as E
from clients.kafka.protocol.apis import APIS
from clients.kafka.protocol.framing import Request
from clients.kafka.protocol.records import CorruptBatch, check_batches

from .groups import Coordinator
from .log import LogConfig
from .offsets import OffsetStore
from .topics import Partition, TopicError, Topics

log = logging.getLogger(__name__)

# Kafka's message.max.bytes default (1 MiB + overhead): the largest batch accepted.
MAX_BATCH = 1024 * 1024 + 12
# A Fetch waits at most this long even if the client asks for more (Kafka clients
# default to 500 ms; a cap keeps a bad max_wait_ms from pinning a connection).
MAX_FETCH_WAIT_MS = 30_000
EARLIEST, LATEST = -2, -1
CLUSTER_ID = "syslab-kafka-0001"
NODE_ID = 0


@dataclass(frozen=True)
class BrokerConfig:
    data_dir: Path
    log: LogConfig = LogConfig()
    auto_create_topics: bool = True
    default_partitions: int = 1
    initial_rebalance_delay: float = 0.3
    retention_check_s: float = 30.0


Handler = Callable[[Request, "Ctx"], Awaitable[dict[str, Any]] | dict[str, Any]]


@dataclass
class Ctx:
    """What a handler knows about the connection (for metadata and group members)."""

    host: str
    port: int
    peer_host: str


class Broker:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.topics = Topics(config.data_dir, config.log, config.default_partitions)
        self.offsets = OffsetStore(config.data_dir / "__consumer_offsets")
        self.groups = Coordinator(config.initial_rebalance_delay)
        self._producer_ids = itertools.count(int(time.time() * 1000) % (1 << 40))
        self._retention = asyncio.get_running_loop().create_task(self._retain())
        self.handlers: dict[int, Handler] = {
            0: self.produce, 1: self.fetch, 2: self.list_offsets, 3: self.metadata,
            8: self.offset_commit, 9: self.offset_fetch, 10: self.find_coordinator,
            11: self.join_group, 12: self.heartbeat, 13: self.leave_group, 14: self.sync_group,
            15: self.describe_groups, 16: self.list_groups, 18: self.api_versions,
            19: self.create_topics, 20: self.delete_topics, 22: self.init_producer_id,
        }  # fmt: skip

    async def handle(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        result = self.handlers[req.api.key](req, ctx)
        if asyncio.iscoroutine(result):
            return await result
        return result  # type: ignore[return-value]

    def close(self) -> None:
        self._retention.cancel()
        self.groups.close()
        self.topics.close()
        self.offsets.close()

    async def _retain(self) -> None:
        while True:
            await asyncio.sleep(self.config.retention_check_s)
            now = int(time.time() * 1000)
            for p in self.topics.all_partitions():
                p.log.enforce_retention(now)

    # -- ApiVersions / Metadata / topics ------------------------------------------------
    def api_versions(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        return {"error_code": 0, "api_keys": supported_versions()}

    def _ensure_topic(self, name: str, create: bool) -> int:
        if name in self.topics.topics:
            return 0
        if not (create and self.config.auto_create_topics):
            return E.UNKNOWN_TOPIC_OR_PARTITION
        try:
            self.topics.create(name, -1)
        except TopicError as e:
            return e.code
        return 0

    def metadata(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        wanted = req.body["topics"]
        create = req.version < 4 or req.body["allow_auto_topic_creation"]
        if wanted is None or (req.version == 0 and not wanted):
            names = list(self.topics.topics)
            codes = dict.fromkeys(names, 0)
        else:
            names = [t["name"] for t in wanted]
            codes = {n: self._ensure_topic(n, create) for n in names}
        topics = []
        for n in names:
            parts = self.topics.topics.get(n, [])
            topics.append({
                "error_code": codes[n], "name": n, "is_internal": False,
                "partitions": [{
                    "error_code": 0, "partition_index": p.index, "leader_id": NODE_ID,
                    "leader_epoch": 0, "replica_nodes": [NODE_ID], "isr_nodes": [NODE_ID],
                    "offline_replicas": [],
                } for p in parts],
            })  # fmt: skip
        return {
            "brokers": [{"node_id": NODE_ID, "host": ctx.host, "port": ctx.port, "rack": None}],
            "cluster_id": CLUSTER_ID, "controller_id": NODE_ID, "topics": topics,
        }  # fmt: skip

    def create_topics(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        out = []
        for t in req.body["topics"]:
            code, msg = 0, None
            if t["assignments"]:
                code, msg = E.INVALID_REQUEST, "manual assignments are not supported"
            elif t["replication_factor"] not in (-1, 1):
                code, msg = E.INVALID_REPLICATION_FACTOR, "a single broker: replication factor 1"
            elif not req.body.get("validate_only"):
                try:
                    configs = {c["name"]: c["value"] for c in t["configs"] if c["value"] is not None}
                    self.topics.create(t["name"], t["num_partitions"], configs)
                except TopicError as e:
                    code, msg = e.code, str(e)
            out.append({"name": t["name"], "error_code": code, "error_message": msg})
        return {"topics": out}

    def delete_topics(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        out = []
        for name in req.body["topic_names"]:
            try:
                parts = self.topics.topics.get(name, [])
                self.topics.delete(name)
                for p in parts:
                    p.notify()
                code = 0
            except TopicError as e:
                code = e.code
            out.append({"name": name, "error_code": code})
        return {"responses": out}

    # -- Produce ---------------------------------------------------------------------
    def produce(self, req: Request, ctx: Ctx) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        acks = req.body["acks"]
        if acks not in (0, 1, -1):
            return _produce_all(req, E.INVALID_REQUIRED_ACKS)
        touched: list[Partition] = []
        responses = []
        for t in req.body["topics"]:
            self._ensure_topic(t["name"], True)
            parts = []
            for p in t["partitions"]:
                code, base, part = self._append(t["name"], p["index"], p["records"])
                if part is not None:
                    touched.append(part)
                parts.append({"index": p["index"], "error_code": code, "base_offset": base,
                              "log_start_offset": part.log.log_start_offset if part else -1})
            responses.append({"name": t["name"], "partitions": parts})
        if acks == -1:  # acks=all: durable (fsynced) before acknowledged
            for part in touched:
                part.log.sync()
        return {"responses": responses}

    def _append(self, topic: str, index: int, records: bytes | None) -> tuple[int, int, Partition | None]:
        part = self.topics.partition(topic, index)
        if part is None:
            return E.UNKNOWN_TOPIC_OR_PARTITION, -1, None
        if not records:
            return E.INVALID_RECORD, -1, part
        try:
            batches = check_batches(records, MAX_BATCH)
        except CorruptBatch as e:
            log.warning("refused a batch for %s-%d: %s", topic, index, e)
            return e.code, -1, part
        dup = self._duplicate(part, batches)
        if dup is not None:
            return dup
        base = part.log.append(bytearray(records), batches)
        self._remember_producer(part, batches, base)
        part.notify()
        return 0, base, part

    def _duplicate(self, part: Partition, batches: list[Any]) -> tuple[int, int, Partition] | None:
        """An idempotent producer's retry of a batch already stored: acknowledge, don't store."""
        b = batches[0]
        if b.producer_id < 0 or b.base_sequence < 0 or len(batches) != 1:
            return None
        seen = part.producers.get(b.producer_id)
        if seen is None or seen[0] != b.producer_epoch:
            return None
        epoch, last_seq, last_base = seen
        if b.base_sequence + b.count - 1 == last_seq:
            return 0, last_base, part
        if b.base_sequence <= last_seq:
            return E.DUPLICATE_SEQUENCE_NUMBER, -1, part
        if b.base_sequence != last_seq + 1:
            return E.OUT_OF_ORDER_SEQUENCE_NUMBER, -1, part
        return None

    def _remember_producer(self, part: Partition, batches: list[Any], base: int) -> None:
        off = base
        for b in batches:
            if b.producer_id >= 0 and b.base_sequence >= 0:
                part.producers[b.producer_id] = (b.producer_epoch, b.base_sequence + b.count - 1, off)
            off += b.count

    def init_producer_id(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        if req.body["transactional_id"] is not None:
            return {"error_code": E.INVALID_REQUEST}  # transactions are not implemented
        return {"error_code": 0, "producer_id": next(self._producer_ids), "producer_epoch": 0}

    # -- Fetch -----------------------------------------------------------------------
    async def fetch(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        b = req.body
        deadline = time.monotonic() + min(max(b["max_wait_ms"], 0), MAX_FETCH_WAIT_MS) / 1000
        while True:
            responses, total, waits = self._fetch_once(b)
            left = deadline - time.monotonic()
            if total >= max(b["min_bytes"], 1) or left <= 0 or not waits:
                return {"error_code": 0, "session_id": 0, "responses": responses}
            await _first(waits, left)

    def _fetch_once(self, b: dict[str, Any]) -> tuple[list[dict[str, Any]], int, list[asyncio.Event]]:
        budget = b.get("max_bytes", 0x7FFFFFFF)
        total, waits, responses = 0, [], []
        for t in b["topics"]:
            parts = []
            for p in t["partitions"]:
                part = self.topics.partition(t["topic"], p["partition"])
                if part is None:
                    parts.append(_fetch_error(p["partition"], E.UNKNOWN_TOPIC_OR_PARTITION))
                    continue
                data = b"" if budget <= 0 and total else part.log.read(
                    p["fetch_offset"], min(p["partition_max_bytes"], max(budget, 0)))  # fmt: skip
                if data is None:
                    parts.append(_fetch_error(p["partition"], E.OFFSET_OUT_OF_RANGE, part))
                    continue
                total += len(data)
                budget -= len(data)
                waits.append(part.arrival())
                parts.append({
                    "partition_index": p["partition"], "error_code": 0,
                    "high_watermark": part.log.next_offset,
                    "last_stable_offset": part.log.next_offset,
                    "log_start_offset": part.log.log_start_offset,
                    "aborted_transactions": None, "records": data,
                })  # fmt: skip
            responses.append({"topic": t["topic"], "partitions": parts})
        return responses, total, waits

    # -- ListOffsets -----------------------------------------------------------------
    def list_offsets(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        topics = []
        for t in req.body["topics"]:
            parts = []
            for p in t["partitions"]:
                part = self.topics.partition(t["name"], p["partition_index"])
                if part is None:
                    parts.append({"partition_index": p["partition_index"],
                                  "error_code": E.UNKNOWN_TOPIC_OR_PARTITION})
                    continue
                ts = p["timestamp"]
                if ts == EARLIEST:
                    off = part.log.log_start_offset
                elif ts == LATEST:
                    off = part.log.next_offset
                else:
                    found = part.log.offset_for_time(ts)
                    off = -1 if found is None else found
                parts.append({"partition_index": p["partition_index"], "error_code": 0,
                              "timestamp": -1 if ts < 0 else ts, "offset": off, "leader_epoch": 0})
            topics.append({"name": t["name"], "partitions": parts})
        return {"topics": topics}

    # -- groups ----------------------------------------------------------------------
    def find_coordinator(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        if req.body.get("key_type", 0) != 0:
            return {"error_code": E.COORDINATOR_NOT_AVAILABLE, "node_id": -1, "host": "",
                    "port": -1, "error_message": "transactions are not implemented"}
        return {"error_code": 0, "error_message": None, "node_id": NODE_ID, "host": ctx.host,
                "port": ctx.port}  # fmt: skip

    async def join_group(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        return await self.groups.join(req.body, req.client_id or "", ctx.peer_host)

    async def sync_group(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        return await self.groups.sync(req.body)

    def heartbeat(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        return {"error_code": self.groups.heartbeat(req.body)}

    def leave_group(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        if req.version >= 3:
            ids = [m["member_id"] for m in req.body["members"]]
            codes = self.groups.leave(req.body["group_id"], ids)
            return {"error_code": 0, "members": [
                {"member_id": i, "group_instance_id": None, "error_code": c}
                for i, c in zip(ids, codes, strict=True)]}  # fmt: skip
        return {"error_code": self.groups.leave(req.body["group_id"], [req.body["member_id"]])[0]}

    def offset_commit(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        err = self.groups.check_commit(req.body)
        gid, entries, topics = req.body["group_id"], [], []
        for t in req.body["topics"]:
            parts = []
            for p in t["partitions"]:
                code = err
                if not code and self.topics.partition(t["name"], p["partition_index"]) is None:
                    code = E.UNKNOWN_TOPIC_OR_PARTITION
                if not code:
                    entries.append(((gid, t["name"], p["partition_index"]),
                                    p["committed_offset"], p["committed_metadata"]))
                parts.append({"partition_index": p["partition_index"], "error_code": code})
            topics.append({"name": t["name"], "partitions": parts})
        if entries:
            self.offsets.commit(entries)
        return {"topics": topics}

    def offset_fetch(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        gid = req.body["group_id"]
        wanted = req.body["topics"]
        if wanted is None:  # all committed partitions of the group
            by_topic: dict[str, list[int]] = {}
            for (t, p) in self.offsets.group_offsets(gid):
                by_topic.setdefault(t, []).append(p)
            wanted = [{"name": t, "partition_indexes": ps} for t, ps in by_topic.items()]
        topics = []
        for t in wanted:
            parts = []
            for p in t["partition_indexes"]:
                got = self.offsets.get((gid, t["name"], p))
                off, meta = got if got else (-1, "")
                parts.append({"partition_index": p, "committed_offset": off, "metadata": meta,
                              "error_code": 0})
            topics.append({"name": t["name"], "partitions": parts})
        return {"topics": topics, "error_code": 0}

    def describe_groups(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        return {"groups": [self.groups.describe(g) for g in req.body["groups"]]}

    def list_groups(self, req: Request, ctx: Ctx) -> dict[str, Any]:
        known = {g["group_id"] for g in self.groups.listing()}
        extra = [{"group_id": g, "protocol_type": "consumer"}
                 for g in sorted(self.offsets.groups() - known)]  # fmt: skip
        return {"error_code": 0, "groups": self.groups.listing() + extra}


def supported_versions() -> list[dict[str, int]]:
    return [{"api_key": a.key, "min_version": a.lo, "max_version": a.hi} for a in APIS.values()]


def _produce_all(req: Request, code: int) -> dict[str, Any]:
    return {"responses": [{"name": t["name"], "partitions": [
        {"index": p["index"], "error_code": code, "base_offset": -1} for p in t["partitions"]
    ]} for t in req.body["topics"]]}  # fmt: skip


def _fetch_error(index: int, code: int, part: Partition | None = None) -> dict[str, Any]:
    hw = part.log.next_offset if part else -1
    return {"partition_index": index, "error_code": code, "high_watermark": hw,
            "last_stable_offset": hw, "log_start_offset": part.log.log_start_offset if part else -1,
            "aborted_transactions": None, "records": b""}  # fmt: skip


async def _first(events: list[asyncio.Event], timeout: float) -> None:
    """Wait until any partition gets data, or ``timeout`` seconds."""
    tasks = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
