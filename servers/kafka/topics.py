"""The broker's topics: name -> partitions (each a ``PartitionLog``), on disk.

A topic is a set of directories ``<topic>-<n>`` plus ``<topic>.topic``, a small
JSON file written atomically (temp + fsync + rename) holding its partition count
and config overrides; the file is the topic's commit point: directories without
it (a crash mid-create) are removed at start-up, and a delete removes it first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
from dataclasses import replace
from pathlib import Path

from storage.record import write_atomically

from .log import LogConfig, PartitionLog

log = logging.getLogger(__name__)

# Kafka's own rule (Topic.validate): legal characters, at most 249 of them.
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
# A ceiling on partitions per topic and on topics: each partition holds three open
# files, and auto-creation lets any client make topics by naming them.
MAX_PARTITIONS = 1000
MAX_TOPICS = 1000


class TopicError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Partition:
    """A log plus the waiters of long-polling fetches on it."""

    def __init__(self, topic: str, index: int, log_: PartitionLog) -> None:
        self.topic = topic
        self.index = index
        self.log = log_
        self.producers: dict[int, tuple[int, int, int]] = {}  # pid -> (epoch, last seq, offset)
        self._arrived = asyncio.Event()

    def notify(self) -> None:
        self._arrived.set()
        self._arrived = asyncio.Event()

    def arrival(self) -> asyncio.Event:
        return self._arrived


class Topics:
    def __init__(self, root: Path, defaults: LogConfig, default_partitions: int = 1) -> None:
        self.root = root
        self.defaults = defaults
        self.default_partitions = default_partitions
        self.topics: dict[str, list[Partition]] = {}
        root.mkdir(parents=True, exist_ok=True)
        self._load()

    def _load(self) -> None:
        for meta in sorted(self.root.glob("*.topic")):
            info = json.loads(meta.read_text())
            self._open(meta.stem, info["partitions"], info.get("configs", {}))
        known = {f"{t}-{i}" for t, ps in self.topics.items() for i in range(len(ps))}
        for d in self.root.iterdir():
            if d.is_dir() and d.name not in known and d.name != "__consumer_offsets":
                log.warning("removing %s: no topic file (a create or delete cut short)", d)
                shutil.rmtree(d, ignore_errors=True)

    def _config(self, configs: dict[str, str]) -> LogConfig:
        cfg = self.defaults
        names = {"segment.bytes": "segment_bytes", "retention.bytes": "retention_bytes",
                 "retention.ms": "retention_ms"}  # fmt: skip
        for k, v in configs.items():
            if k in names:
                cfg = replace(cfg, **{names[k]: int(v)})
        return cfg

    def _open(self, name: str, n: int, configs: dict[str, str]) -> None:
        cfg = self._config(configs)
        parts: list[Partition] = []
        try:
            for i in range(n):
                parts.append(Partition(name, i, PartitionLog(self.root / f"{name}-{i}", cfg)))
        except OSError:
            for p in parts:
                p.log.close()
            raise
        self.topics[name] = parts

    def create(self, name: str, partitions: int, configs: dict[str, str] | None = None) -> None:
        if name in self.topics:
            raise TopicError(36, f"topic {name!r} already exists")
        if not _TOPIC_NAME.match(name) or name in (".", ".."):
            raise TopicError(17, f"illegal topic name {name!r}")
        if len(self.topics) >= MAX_TOPICS:
            raise TopicError(44, f"already {MAX_TOPICS} topics")  # POLICY_VIOLATION
        if partitions == -1:
            partitions = self.default_partitions
        if not 1 <= partitions <= MAX_PARTITIONS:
            raise TopicError(37, f"partitions must be 1..{MAX_PARTITIONS}")
        configs = configs or {}
        try:
            self._config(configs)
        except ValueError:
            raise TopicError(40, f"bad config {configs}") from None  # INVALID_CONFIG
        try:
            self._open(name, partitions, configs)
        except OSError as e:  # out of file descriptors or disk: refuse, keep serving
            for i in range(partitions):
                shutil.rmtree(self.root / f"{name}-{i}", ignore_errors=True)
            raise TopicError(-1, f"cannot create {name!r}: {e}") from None
        write_atomically(self.root / f"{name}.topic",
                         [json.dumps({"partitions": partitions, "configs": configs}).encode()])
        log.info("created topic %s with %d partition(s)", name, partitions)

    def delete(self, name: str) -> None:
        parts = self.topics.pop(name, None)
        if parts is None:
            raise TopicError(3, f"unknown topic {name!r}")
        (self.root / f"{name}.topic").unlink(missing_ok=True)
        for p in parts:
            p.log.destroy()
        log.info("deleted topic %s", name)

    def partition(self, topic: str, index: int) -> Partition | None:
        ps = self.topics.get(topic)
        if ps is None or not 0 <= index < len(ps):
            return None
        return ps[index]

    def all_partitions(self) -> list[Partition]:
        return [p for ps in self.topics.values() for p in ps]

    def close(self) -> None:
        for p in self.all_partitions():
            p.log.close()
