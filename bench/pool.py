"""D2: a new connection per query vs the pool, same private MariaDB, same run.

``python -m bench.pool [--workers N] [--pool-size P] [--ops K] [--rounds R] [--quick]``

N concurrent workers (threads, then asyncio tasks) each run short queries
(``SELECT 1``) until K queries are done between them, in three ways:

* ``new connection`` (the reference): connect (TCP, handshake, auth), one
  query, ``COM_QUIT``: what code without a pool pays per request;
* ``pool (ours)``: ``clients.pool`` with P connections opened up front; a
  worker that finds none free waits in the pool's FIFO line;
* ``queue.Queue pool`` (threads only): the same P connections in the standard
  library's ``queue.Queue``, the textbook pool: what the hand-written FIFO
  hand-over costs or saves in throughput, and what it buys in fairness (the
  table says which; no claim here).

For each: throughput, latency p50/p99/mean/max per query (waiting for a
connection included), and the server's ``Threads_connected`` sampled every 20 ms during
the run (by a sampler on its own connection, which is subtracted): a pool holds
it at P however many workers there are; without one it follows the number of
workers in flight, plus sockets still closing.

Reading the two pools side by side: ``queue.Queue`` lets a thread that just
gave a connection back take it again at once (barging), so its median is low
and a few unlucky threads wait very long (the max); ours hands each returned
connection to the oldest waiter, so everyone waits about the same (a higher
median, a shorter tail). The means follow Little's law: with every worker
always in line or querying, mean latency = workers / throughput, so the two
pools' means differ exactly as much as their throughputs do (the table shows
both; neither is fixed in advance).

Every case runs R rounds: each round runs all five cases (three with threads,
two with asyncio) back to back, the order rotating so that each goes first in
turn; a row is the median round's throughput with min and max beside it, and
that round's latencies and connection counts.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import queue
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from typing import Any

from clients.mysql import Connection
from clients.mysql.aio import AsyncConnection
from clients.pool import PoolConfig
from clients.pool.mysql import async_mysql_pool, mysql_pool
from harness.services import MariaDB, from_env
from netlib.shell import run

from .common import Row, header, interleaved, median_bars, merge_rounds, save, summarize, table

SAMPLE_INTERVAL = 0.02  # seconds between Threads_connected samples
CASE_SECONDS = 30.0  # a bound on one case, whatever --ops says
REFERENCE = "new connection"


class ThreadsConnected:
    """Samples ``Threads_connected`` on its own connection while a case runs.

    The server may hold other clients' connections (a shared instance, or ones
    still closing from the previous case), so a count taken before the case
    opened anything (``baseline``, from ``connections_now``; by default when
    sampling starts) is subtracted from every sample.
    """

    def __init__(self, addr: Any, baseline: int | None = None) -> None:
        self.conn = Connection.from_address(addr)
        self.samples: list[int] = []
        self.baseline = self._count() if baseline is None else baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(max(0, self._count() - self.baseline))
            self._stop.wait(SAMPLE_INTERVAL)

    def _count(self) -> int:
        return _threads_connected(self.conn)

    def __enter__(self) -> ThreadsConnected:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.conn.close()

    def figures(self) -> dict[str, float]:
        s = self.samples or [0]
        return {"conns_max": max(s), "conns_mean": round(statistics.fmean(s), 1)}


def connections_now(addr: Any) -> int:
    """The server's Threads_connected, not counting the connection that asks."""
    conn = Connection.from_address(addr)
    try:
        return _threads_connected(conn)
    finally:
        conn.close()


def _threads_connected(conn: Connection) -> int:
    """Threads_connected as ``conn`` sees it, minus ``conn`` itself."""
    r = conn.query("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
    return int(r.rows[0][1]) - 1


def run_threads(
    addr: Any,
    checkout: Callable[[], AbstractContextManager[Any]],
    workers: int,
    ops: int,
    baseline: int | None = None,
) -> tuple[list[float], float, dict[str, float]]:
    """``workers`` threads share ``ops`` queries; each checks out, queries, gives back."""
    tickets = itertools.count()  # next() is atomic under the GIL: the shared work counter
    latencies: list[float] = []
    deadline = time.monotonic() + CASE_SECONDS

    def worker() -> None:
        mine = []
        while next(tickets) < ops and time.monotonic() < deadline:
            t0 = time.perf_counter()
            with checkout() as c:
                c.query("SELECT 1")
            mine.append(time.perf_counter() - t0)
        latencies.extend(mine)

    with ThreadsConnected(addr, baseline) as sampler:
        threads = [threading.Thread(target=worker) for _ in range(workers)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    return latencies, elapsed, sampler.figures()


def new_connection(addr: Any) -> Callable[[], AbstractContextManager[Any]]:
    return lambda: Connection.from_address(addr)


def stdlib_queue_pool(addr: Any, size: int) -> tuple[Callable[[], Any], Callable[[], None]]:
    """The textbook pool on ``queue.Queue``: the reference for our own queue."""
    q: queue.Queue[Connection] = queue.Queue(size)
    for _ in range(size):
        q.put(Connection.from_address(addr))

    @contextmanager
    def checkout() -> Iterator[Connection]:
        c = q.get(timeout=CASE_SECONDS)
        try:
            yield c
        finally:
            q.put(c)

    def close() -> None:
        while not q.empty():
            q.get().close()

    return checkout, close


def thread_new_connection(addr: Any, workers: int, size: int, ops: int) -> Row:
    return _row(
        f"threads x{workers}", REFERENCE, *run_threads(addr, new_connection(addr), workers, ops)
    )


def thread_pool_ours(addr: Any, workers: int, size: int, ops: int) -> Row:
    base = connections_now(addr)  # before the pool opens its connections
    with mysql_pool(addr, PoolConfig(min_size=size, max_size=size)) as pool:
        res = run_threads(addr, pool.connection, workers, ops, base)
    return _row(f"threads x{workers}", f"pool (ours) P={size}", *res)


def thread_queue_pool(addr: Any, workers: int, size: int, ops: int) -> Row:
    base = connections_now(addr)
    checkout, close = stdlib_queue_pool(addr, size)
    try:
        res = run_threads(addr, checkout, workers, ops, base)
    finally:
        close()
    return _row(f"threads x{workers}", f"queue.Queue pool P={size}", *res)


def cases(addr: Any, workers: int, size: int, ops: int) -> dict[str, Callable[[], Row]]:
    """Every case of a round, by name, each opening and closing what it measures, so a
    round can run them in any order (``common.interleaved`` rotates who goes first)."""
    each = {
        "threads / new connection": thread_new_connection,
        "threads / pool (ours)": thread_pool_ours,
        "threads / queue.Queue pool": thread_queue_pool,
        "asyncio / new connection": asyncio_new_connection,
        "asyncio / pool (ours)": asyncio_pool_ours,
    }
    return {name: functools.partial(f, addr, workers, size, ops) for name, f in each.items()}


def _row(workload: str, impl: str, lat: list[float], secs: float, conns: dict[str, float]) -> Row:
    s = summarize(lat)
    extra = {
        "p50_ms": round(s["p50_ms"], 3),
        "p99_ms": round(s["p99_ms"], 3),
        "mean_ms": round(s["mean_ms"], 3),
        "max_ms": round(max(lat, default=0.0) * 1000, 3),
        **conns,
    }
    return Row(workload, impl, len(lat) / secs if secs else 0.0, "q/s", extra)


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(prog="python -m bench.pool", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--workers", type=int, default=32, help="concurrent workers (default 32)")
    p.add_argument("--pool-size", type=int, default=8, help="connections in the pool (default 8)")
    p.add_argument("--ops", type=int, default=6000, help="queries per case (default 6000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of every case (default 3)")
    p.add_argument("--quick", action="store_true", help="a few hundred queries (the smoke test)")
    args = p.parse_args(argv)
    if args.quick:
        args.workers, args.pool_size, args.ops, args.rounds = 8, 2, 200, 2
    print(header(f"D2 pool: {args.workers} workers, SELECT 1, new connection vs pool"))
    env = from_env("SYSLAB_MYSQL_URL", 3306)
    server = None if env else MariaDB().start()
    try:
        addr = env or server.address  # type: ignore[union-attr]
        runs = interleaved(cases(addr, args.workers, args.pool_size, args.ops), args.rounds)
        rows = merge_rounds(list(runs.values()))
    finally:
        if server is not None:
            server.stop()
    print(table(rows, REFERENCE))
    path = save("pool-quick" if args.quick else "pool", rows, workers=args.workers,
                pool_size=args.pool_size, ops=args.ops, rounds=args.rounds)  # fmt: skip
    png = median_bars(rows, path.with_suffix(".png"), f"D2: SELECT 1 from {args.workers} workers, pool of "
                      f"{args.pool_size} vs {REFERENCE} (reference), median of {args.rounds} round(s), "
                      "whiskers min..max", "queries / s", size=(11, 4.8))  # fmt: skip
    print(f"\nsaved {path} and {png}")
    return rows


async def run_tasks(
    addr: Any, checkout: Callable[[], Any], workers: int, ops: int, baseline: int | None = None
) -> tuple[list[float], float, dict[str, float]]:
    """``workers`` tasks on one loop share ``ops`` queries (the sampler stays a thread)."""
    tickets = itertools.count()
    latencies: list[float] = []
    deadline = time.monotonic() + CASE_SECONDS

    async def worker() -> None:
        while next(tickets) < ops and time.monotonic() < deadline:
            t0 = time.perf_counter()
            async with checkout() as c:
                await c.query("SELECT 1")
            latencies.append(time.perf_counter() - t0)

    with ThreadsConnected(addr, baseline) as sampler:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - t0
    return latencies, elapsed, sampler.figures()


@asynccontextmanager
async def new_async_connection(addr: Any) -> AsyncIterator[AsyncConnection]:
    conn = await AsyncConnection.from_address(addr)
    try:
        yield conn
    finally:
        await conn.close()


async def _asyncio_pool_ours(addr: Any, workers: int, size: int, ops: int) -> Row:
    base = connections_now(addr)  # before the pool opens its connections
    async with async_mysql_pool(addr, PoolConfig(min_size=size, max_size=size)) as pool:
        res = await run_tasks(addr, pool.connection, workers, ops, base)
    return _row(f"asyncio x{workers}", f"pool (ours) P={size}", *res)


def asyncio_new_connection(addr: Any, workers: int, size: int, ops: int) -> Row:
    """The same comparison with asyncio tasks on the project's event loop (uvloop)."""
    res = run(lambda: run_tasks(addr, lambda: new_async_connection(addr), workers, ops))
    return _row(f"asyncio x{workers}", REFERENCE, *res)


def asyncio_pool_ours(addr: Any, workers: int, size: int, ops: int) -> Row:
    return run(lambda: _asyncio_pool_ours(addr, workers, size, ops))  # type: ignore[no-any-return]


if __name__ == "__main__":
    main()
