"""D10: the id generators side by side: throughput, and the cost of their ids as primary keys.

``python -m bench.ids [--seconds S] [--threads T] [--keys K] [--rounds R] [--quick] [--out DIR]``
(``make bench-ids``)

Part 1, throughput: each generator hands out ids for S seconds from 1 thread and
from T threads (the MySQL-backed ones with a connection per thread), interleaved
over R rounds; ids/s min / median / max. The reference is the MySQL counter
(``UPDATE ... LAST_INSERT_ID(v + 1)``: a round trip and a commit per id).
Expect three tiers, for three reasons: in-process generators (Snowflake,
ObjectId, the range client between ranges) cost a lock and some arithmetic
(hundreds of thousands per second on this 2-core machine), and threads share
one GIL, so T threads are far from T times one; the range service adds one
HTTP round trip and an fsync per 1,000 ids; the counter, the stored procedure
and Flickr's ticket servers cost a network round trip and a transaction per id
(the procedure also a row lock and two statements): threads help the counter
and the procedure until the server's commit rate is the limit, while Flickr's
REPLACE queues every client on one row's lock (the table says how much).

Part 2, index locality: K ids made by T concurrent threads of each generator,
inserted in the order they were made as the primary key of a table (next to a
random UUIDv4, the reference). Generators whose ids grow with time (all of
them: Snowflake, ObjectId by second, ranges by block, tickets by counter; threads
interleave so a few places near the edge take inserts) append
near the right edge of the B+tree; the random key splits pages in the middle.
The table's bytes per row and page splits say so (``bench/mysql_keys`` does
the same at 1M rows). "Nearly" matters: ids that arrive slightly out of order
(threads interleaving inside one millisecond; Flickr's odd and even servers
drifting apart, so inserts alternate between two places in the key space)
split the hot pages in the middle and leave them part-empty.

Each table is loaded R times, interleaved: rows/s min / median / max, bytes per
row and splits of the median round. Ratios are the medians' against the
reference's (higher is better); ``ids.png`` draws the medians with min..max
whiskers.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

from clients.ids import (
    MySQLCounter,
    ObjectIdGenerator,
    RangeClient,
    Snowflake,
    SqlSnowflake,
    TicketServers,
)
from clients.ids.flickr import server_args
from clients.mysql import Connection
from harness.procs import free_port, python_module
from harness.services import MariaDB

from . import common
from .common import Row, header, interleaved, measured, median_bars, merge_rounds, save, table
from .sqlbench import (
    Counters,
    common_flags,
    positive,
    run_bench,
    table_bytes,
)

REFERENCE = "mysql counter"
KINDS = (
    "snowflake",
    "objectid",
    "range service",
    "mysql counter",
    "sql snowflake",
    "flickr tickets",
)
Maker = Callable[[], Callable[[], Any]]  # makes one thread's next_id


@contextmanager
def services() -> Iterator[dict[str, Any]]:
    """One MariaDB for the counter and the procedure, two ticket servers, the range service."""
    with ExitStack() as stack:
        main, *tickets = [MariaDB(), *(MariaDB(extra_args=server_args(i)) for i in range(2))]
        for m in (main, *tickets):
            stack.callback(m.stop)
        with ThreadPoolExecutor(3) as pool:  # in parallel: each takes a couple of seconds
            list(pool.map(lambda m: m.start(), (main, *tickets)))
        d = stack.enter_context(tempfile.TemporaryDirectory(prefix="syslab-ids-"))
        ranges = stack.enter_context(python_module("servers.ids", "--dir", d, port=free_port()))
        with Connection.from_address(main.address) as c:
            MySQLCounter.install(c, "bench")
            SqlSnowflake.install(c)
        TicketServers.install([t.address for t in tickets])
        yield {"main": main.address, "tickets": [t.address for t in tickets], "ranges": ranges.port}


def makers(env: dict[str, Any]) -> dict[str, Maker]:
    flake, oid = Snowflake(worker=2), ObjectIdGenerator()
    workers = iter(range(100, 1024))
    return {
        "snowflake": lambda: flake.next_id,
        "objectid": lambda: oid.next_bytes,
        "range service": lambda: RangeClient("127.0.0.1", env["ranges"], 1000).next_id,
        "mysql counter": lambda: (
            MySQLCounter(Connection.from_address(env["main"]), "bench").next_id
        ),
        "sql snowflake": lambda: (
            SqlSnowflake(Connection.from_address(env["main"]), next(workers)).next_id
        ),
        "flickr tickets": lambda: TicketServers(env["tickets"]).next_id,
    }


def drive(make: Maker, threads: int, seconds: float, keep: int = 0) -> tuple[float, list[Any]]:
    """ids/s from ``threads`` threads for ``seconds`` (or until ``keep`` ids are kept, when
    given); the kept ids are in the order they were made, threads interleaved."""
    fns = [make() for _ in range(threads)]
    counts = [0] * threads
    made: list[Any] = []
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def run(i: int) -> None:
        start.wait()
        f, n = fns[i], 0
        while time.perf_counter() < deadline[0] and (not keep or len(made) < keep):
            x = f()
            if keep:
                made.append(x)  # list.append is atomic: the interleaved order of making
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - t0), made


def locality(conn: Connection, name: str, ids: list[Any], key: str) -> dict[str, Any]:
    table_ = "ids_" + re.sub(r"\W+", "_", name).strip("_")
    conn.query(f"DROP TABLE IF EXISTS {table_}")
    conn.query(f"CREATE TABLE {table_} (id {key} NOT NULL PRIMARY KEY, payload CHAR(64) NOT NULL)")
    counters = Counters(conn, "GLOBAL", ["Innodb_buffer_pool_reads"], ["index_page_splits"])
    before = counters.read()
    t0 = time.perf_counter()
    for i in range(0, len(ids), 5000):
        conn.insert_many(f"INSERT INTO {table_} VALUES", [(x, "p" * 64) for x in ids[i : i + 5000]])
    seconds = time.perf_counter() - t0
    size = table_bytes(conn, table_)
    return {"rows_per_s": len(ids) / seconds, "bytes_per_row": size["data_bytes"] / len(ids),
            **counters.delta(before)}  # fmt: skip


WHY = """
why: in-process generators (Snowflake, ObjectId, the range client between ranges) cost a lock and
arithmetic (threads share one GIL: compare the 1- and T-thread rows); the range service one HTTP request and fsync
per 1,000 ids; the counter, the stored procedure and the ticket servers a round trip and a commit
per id, and Flickr's REPLACE queues every client on one row's lock. As primary keys, ids that grow
with time append at the B+tree's right edge; ids that arrive slightly out of order (threads
interleaving, two ticket servers drifting apart) split hot pages in the middle (more bytes per
row), and a random UUIDv4 splits everywhere. At this size every table fits the buffer pool, so
insert times need not differ (the ~ marks say when they do not, beyond this run's noise); the page
fill (B/row) does. bench/mysql_keys shows the time cost
once a random key's tree outgrows memory (1M rows)."""
KEEP_SECONDS = 60.0  # at most this long making one generator's ids for part 2
KEY_TYPES = {"objectid": "BINARY(12)", "uuidv4 (reference)": "BINARY(16)"}


def run(args: argparse.Namespace) -> None:
    out = common.results_dir()  # --out, set by output_dir around this run
    name = "ids-quick" if args.quick else "ids"
    print(header(f"D10 id generators: {args.seconds}s per case, 1 and {args.threads} threads, "
                 f"{args.rounds} interleaved round(s)"))  # fmt: skip
    cases = [(kind, t) for kind in KINDS for t in (1, args.threads)]
    with services() as env:
        make = makers(env)
        rates = interleaved({c: (lambda c=c: drive(make[c[0]], c[1], args.seconds)[0]) for c in cases},
                            args.rounds)  # fmt: skip
        kept: dict[str, list[Any]] = {}
        for kind in KINDS:  # ids for part 2, made by concurrent threads (bounded in time)
            kept[kind] = drive(make[kind], args.threads, KEEP_SECONDS, args.keys)[1]
        with Connection.from_address(env["main"]) as conn:
            conn.query("SET GLOBAL innodb_monitor_enable = 'index_page_splits'")
            kept["uuidv4 (reference)"] = [uuid.uuid4().bytes for _ in range(args.keys)]
            n = min(len(v) for v in kept.values())
            loc = interleaved({k: (lambda k=k, v=v: locality(conn, k, v[:n], KEY_TYPES.get(k, "BIGINT UNSIGNED")))
                               for k, v in kept.items()}, args.rounds)  # fmt: skip
    rows = []
    for (kind, t), rs in rates.items():
        unique = len(set(kept.get(kind, []))) == len(kept.get(kind, []))
        rows.append(measured(f"ids, {t} thread{'s' if t > 1 else ''}", kind, rs, "ids/s", unique=unique))
    lrows = merge_rounds([[Row(f"insert {n:,} as PK", k, v["rows_per_s"], "rows/s",
                               {"B/row": v["bytes_per_row"], "splits": v["index_page_splits"]})]
                          for k, vs in loc.items() for v in vs])  # fmt: skip
    print("\n" + table(rows, reference=REFERENCE))
    print("\n" + table(lrows, reference="uuidv4 (reference)"))
    print(WHY)
    png = median_bars(rows + lrows, out / f"{name}.png", f"D10 id generators (median of {args.rounds} "
                      f"round(s), whiskers min..max); references: {REFERENCE}, uuidv4 as PK",
                      {"ids/s": "ids / s", "rows/s": "PK inserts / s"}, size=(15, 5))  # fmt: skip
    path = save(
        name, rows + lrows, seconds=args.seconds, threads=args.threads, keys=n, png=str(png)
    )
    print(f"\nsaved {path} and {png}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.ids", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--seconds", type=float, default=1.0, help="seconds per case (default 1)")
    p.add_argument("--threads", type=positive, default=4, help="threads in the concurrent case")
    p.add_argument(
        "--keys", type=positive, default=50_000, help="ids inserted as keys (default 50k)"
    )
    common_flags(p, rounds=3)
    args = p.parse_args(argv)
    if not 0 < args.seconds <= 60:
        p.error("argument --seconds: must be in (0, 60]")
    if args.quick:
        args.seconds, args.keys = min(args.seconds, 0.2), min(args.keys, 2_000)
        args.rounds = min(args.rounds, 2)
    run_bench("bench.ids", run, args)


if __name__ == "__main__":
    main()
