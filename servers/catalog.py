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
test suite for real: every full collection (``make test``, or the first
``make list``) leaves the counts in ``.run/test-counts.json``, and ``make
list`` reuses them until a test file changes.
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
    # Extra flags the demo passes; ``{NAME}`` is the port server NAME got (started first).
    args: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return f"servers.{self.name}"


def _rows(*rows: Exercise) -> dict[str, Exercise]:
    return {r.id: r for r in rows}


EXERCISES: dict[str, Exercise] = _rows(
    # N. Networking
    Exercise("N1", "TCP server accepting a 1GB file (POST and raw stream)", room="servers/files",
             run="make serve-files", bench="make bench-upload"),  # fmt: skip
    Exercise("N2", "Server-sent events", room="servers/sse", run="make serve-sse", bench="make bench-sse"),
    Exercise("N3", "Server-sent events through a message broker", room="servers/sse",
             run="make serve-sse ARGS='--redis redis://127.0.0.1:6379'"),  # fmt: skip
    Exercise("N4", "Server-sent events on React components", room="web/sse",
             run="make serve-sse (then open http://127.0.0.1:8095/)"),  # fmt: skip
    Exercise("N5", "Mock EC2 creation: short vs long polling", room="servers/ec2", run="make serve-ec2",
             bench="make bench-polling"),  # fmt: skip
    Exercise("N6", "A load balancer", room="servers/lb", run="make serve-lb", bench="make bench-lb"),
    Exercise(
        "N7",
        "Consistent hashing with virtual nodes",
        room="clients/hashring",
        bench="make bench-hashring",
    ),
    Exercise("N8", "A toy CDN with failover; Popular Searches JSON", room="servers/cdn",
             run="make serve-cdn", bench="make bench-cdn"),  # fmt: skip
    Exercise("N9", "OG images generated in the backend, served via the CDN", room="servers/cdn",
             run="make serve-cdn", bench="make bench-cdn"),  # fmt: skip
    Exercise("N10", "Pre-signed URL upload on S3 (SigV4)", room="servers/s3", run="make serve-s3",
             bench="make bench-s3"),  # fmt: skip
    Exercise("N11", "JWT authentication", room="servers/auth", run="make serve-auth",
             bench="make bench-jwt"),
    Exercise("N12", "Lazy loading of images", room="web/lazy", run="make serve-cdn"),
    Exercise("N13", "HLS streaming server", room="servers/hls", run="make serve-hls"),
    Exercise("N14", ("In-memory cache like Redis: strings, lists, hashes, sets, sorted sets, streams, "
              "HyperLogLog, geo, bitmaps, Lua; AUTH and ACL users, MONITOR/CLIENT/SLOWLOG "
              "introspection, persistence (multi-part AOF with rewrite, snapshots, save points, "
              "SHUTDOWN)"),
             room="servers/cache", run="make serve-cache ARGS='--dir .run/cache --appendonly yes'",
             bench="make bench-cache"),  # fmt: skip
    Exercise("N15", "Real-time chat on Socket.IO", room="servers/chat",
             run="make serve-chat (then open http://127.0.0.1:8098/)",
             bench="make bench-chat && make bench-websocket && make bench-autobahn"),  # fmt: skip
    Exercise("N16", "WebSocket disconnects written to Kafka", room="servers/chat",
             run="make serve-chat ARGS='--kafka 127.0.0.1:9093'"),  # fmt: skip
    Exercise("N17", "Star-topology broadcast over Redis pub/sub", room="servers/chat",
             run="make serve-chat ARGS='--redis redis://127.0.0.1:6379'", bench="make bench-chat"),  # fmt: skip
    Exercise("N18", "GFS: master, chunkservers, leases, record append", room="servers/gfs",
             run="make serve-gfs", bench="make bench-gfs"),  # fmt: skip
    # M. Messaging
    Exercise(
        "M1",
        "RabbitMQ and Kafka producers and consumers",
        room="servers/kafka",
        run="make serve-kafka",
        bench="make bench-messaging && make bench-kafka",
    ),
    Exercise(
        "M2",
        "Five approaches to count posts per hashtag",
        room="bench",
        bench="make bench-hashtags",
    ),
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
    Exercise(
        "D7",
        "A toy KV store on MySQL with hash/range sharding",
        room="servers/kvsql",
        run="make serve-kvsql",
        bench="make bench-kvsql",
    ),
    Exercise(
        "D8",
        "Distributed transactions with 2PC (Zomato ordering)",
        room="servers/orders",
        run="make serve-orders",
        bench="make bench-twopc",
    ),
    Exercise(
        "D9",
        "Blogging app sharded by user id, unique blog ids",
        room="servers/blog",
        run="make serve-blog",
    ),
    Exercise(
        "D10",
        "ID generation schemes compared",
        room="clients/ids",
        run="make serve-ids",
        bench="make bench-ids",
    ),
    Exercise(
        "D11",
        "UUID keys, UPSERT vs REPLACE, pagination benchmarks",
        room="bench/mysql_keys",
        bench="make bench-mysql_keys",
    ),
    Exercise(
        "D12",
        "Unread-message indicator over 1M rows: index choices",
        room="bench/unread",
        bench="make bench-unread",
    ),
    Exercise("D13", "A fair multi-threaded program", room="bench", bench="make bench-fair"),
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
    Exercise(
        "S7", "An LSM-tree key-value store", room="storage/lsm", run="make serve-lsm",
        bench="make bench-kv",
    ),  # fmt: skip
    Exercise("S8", "B+ trees", room="storage/bptree", run="make serve-bptree",
             bench="make bench-kv"),  # fmt: skip
    Exercise(
        "S9", "Bloom filters: FPR vs size vs hashes; deletable filters", room="storage/bloom",
        bench="make bench-bloom",
    ),  # fmt: skip
)


SERVERS: dict[str, Server] = {
    s.name: s
    for s in (
        Server("echo", 7007, "nc 127.0.0.1 {port}"),
        Server("http", 8080, "curl -s http://127.0.0.1:{port}/hello"),
        Server("bitcask", 6381, "redis-cli -p {port}", ("S5",)),
        Server("lsm", 6382, "redis-cli -p {port} INFO lsm", ("S7", "S9")),
        Server("cache", 6380, "redis-cli -p {port}", ("N14",)),
        Server("bptree", 6383, "redis-cli -p {port}", ("S8",)),
        Server(
            "profile", 8081, "curl -s -XPOST 127.0.0.1:{port}/users -d '{{\"name\":\"Ada\",\"email\":\"ada@example.com\"}}'", ("D4",)
        ),
        Server("orders", 8087, "curl -s -XPOST 127.0.0.1:{port}/orders -d '{{\"item\":1,\"qty\":2}}'",
               ("D8",)),  # fmt: skip
        Server("shards", 8088, "curl -s -XPOST 127.0.0.1:{port}/users -d '{{\"name\":\"Ada\"}}'",
               ("D3",)),  # fmt: skip
        Server("auth", 8089, "curl -s -XPOST 127.0.0.1:{port}/login -d '{{\"username\":\"ada\",\"password\":\"lovelace\"}}'",
               ("N11",)),  # fmt: skip
        Server("notes", 8090, "curl -s 127.0.0.1:{port}/notes -H 'Authorization: Bearer <access_token>'",
               ("N11",), ("--auth-url", "http://127.0.0.1:{auth}")),  # fmt: skip
        Server("blog", 8091, "curl -s -XPOST 127.0.0.1:{port}/users/7/blogs -d '{{\"title\":\"hi\"}}'", ("D9",)),
        Server("ids", 8092, "curl -s -XPOST '127.0.0.1:{port}/ranges?size=100'", ("D10",)),
        Server("kafka", 9093, "kcat -b 127.0.0.1:{port} -L", ("M1",)),
        Server("s3", 8093, "curl -s -XPOST 127.0.0.1:{port}/_presign -d '{{\"bucket\":\"demo\",\"key\":\"a.txt\"}}'",
               ("N10",)),  # fmt: skip
        Server("kvsql", 6384, "redis-cli -p {port} SET k v EX 60", ("D7",)),
        Server("files", 8094, "curl -sT README.md 127.0.0.1:{port}/files/readme.md; "
               "printf 'LIST\\n' | nc -N 127.0.0.1 9094", ("N1",)),  # fmt: skip
        Server("sse", 8095, "curl -sN 127.0.0.1:{port}/events & curl -s -XPOST 127.0.0.1:{port}/publish "
               "-d '{{\"event\":\"hello\",\"data\":\"hi\"}}'", ("N2", "N3", "N4")),  # fmt: skip
        Server("chat", 8098, "open http://127.0.0.1:{port}/ (two tabs), or curl -s "
               "'127.0.0.1:{port}/socket.io/?EIO=4&transport=polling'", ("N15", "N16", "N17")),  # fmt: skip
        Server("hls", 8099, "curl -s http://127.0.0.1:{port}/media/vod/master.m3u8", ("N13",)),
        Server("lb", 8097, "curl -s 127.0.0.1:{port}/ ; curl -s 127.0.0.1:8197/_lb/status", ("N6",)),
        Server("ec2", 8096, "curl -s -XPOST 127.0.0.1:{port}/instances -d '{{\"delay\":3}}' "
               "(then GET /instances/ID?wait=20&state=pending)", ("N5",)),  # fmt: skip
        Server("cdn", 8100, "curl -si '127.0.0.1:8102/api/popular-searches?region=eu' (edge-1 of 3; origin 8100)",
               ("N8", "N9", "N12")),  # fmt: skip
        Server("gfs", 8110, "head -c 300000 /dev/urandom > /tmp/blob && python -m clients.gfs --master "
               "127.0.0.1:{port} put /tmp/blob /demo/blob && python -m clients.gfs --master 127.0.0.1:{port} "
               "stat /demo/blob", ("N18",)),  # fmt: skip
        # Reserved for servers being built (keep one table; pick a free number):
        #   lsm 6382, bptree 6383, files 8094/9094, sse 8095, ec2 8096, lb 8097,
        #   chat 8098, hls 8099, cdn 8100-8104, gfs 8110-8113
    )
}


def module_exists(module: str) -> bool:
    """True when ``python -m module`` would find something in this repo."""
    path = REPO_ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


COUNTS_CACHE = REPO_ROOT / ".run" / "test-counts.json"  # written by every full collection


def cached_counts() -> dict[str, int] | None:
    """The counts of the last full collection, if no test file changed since."""
    try:
        when = COUNTS_CACHE.stat().st_mtime
    except OSError:
        return None
    if any(p.stat().st_mtime > when for p in (REPO_ROOT / "tests").glob("*.py")):
        return None
    return {k: int(v) for k, v in json.loads(COUNTS_CACHE.read_text()).items()}


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


COMMANDS = [
    ("make setup", "install the OS packages and the Python venv (idempotent; the others run it)"),
    ("make test", "the whole test suite, against real services it starts itself"),
    ("make demo", "start every server below, print where each is; Ctrl-C stops them"),
    ("make list", "the catalog: every exercise, its room, its commands, its tests"),
    ("make serve-NAME", "one server in the foreground; flags through ARGS='--port 7000'"),
    ("make bench-NAME", "one experiment; results in bench/results/ (JSON, PNG)"),
    ("make bench", "every experiment, one after the other"),
    ("make report", "the lab index: one HTML page of every exercise and its latest results"),
    ("make load-NAME", "a bounded headless locust run against one server"),
    ("make lint", "ruff and mypy"),
    ("make clean", "remove .run/, bench/results/ and test caches"),
]
NOT_EXPERIMENTS = {"__init__", "common", "all", "load"}

# The other ``python -m`` programs a user may run (servers and experiments are listed
# above). ``tests/test_catalog.py`` finds every entry point in the tree and checks
# it is here (or is a test's child process, INTERNAL).
TOOLS = [
    ("python -m storage.check PATH [--repair]", "verify every checksum in a store's files; name a damaged "
     "record by file and offset"),
    ("python -m clients.files put|get|resume", "upload or download a file to servers.files (HTTP or raw "
     "TCP), with a progress bar (N1)"),
    ("python -m clients.gfs ls|put|get|rm|append|records|stat", "the GFS client: files across chunkservers, "
     "record append, where each chunk lives (N18)"),
    ("python -m harness.redis_cluster", "a real Redis Cluster (redis-server nodes) in the foreground (O4)"),
    ("python -m servers.report", "the lab index page (make report)"),
]
INTERNAL = {"storage.kv.crashchild", "storage.enginechild"}  # children the crash tests start and SIGKILL


def experiments() -> list[tuple[str, str]]:
    """(name, first line of its docstring) for every ``bench/NAME.py``, read without importing."""
    import ast

    out = []
    for path in sorted((REPO_ROOT / "bench").glob("*.py")):
        if path.stem in NOT_EXPERIMENTS:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        out.append((path.stem, first.replace("``", "")))
    for path in sorted((REPO_ROOT / "bench").glob("*/__main__.py")):
        init = path.parent / "__init__.py"
        pkg_doc = ast.get_docstring(ast.parse(init.read_text())) if init.exists() else None
        out.append((path.parent.name, pkg_doc.strip().splitlines()[0] if pkg_doc and pkg_doc.strip() else ""))
    return sorted(out)


def render_help() -> str:
    """What ``make`` and ``make help`` print: the commands, the servers, the experiments."""
    lines = ["syslab: distributed-systems building blocks from raw sockets and files", "", "Commands:"]
    lines += [f"  {cmd:<18} {what}" for cmd, what in COMMANDS]
    lines += ["", "Servers (make serve-NAME; make demo starts them all):"]
    lines += [f"  {s.name:<12} 127.0.0.1:{s.port:<6} try: {s.try_it.format(port=s.port)}"
              for s in SERVERS.values()]  # fmt: skip
    lines += ["", "Tools (python -m ...; each answers --help):"]
    lines += [f"  {cmd:<42} {what}" for cmd, what in TOOLS]
    lines += ["", "Experiments (make bench-NAME):"]
    lines += [f"  {name:<16} {first[:90]}" for name, first in experiments()]
    lines += ["", "Example: make serve-cache ARGS='--port 7000 --maxmemory 64mb'; make bench-hashring ARGS='--keys 10000'"]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:] == ["--make-help"]:
        print(render_help())
        return
    counts = cached_counts()
    if counts is None:  # first run, or a test file changed: collect once (a few seconds)
        counts = count_tagged_tests()
    try:
        print(render(counts))
    except BrokenPipeError:  # `make list | head`: the reader left, nothing to report
        sys.stderr.close()


if __name__ == "__main__":
    main()
