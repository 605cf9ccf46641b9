"""What both the producer and the consumer need: bootstrap, metadata, a connection
per broker, and the leader of each partition."""

from __future__ import annotations

import logging
from typing import Any

from .connection import BrokerConnection
from .protocol import apis
from .protocol import errors as E

log = logging.getLogger(__name__)


def parse_bootstrap(bootstrap: str | list[str]) -> list[tuple[str, int]]:
    items = bootstrap.split(",") if isinstance(bootstrap, str) else bootstrap
    out = []
    for item in items:
        host, _, port = item.strip().rpartition(":")
        out.append((host or "127.0.0.1", int(port)))
    return out


class Cluster:
    def __init__(self, bootstrap: str | list[str], client_id: str = "syslab") -> None:
        self.bootstrap = parse_bootstrap(bootstrap)
        self.client_id = client_id
        self.brokers: dict[int, tuple[str, int]] = {}
        self.leaders: dict[tuple[str, int], int] = {}
        self.partitions: dict[str, int] = {}
        self._conns: dict[tuple[int, str], BrokerConnection] = {}
        self._any: BrokerConnection | None = None

    def any_connection(self) -> BrokerConnection:
        if self._any is None:
            err: Exception | None = None
            for host, port in self.bootstrap:
                try:
                    self._any = BrokerConnection(host, port, self.client_id)
                    break
                except OSError as e:
                    err = e
            if self._any is None:
                raise ConnectionError(f"no bootstrap broker reachable: {err}")
        return self._any

    def connection(self, node: int, purpose: str = "main") -> BrokerConnection:
        """One connection per (broker, purpose): a long-polling fetch must not block
        the coordinator's heartbeats, so they use different purposes."""
        c = self._conns.get((node, purpose))
        if c is None:
            host, port = self.brokers[node]
            c = self._conns[(node, purpose)] = BrokerConnection(host, port, self.client_id)
        return c

    def drop(self, node: int, purpose: str) -> None:
        c = self._conns.pop((node, purpose), None)
        if c is not None:
            c.close()

    def refresh(self, topics: list[str] | None, allow_create: bool = True) -> dict[str, Any]:
        conn = self.any_connection()
        body = {"topics": None if topics is None else [{"name": t} for t in topics],
                "allow_auto_topic_creation": allow_create}  # fmt: skip
        try:
            resp = conn.request(apis.METADATA, body)
        except OSError:
            conn.close()  # the broker went away: the next call reconnects
            self._any = None
            raise
        self.brokers = {b["node_id"]: (b["host"], b["port"]) for b in resp["brokers"]}
        for t in resp["topics"]:
            if t["error_code"] != 0:
                continue
            self.partitions[t["name"]] = len(t["partitions"])
            for p in t["partitions"]:
                self.leaders[(t["name"], p["partition_index"])] = p["leader_id"]
        return resp

    def partition_count(self, topic: str) -> int:
        if topic not in self.partitions:
            self.refresh([topic])
        n = self.partitions.get(topic)
        if not n:
            raise E.KafkaError(E.UNKNOWN_TOPIC_OR_PARTITION, topic)
        return n

    def leader(self, topic: str, partition: int) -> int:
        node = self.leaders.get((topic, partition))
        if node is None:
            self.refresh([topic])
            node = self.leaders.get((topic, partition))
        if node is None:
            raise E.KafkaError(E.UNKNOWN_TOPIC_OR_PARTITION, f"{topic}-{partition}")
        return node

    def close(self) -> None:
        for c in self._conns.values():
            c.close()
        self._conns.clear()
        if self._any is not None:
            self._any.close()
            self._any = None
