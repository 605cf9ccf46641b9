"""The consumer: group membership, fetching with one request always in flight, commits.

Strategy. No background thread: everything happens inside ``poll``, as in the
Java client. ``poll`` first keeps the group alive (heartbeat when due; on
REBALANCE_IN_PROGRESS or a lost membership it rejoins: revoke callback,
JoinGroup, the leader runs the assignor, SyncGroup, assign callback, committed
offsets fetched), then returns records. A member that does not call ``poll``
within ``session_timeout_ms`` is expired by the coordinator.

Throughput: one Fetch per broker is always in flight. When a response arrives
the next Fetch (positions advanced past what arrived) is sent *before* the
records are decoded and handed to the caller, so the broker reads its disk
while the application works. Group traffic uses its own connection, so a
long-polling Fetch never delays a heartbeat.

``commit`` is synchronous; ``commit_async`` sends the OffsetCommit and reads its
answer before the next coordinator request (same connection, answered in order)
then calls the callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from .assignors import (
    ASSIGNORS,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from .cluster import Cluster
from .connection import BrokerConnection
from .protocol import apis
from .protocol import errors as E
from .protocol.records import Record, decode_batches

log = logging.getLogger(__name__)

TP = tuple[str, int]
EARLIEST, LATEST = -2, -1
_REJOIN = {E.REBALANCE_IN_PROGRESS, E.UNKNOWN_MEMBER_ID, E.ILLEGAL_GENERATION}


class Consumer:
    def __init__(
        self,
        bootstrap: str | list[str],
        *,
        group_id: str | None = None,
        client_id: str = "syslab-consumer",
        auto_offset_reset: str = "earliest",
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 1_000,
        assignor: str = "range",
        fetch_max_wait_ms: int = 500,
        fetch_min_bytes: int = 1,
        fetch_max_bytes: int = 50 * 1024 * 1024,
        max_partition_fetch_bytes: int = 1024 * 1024,
    ) -> None:
        self.cluster = Cluster(bootstrap, client_id)
        self.group_id = group_id
        self.reset = EARLIEST if auto_offset_reset == "earliest" else LATEST
        self.session_ms, self.hb_interval = session_timeout_ms, heartbeat_interval_ms / 1000
        self.assignor = assignor
        self.fetch_cfg = (fetch_max_wait_ms, fetch_min_bytes, fetch_max_bytes,
                          max_partition_fetch_bytes)  # fmt: skip
        self.positions: dict[TP, int] = {}
        self.assigned: list[TP] = []
        self.topics: list[str] = []
        self.member_id, self.generation = "", -1
        self._coord: BrokerConnection | None = None
        self._need_join = False
        self._next_hb = 0.0
        self._on_assign: Callable[[list[TP]], None] | None = None
        self._on_revoke: Callable[[list[TP]], None] | None = None
        self._inflight: dict[int, list[TP]] = {}  # node -> partitions of its Fetch in flight
        self._pending_commits: list[Callable[[Exception | None], None] | None] = []

    # -- subscription ---------------------------------------------------------------------
    def subscribe(self, topics: list[str], on_assign: Callable[[list[TP]], None] | None = None,
                  on_revoke: Callable[[list[TP]], None] | None = None) -> None:  # fmt: skip
        if self.group_id is None:
            raise ValueError("subscribe needs a group_id (or use assign)")
        self.topics = list(topics)
        self._on_assign, self._on_revoke = on_assign, on_revoke
        self._need_join = True

    def assign(self, partitions: Iterable[TP]) -> None:
        """Manual assignment: no group, positions from the reset policy or ``seek``."""
        self.assigned = list(partitions)
        self._drain_fetches()
        for tp in self.assigned:
            self.positions.setdefault(tp, -1)

    def assignment(self) -> list[TP]:
        return list(self.assigned)

    def seek(self, tp: TP, offset: int) -> None:
        self._drain_fetches()
        self.positions[tp] = offset

    def seek_to_beginning(self, tp: TP) -> None:
        self.seek(tp, self._list_offset(tp, EARLIEST))

    def seek_to_end(self, tp: TP) -> None:
        self.seek(tp, self._list_offset(tp, LATEST))

    def position(self, tp: TP) -> int:
        return self.positions[tp]

    def end_offset(self, tp: TP) -> int:
        """The partition's high watermark now (one past its last record)."""
        return self._list_offset(tp, LATEST)

    # -- poll -------------------------------------------------------------------------------
    def poll(self, timeout_ms: int = 1000) -> dict[TP, list[Record]]:
        """Records that arrived for our partitions, waiting at most about ``timeout_ms``."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                out = self._poll_once(deadline)
            except OSError as e:  # a broker went away: reconnect, re-find, rejoin, go on
                log.info("connection lost (%s); reconnecting", e)
                self._reset_connections()
                out = None
            if out is None:
                if time.monotonic() >= deadline:
                    return {}
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))  # retry pacing
                continue
            if out or time.monotonic() >= deadline:
                return out

    def _poll_once(self, deadline: float) -> dict[TP, list[Record]] | None:
        """One round; None when there is nothing to fetch yet (no assignment)."""
        if self.group_id and self.topics:
            self._keep_membership()
        self._resolve_positions()
        if not self.assigned:
            return None
        return self._fetch_round(deadline)

    def _reset_connections(self) -> None:
        self.cluster.close()
        self._coord = None
        self._inflight.clear()
        self._pending_commits.clear()  # their answers died with the connection
        if self.group_id and self.topics:
            self._need_join = True  # positions come back from the committed offsets

    def _fetch_round(self, deadline: float) -> dict[TP, list[Record]]:
        by_node: dict[int, list[TP]] = {}
        for tp in self.assigned:
            by_node.setdefault(self.cluster.leader(*tp), []).append(tp)
        for node, tps in by_node.items():
            if node not in self._inflight:
                self._send_fetch(node, tps, deadline)
        out: dict[TP, list[Record]] = {}
        for node in list(self._inflight):
            conn = self.cluster.connection(node, "fetch")
            resp = conn.receive()
            tps = self._inflight.pop(node)
            raw = self._take(resp)
            if node in by_node:  # prefetch: the broker works while we decode
                self._send_fetch(node, by_node[node], deadline)
            for tp, data, start in raw:
                recs = [r for r in decode_batches(data, verify_crc=False) if r.offset >= start]
                if recs:
                    out[tp] = recs
            del tps
        return out

    def _take(self, resp: dict[str, Any]) -> list[tuple[TP, bytes, int]]:
        """Advance positions past whole batches in a Fetch response (header walk only)."""
        from .protocol.records import HEADER, LOG_OVERHEAD

        got = []
        for t in resp["responses"]:
            for p in t["partitions"]:
                tp = (t["topic"], p["partition_index"])
                if p["error_code"] == E.OFFSET_OUT_OF_RANGE and tp in self.positions:
                    self.positions[tp] = -1  # reset by policy on the next round
                    continue
                data = p["records"] or b""
                if p["error_code"] or not data or tp not in self.positions:
                    continue
                pos, last = 0, -1
                while len(data) - pos >= 61:
                    h = HEADER.unpack_from(data, pos)
                    size = LOG_OVERHEAD + h[1]
                    if pos + size > len(data):
                        break
                    last = h[0] + h[6]
                    pos += size
                if last >= self.positions[tp]:
                    got.append((tp, data[:pos], self.positions[tp]))
                    self.positions[tp] = last + 1
        return got

    def _send_fetch(self, node: int, tps: list[TP], deadline: float) -> None:
        wait, min_b, max_b, part_b = self.fetch_cfg
        topics: dict[str, list[dict[str, int]]] = {}
        for tp in tps:
            if self.positions.get(tp, -1) < 0:
                continue
            topics.setdefault(tp[0], []).append(
                {"partition": tp[1], "fetch_offset": self.positions[tp], "partition_max_bytes": part_b})
        if not topics:
            return
        left = max(0, int((deadline - time.monotonic()) * 1000))
        body = {"max_wait_ms": min(wait, left, int(self.hb_interval * 1000)), "min_bytes": min_b,
                "max_bytes": max_b, "isolation_level": 0,
                "topics": [{"topic": t, "partitions": ps} for t, ps in topics.items()]}  # fmt: skip
        self.cluster.connection(node, "fetch").send(apis.FETCH, body)
        self._inflight[node] = tps

    def _drain_fetches(self) -> None:
        """Read and drop in-flight fetches (positions change under them)."""
        for node in list(self._inflight):
            self.cluster.connection(node, "fetch").receive()
            self._inflight.pop(node)

    def _resolve_positions(self) -> None:
        for tp in self.assigned:
            if self.positions.get(tp, -1) < 0:
                self.positions[tp] = self._list_offset(tp, self.reset)

    def _list_offset(self, tp: TP, ts: int) -> int:
        conn = self.cluster.connection(self.cluster.leader(*tp))
        r = conn.request(apis.LIST_OFFSETS, {"replica_id": -1, "topics": [
            {"name": tp[0], "partitions": [{"partition_index": tp[1], "timestamp": ts}]}]})
        p = r["topics"][0]["partitions"][0]
        if p["error_code"]:
            raise E.KafkaError(p["error_code"], f"ListOffsets {tp}")
        return p["offset"]

    # -- group membership -----------------------------------------------------------------
    def _coordinator(self) -> BrokerConnection:
        if self._coord is None:
            r = self.cluster.any_connection().request(apis.FIND_COORDINATOR,
                                                      {"key": self.group_id, "key_type": 0})
            if r["error_code"]:
                raise E.KafkaError(r["error_code"], "FindCoordinator")
            self.cluster.brokers.setdefault(r["node_id"], (r["host"], r["port"]))
            self._coord = self.cluster.connection(r["node_id"], "group")
        self._drain_commits()
        return self._coord

    def _keep_membership(self) -> None:
        now = time.monotonic()
        if not self._need_join and now >= self._next_hb:
            r = self._coordinator().request(apis.HEARTBEAT, {
                "group_id": self.group_id, "generation_id": self.generation,
                "member_id": self.member_id})  # fmt: skip
            self._next_hb = now + self.hb_interval
            if r["error_code"] in _REJOIN:
                if r["error_code"] != E.REBALANCE_IN_PROGRESS:
                    self.member_id, self.generation = "", -1
                self._need_join = True
        while self._need_join:
            self._join()

    def _join(self) -> None:
        if self.assigned and self._on_revoke:
            self._on_revoke(list(self.assigned))
        self._drain_fetches()
        self.assigned = []
        self.cluster.refresh(self.topics)
        coord = self._coordinator()
        r = coord.request(apis.JOIN_GROUP, {
            "group_id": self.group_id, "session_timeout_ms": self.session_ms,
            "rebalance_timeout_ms": max(self.session_ms, 30_000), "member_id": self.member_id,
            "protocol_type": "consumer",
            "protocols": [{"name": n, "metadata": encode_subscription(self.topics)}
                          for n in [self.assignor] + [a for a in ASSIGNORS if a != self.assignor]],
        })  # fmt: skip
        if r["error_code"] == E.MEMBER_ID_REQUIRED:  # KIP-394: rejoin with the id given
            self.member_id = r["member_id"]
            return
        if r["error_code"]:
            if r["error_code"] == E.UNKNOWN_MEMBER_ID:
                self.member_id = ""
            log.info("join failed with %d; retrying", r["error_code"])
            return
        self.member_id, self.generation = r["member_id"], r["generation_id"]
        assignments = []
        if r["leader"] == self.member_id:
            assignments = self._assign(r["protocol_name"], r["members"])
        s = coord.request(apis.SYNC_GROUP, {
            "group_id": self.group_id, "generation_id": self.generation,
            "member_id": self.member_id, "assignments": assignments})  # fmt: skip
        if s["error_code"]:
            if s["error_code"] in (E.UNKNOWN_MEMBER_ID, E.ILLEGAL_GENERATION):
                self.member_id = ""
            return
        mine = decode_assignment(s["assignment"])
        self.assigned = sorted((t, p) for t, ps in mine.items() for p in ps)
        self.positions = {tp: -1 for tp in self.assigned}
        self._load_committed()
        self._need_join = False
        self._next_hb = time.monotonic() + self.hb_interval
        if self._on_assign:
            self._on_assign(list(self.assigned))

    def _assign(self, protocol: str, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        subs = {m["member_id"]: decode_subscription(m["metadata"]) for m in members}
        wanted = sorted({t for ts in subs.values() for t in ts})
        self.cluster.refresh(wanted)
        counts = {t: self.cluster.partitions.get(t, 0) for t in wanted}
        plan = ASSIGNORS[protocol](subs, counts)
        return [{"member_id": m, "assignment": encode_assignment(a)} for m, a in plan.items()]

    def _load_committed(self) -> None:
        for tp, off in self.committed(self.assigned).items():
            if off >= 0:
                self.positions[tp] = off

    # -- commits ------------------------------------------------------------------------------
    def committed(self, tps: list[TP]) -> dict[TP, int]:
        by_topic: dict[str, list[int]] = {}
        for t, p in tps:
            by_topic.setdefault(t, []).append(p)
        r = self._coordinator().request(apis.OFFSET_FETCH, {"group_id": self.group_id, "topics": [
            {"name": t, "partition_indexes": ps} for t, ps in by_topic.items()]})  # fmt: skip
        return {(t["name"], p["partition_index"]): p["committed_offset"]
                for t in r["topics"] for p in t["partitions"]}  # fmt: skip

    def _commit_body(self, offsets: dict[TP, int] | None) -> dict[str, Any]:
        offsets = offsets if offsets is not None else {
            tp: self.positions[tp] for tp in self.assigned if self.positions.get(tp, -1) >= 0}
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for (t, p), off in offsets.items():
            by_topic.setdefault(t, []).append(
                {"partition_index": p, "committed_offset": off, "committed_metadata": ""})
        return {"group_id": self.group_id, "generation_id": self.generation,
                "member_id": self.member_id,
                "topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()]}  # fmt: skip

    def commit(self, offsets: dict[TP, int] | None = None) -> None:
        """Commit (by default: the positions of everything returned so far); waits."""
        r = self._coordinator().request(apis.OFFSET_COMMIT, self._commit_body(offsets))
        _raise_first(r)

    def commit_async(self, offsets: dict[TP, int] | None = None,
                     callback: Callable[[Exception | None], None] | None = None) -> None:  # fmt: skip
        self._coordinator().send(apis.OFFSET_COMMIT, self._commit_body(offsets))
        self._pending_commits.append(callback)

    def _drain_commits(self) -> None:
        while self._pending_commits and self._coord is not None:
            cb = self._pending_commits.pop(0)
            err: Exception | None = None
            try:
                _raise_first(self._coord.receive())
            except E.KafkaError as e:
                err = e
            if cb:
                cb(err)

    def close(self) -> None:
        try:
            self._drain_fetches()
            if self.group_id and self.member_id and self._coord is not None:
                self._drain_commits()
                self._coord.request(apis.LEAVE_GROUP, {"group_id": self.group_id,
                                                       "member_id": self.member_id,
                                                       "members": [{"member_id": self.member_id}]})
        except OSError:
            pass
        finally:
            self.cluster.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _raise_first(resp: dict[str, Any]) -> None:
    for t in resp["topics"]:
        for p in t["partitions"]:
            if p["error_code"]:
                raise E.KafkaError(p["error_code"], f"OffsetCommit {t['name']}-{p['partition_index']}")
