"""The catalog: every exercise syslab answers, where it lives, how to run it.

Two tables, kept honest by ``tests/test_catalog.py``:

* ``EXERCISES``: one row per id in ../shared/EXERCISES.md (N1..S9). ``room`` is
  the folder that answers it, ``None`` while nothing does; ``run`` and
  ``bench`` are the commands a user types. A row that names a missing room or
  module fails the test.
* ``SERVERS``: the one table of default ports. ``make demo`` starts every server
  listed here; none uses a standard port of a real service (MariaDB 3306,
  Redis 6379, RabbitMQ 5672, PostgreSQL 5432 may be running on the machine).

``python -m servers.catalog`` (``make list``) prints both, with how many tests
carry each exercise's ``@pytest.mark.exercise`` tag, counted by collecting the
test suite for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    room: str | None = None  # e.g. "servers/cache"; None until something answers it
    run: str | None = None  # e.g. "make serve-cache"
    bench: str | None = None  # e.g. "make bench-cache"


@dataclass(frozen=True)
class Server:
    """A server ``make demo`` starts: ``python -m servers.<name> --port <port>``."""

    name: str
    port: int
    try_it: str  # a command to poke it with; {port} is filled in
    exercises: tuple[str, ...] = ()
    args: tuple[str, ...] = ()  # extra flags the demo passes

    @property
    def module(self) -> str:
        return f"servers.{self.name}"


def _rows(*rows: Exercise) -> dict[str, Exercise]:
    return {r.id: r for r in rows}


EXERCISES: dict[str, Exercise] = _rows(
    # N. Networking
    Exercise("N1", "TCP server accepting a 1GB file (POST and raw stream)"),
    Exercise("N2", "Server-sent events"),
    Exercise("N3", "Server-sent events through a message broker"),
    Exercise("N4", "Server-sent events on React components"),
    Exercise("N5", "Mock EC2 creation: short vs long polling"),
    Exercise("N6", "A load balancer"),
    Exercise(
        "N7",
        "Consistent hashing with virtual nodes",
        room="clients/hashring",
        bench="make bench-hashring",
    ),
    Exercise("N8", "A toy CDN with failover; Popular Searches JSON"),
    Exercise("N9", "OG images generated in the backend, served via the CDN"),
    Exercise("N10", "Pre-signed URL upload on S3 (SigV4)"),
    Exercise("N11", "JWT authentication"),
    Exercise("N12", "Lazy loading of images"),
    Exercise("N13", "HLS streaming server"),
    Exercise(
        "N14",
        "In-memory single-node cache like Redis",
        room="servers/cache",
        run="make serve-cache",
        bench="make bench-cache",
    ),
    Exercise("N15", "Real-time chat on Socket.IO"),
    Exercise("N16", "WebSocket disconnects written to Kafka"),
    Exercise("N17", "Star-topology broadcast over Redis pub/sub"),
    Exercise("N18", "GFS: master, chunkservers, leases, record append"),
    # M. Messaging
    Exercise("M1", "RabbitMQ and Kafka producers and consumers"),
    Exercise("M2", "Five approaches to count posts per hashtag"),
    # D. Relational databases
    Exercise(
        "D1", "A thin MySQL wire client", room="clients/mysql", bench="make bench-mysql_client"
    ),
    Exercise(
        "D2",
        "A connection pool on a bounded blocking queue",
        room="clients/pool",
        bench="make bench-pool",
    ),
    Exercise(
        "D3", "Sharding and routing from an API server", room="servers/shards", run="make serve-shards"
    ),
    Exercise(
        "D4",
        "A local read replica; flag-driven consistent reads",
        room="servers/profile",
        run="make serve-profile",
    ),
    Exercise(
        "D5", "Airline check-in: FOR UPDATE and SKIP LOCKED", room="bench", bench="make bench-checkin"
    ),
    Exercise(
        "D6", "Hit, detect and retry a deadlock", room="clients/mysql", bench="make bench-deadlock"
    ),
    Exercise("D7", "A toy KV store on MySQL with hash/range sharding"),
    Exercise(
        "D8",
        "Distributed transactions with 2PC (Zomato ordering)",
        room="servers/orders",
        run="make serve-orders",
        bench="make bench-twopc",
    ),
    Exercise("D9", "Blogging app sharded by user id, unique blog ids"),
    Exercise("D10", "ID generation schemes compared"),
    Exercise("D11", "UUID keys, UPSERT vs REPLACE, pagination benchmarks"),
    Exercise("D12", "Unread-message indicator over 1M rows: index choices"),
    Exercise("D13", "A fair multi-threaded program"),
    # O. Other data stores
    Exercise("O1", "Ingest into MongoDB; an aggregation pipeline"),
    Exercise("O2", "Impact of denormalization (embedded arrays)"),
    Exercise("O3", "Ingest into Neo4j and paginate"),
    Exercise(
        "O4",
        "Redis in cluster mode: how data is distributed",
        room="clients/resp",
        bench="make bench-redis_cluster",
    ),
    # S. Storage engines
    Exercise(
        "S1",
        "A word dictionary in CSV and in Bitcask",
        room="storage/dictionary",
        bench="make bench-dictionary",
    ),  # fmt: skip
    Exercise("S2", "The partial write problem", room="storage", bench="make bench-torn_write"),
    Exercise("S3", "Checksums: detect corrupt data", room="storage"),
    Exercise("S4", "Database recovery", room="storage/kv", bench="make bench-wal"),
    Exercise(
        "S5",
        "Bitcask with merge and compaction",
        room="storage/bitcask",
        run="make serve-bitcask",
        bench="make bench-bitcask",
    ),  # fmt: skip
    Exercise("S6", "Sequential vs random IO", room="bench", bench="make bench-io"),
    Exercise("S7", "An LSM-tree key-value store"),
    Exercise("S8", "B+ trees"),
    Exercise("S9", "Bloom filters: FPR vs size vs hashes; deletable filters"),
)


SERVERS: dict[str, Server] = {
    s.name: s
    for s in (
        Server("echo", 7007, "nc 127.0.0.1 {port}"),
        Server("http", 8080, "curl -s http://127.0.0.1:{port}/hello"),
        Server("bitcask", 6381, "redis-cli -p {port}", ("S5",)),
        Server("cache", 6380, "redis-cli -p {port}", ("N14",)),
        Server(
            "profile", 8081, "curl -s -XPOST 127.0.0.1:{port}/users -d '{{\"name\":\"Ada\",\"email\":\"ada@example.com\"}}'", ("D4",)
        ),
        Server("orders", 8087, "curl -s -XPOST 127.0.0.1:{port}/orders -d '{{\"item\":1,\"qty\":2}}'",
               ("D8",)),  # fmt: skip
        Server("shards", 8088, "curl -s -XPOST 127.0.0.1:{port}/users -d '{{\"name\":\"Ada\"}}'",
               ("D3",)),  # fmt: skip
        # Reserved for servers being built (keep one table; pick a free number):
        #   http 8080, profile 8081, sse 8082, upload 8083, cache 6380, bitcask 6381
    )
}


def module_exists(module: str) -> bool:
    """True when ``python -m module`` would find something in this repo."""
    path = REPO_ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def count_tagged_tests() -> dict[str, int]:
    """Collect the suite (without running it) and count tests per exercise tag."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        env = dict(os.environ, SYSLAB_EXERCISE_COUNTS=str(out))
        subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        if not out.exists():
            return {}
        return {k: int(v) for k, v in json.loads(out.read_text()).items()}


def render(counts: dict[str, int]) -> str:
    lines = [f"{'id':<4} {'tests':>5}  {'room':<22} {'run / bench':<36} title"]
    for ex in EXERCISES.values():
        cmds = " ; ".join(c for c in (ex.run, ex.bench) if c) or "-"
        lines.append(
            f"{ex.id:<4} {counts.get(ex.id, 0):>5}  {ex.room or '(not built)':<22} {cmds:<36} {ex.title}"
        )
    built = sum(1 for ex in EXERCISES.values() if ex.room)
    lines.append(f"\n{built} of {len(EXERCISES)} exercises have a room.\n")
    lines.append("servers (make demo starts them all; make serve-NAME starts one):")
    for s in SERVERS.values():
        lines.append(f"  {s.name:<10} 127.0.0.1:{s.port:<6} try: {s.try_it.format(port=s.port)}")
    return "\n".join(lines)


def main() -> None:
    print(render(count_tagged_tests()))


if __name__ == "__main__":
    main()
