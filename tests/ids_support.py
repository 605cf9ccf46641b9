"""Run an id generator in 8 threads x 4 processes and collect every id (D10 tests).

``collect(kind, spec)`` starts PROCESSES spawned processes; each builds its own
generator(s) from ``spec`` (addresses, worker id = process index) and runs
THREADS threads that each take PER_THREAD ids. The ids come back in one list
so a test can check that none repeats and what order each thread saw.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from clients.ids import (
    MySQLCounter,
    ObjectIdGenerator,
    RangeClient,
    Snowflake,
    SqlSnowflake,
    TicketServers,
)
from clients.mysql import Connection

THREADS = 8
PROCESSES = 4


def _factory(kind: str, spec: dict[str, Any], proc: int) -> Callable[[], Callable[[], Any]]:
    """A function that makes one thread's ``next_id`` (shared or per thread, as the kind needs)."""
    if kind == "snowflake":
        shared = Snowflake(worker=proc)
        return lambda: shared.next_id
    if kind == "objectid":
        oid = ObjectIdGenerator()
        return lambda: oid.next_id
    if kind == "counter":
        return lambda: MySQLCounter(Connection.from_address(spec["addr"]), spec["name"]).next_id
    if kind == "sql_snowflake":
        return lambda: SqlSnowflake(Connection.from_address(spec["addr"]), worker=proc).next_id
    if kind == "flickr":
        return lambda: TicketServers(spec["addrs"]).next_id
    if kind == "ranges":
        return lambda: RangeClient("127.0.0.1", spec["port"], spec.get("size", 50)).next_id
    raise ValueError(kind)


def _run_process(kind: str, spec: dict[str, Any], proc: int, per_thread: int) -> list[list[Any]]:
    make = _factory(kind, spec, proc)
    out: list[list[Any]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(i: int) -> None:
        try:
            next_id = make()
            start.wait()
            out[i] = [next_id() for _ in range(per_thread)]
        except BaseException as e:  # reported to the test below
            errors.append(e)
            start.abort()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


def collect(kind: str, spec: dict[str, Any], per_thread: int) -> list[list[Any]]:
    """Every thread's ids, in the order that thread got them (PROCESSES * THREADS lists)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=ctx) as ex:
        futs = [ex.submit(_run_process, kind, spec, p, per_thread) for p in range(PROCESSES)]
        return [seq for f in futs for seq in f.result(timeout=120)]


def flat(seqs: list[list[Any]]) -> list[Any]:
    return [x for s in seqs for x in s]
