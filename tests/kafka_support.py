"""Helpers shared by the Kafka tests: a broker child, tansu, polling with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.procs import Child, free_port, python_module
from harness.tansu import tansu


def start_broker(data_dir: Path, *args: str, port: int | None = None) -> Child:
    child = python_module("servers.kafka", "--dir", str(data_dir), "--rebalance-delay", "0.2",
                          *args, port=port or free_port())  # fmt: skip
    return child.start()


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``cond`` until it returns something truthy (readiness, not a sleep)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise AssertionError(f"timed out waiting for {what}")



def start_tansu(port: int | None = None) -> Child:
    """A memory-only tansu broker on a free port (advertising that port)."""
    return tansu(port).start()


def fetch_raw(conn: Any, topic: str, offset: int = 0, partition: int = 0) -> bytes:
    """The record set one Fetch returns (no waiting), asserting no error code."""
    from clients.kafka.protocol import apis

    resp = conn.request(apis.FETCH, {"max_wait_ms": 0, "min_bytes": 0, "topics": [
        {"topic": topic, "partitions": [{"partition": partition, "fetch_offset": offset,
                                         "partition_max_bytes": 1 << 22}]}]})  # fmt: skip
    part = resp["responses"][0]["partitions"][0]
    assert part["error_code"] == 0, part
    return part["records"]
