"""Airline check-in: 120 passengers grab 120 seats at once, four ways.

``make bench-checkin`` (``python -m bench.checkin [--seats N] [--pool P] [--rounds R]``)

Every passenger runs the same two steps: find the first free seat, take it.
What differs is how the first step locks:

* ``naive``: a plain SELECT, then an UPDATE, no locking read. Two passengers
  read the same free seat, both write it, the second overwrites the first: the
  first passenger was told "seat 1A" and is in no seat. Fast and wrong.
* ``FOR UPDATE``: ``SELECT ... LIMIT 1 FOR UPDATE`` inside a transaction. Every
  passenger wants the *same* first free row, so they queue on its lock one by
  one; when the holder commits, the next re-reads the row (a locking read sees
  the latest commit), finds it taken and moves on. Correct, but serial.
* ``SKIP LOCKED``: ``FOR UPDATE SKIP LOCKED`` skips rows another transaction
  holds, so concurrent passengers each lock a *different* free seat at once.
  Correct and parallel: the queue-table idiom.
* ``NOWAIT``: ``FOR UPDATE NOWAIT`` fails at once (error 1205) instead of
  waiting; the passenger backs off and tries again. Correct, but the retries
  are wasted round trips.

Each runs with threads over a ``clients.pool`` pool and with asyncio tasks
over the async pool, for ``--rounds`` interleaved rounds; the table gives the
median time to seat everyone (min/max beside it), seats filled, passengers
left without a seat although told they had one, and the server's own lock
waits (``Innodb_row_lock_waits`` and ``Innodb_row_lock_time`` deltas).
Ratios are against ``FOR UPDATE`` (the textbook answer), higher is faster.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clients.mysql import Connection, LockWaitTimeoutError
from clients.pool import PoolConfig
from clients.pool.mysql import async_mysql_pool, mysql_pool
from harness.services import MariaDB, from_env

from .common import Row, header, measured, rotated, save, table

LETTERS = "ABCDEF"
FIRST_FREE = "SELECT id FROM seats WHERE passenger_id IS NULL ORDER BY id LIMIT 1"
LOCKING = {
    "naive": None,
    "FOR UPDATE": FIRST_FREE + " FOR UPDATE",
    "SKIP LOCKED": FIRST_FREE + " FOR UPDATE SKIP LOCKED",
    "NOWAIT": FIRST_FREE + " FOR UPDATE NOWAIT",
}
TAKE = "UPDATE seats SET passenger_id = %s WHERE id = %s"
NOWAIT_BACKOFF_S = 0.001  # between NOWAIT attempts: one short yield, not a lock wait


def reset(conn: Connection, seats: int) -> None:
    conn.query("DROP TABLE IF EXISTS seats")
    conn.query("""CREATE TABLE seats (
        id INT PRIMARY KEY, name VARCHAR(8) NOT NULL, passenger_id INT NULL
    ) ENGINE=InnoDB""")
    conn.insert_many("INSERT INTO seats (id, name) VALUES",
                     [(i + 1, seat_name(i)) for i in range(seats)])  # fmt: skip


def seat_name(i: int) -> str:
    return f"{i // len(LETTERS) + 1}{LETTERS[i % len(LETTERS)]}"


def counters(conn: Connection) -> dict[str, int]:
    rows = conn.query("SHOW GLOBAL STATUS WHERE Variable_name IN "
                      "('Innodb_row_lock_waits', 'Innodb_row_lock_time')").rows  # fmt: skip
    return {name: int(value) for name, value in rows}


# -- one passenger, blocking and asyncio ----------------------------------------------------


def check_in(conn: Any, how: str, passenger: int) -> tuple[int | None, int]:
    """Seat ``passenger``; (the seat id it was told, NOWAIT retries)."""
    retries = 0
    while True:
        try:
            if how == "naive":
                seat = conn.query(FIRST_FREE).scalar()
                if seat is not None:
                    conn.query(TAKE, (passenger, seat))
                return seat, retries
            with conn.transaction():
                seat = conn.query(LOCKING[how]).scalar()
                if seat is not None:
                    conn.query(TAKE, (passenger, seat))
            return seat, retries
        except LockWaitTimeoutError:  # NOWAIT found the row locked
            retries += 1
            time.sleep(NOWAIT_BACKOFF_S)


async def check_in_async(conn: Any, how: str, passenger: int) -> tuple[int | None, int]:
    retries = 0
    while True:
        try:
            if how == "naive":
                seat = (await conn.query(FIRST_FREE)).scalar()
                if seat is not None:
                    await conn.query(TAKE, (passenger, seat))
                return seat, retries
            async with conn.transaction():
                seat = (await conn.query(LOCKING[how])).scalar()
                if seat is not None:
                    await conn.query(TAKE, (passenger, seat))
            return seat, retries
        except LockWaitTimeoutError:
            retries += 1
            await asyncio.sleep(NOWAIT_BACKOFF_S)


# -- a whole flight ------------------------------------------------------------------------


@dataclass
class Flight:
    how: str
    flavour: str
    seconds: float
    told: dict[int, int | None]  # passenger -> seat id it was told
    seated: dict[int, int]  # passenger -> seat id it really holds
    retries: int
    lock_waits: int
    lock_time_ms: int

    @property
    def filled(self) -> int:
        return len(self.seated)

    @property
    def stranded(self) -> int:
        """Told they had a seat, but the seat holds somebody else."""
        return sum(1 for p, s in self.told.items() if s is not None and self.seated.get(p) != s)

    @property
    def correct(self) -> bool:
        everyone = set(self.told)
        return self.stranded == 0 and set(self.seated) == everyone


def fly(addr: Any, how: str, flavour: str, seats: int, pool_size: int) -> Flight:
    with Connection.from_address(addr) as admin:
        reset(admin, seats)
        before = counters(admin)
        run = run_threads if flavour == "threads" else run_tasks
        seconds, told, retries = run(addr, how, seats, pool_size)
        after = counters(admin)
        seated = {p: s for s, p in admin.query("SELECT id, passenger_id FROM seats"
                                               " WHERE passenger_id IS NOT NULL").rows}  # fmt: skip
    return Flight(how, flavour, seconds, told, seated, retries,
                  after["Innodb_row_lock_waits"] - before["Innodb_row_lock_waits"],
                  after["Innodb_row_lock_time"] - before["Innodb_row_lock_time"])  # fmt: skip


def run_threads(addr: Any, how: str, n: int, pool_size: int) -> tuple[float, dict, int]:
    told: dict[int, int | None] = {}
    retries = [0]
    lock = threading.Lock()
    with mysql_pool(addr, PoolConfig(min_size=pool_size, max_size=pool_size, timeout=60)) as pool:
        gate = threading.Barrier(n + 1)

        def passenger(p: int) -> None:
            gate.wait()
            with pool.connection() as conn:
                seat, r = check_in(conn, how, p)
            with lock:
                told[p] = seat
                retries[0] += r

        ts = [threading.Thread(target=passenger, args=(p,)) for p in range(1, n + 1)]
        for t in ts:
            t.start()
        gate.wait()
        t0 = time.perf_counter()
        for t in ts:
            t.join()
        return time.perf_counter() - t0, told, retries[0]


def run_tasks(addr: Any, how: str, n: int, pool_size: int) -> tuple[float, dict, int]:
    async def flight() -> tuple[float, dict, int]:
        config = PoolConfig(min_size=pool_size, max_size=pool_size, timeout=60)
        async with async_mysql_pool(addr, config) as pool:
            async def passenger(p: int) -> tuple[int, int | None, int]:
                async with pool.connection() as conn:
                    seat, r = await check_in_async(conn, how, p)
                return p, seat, r

            t0 = time.perf_counter()
            done = await asyncio.gather(*(passenger(p) for p in range(1, n + 1)))
            seconds = time.perf_counter() - t0
        return seconds, {p: s for p, s, _ in done}, sum(r for _, _, r in done)

    return asyncio.run(flight())


def seat_map(flight: Flight, seats: int) -> str:
    """Rows of six: X = seated passenger, ! = a seat whose first passenger was overwritten."""
    holders = {s: p for p, s in flight.seated.items()}
    told_count: dict[int, int] = {}
    for s in flight.told.values():
        if s is not None:
            told_count[s] = told_count.get(s, 0) + 1
    lines = []
    for start in range(0, seats, len(LETTERS)):
        cells = []
        for i in range(start, min(start + len(LETTERS), seats)):
            sid = i + 1
            cells.append("!" if told_count.get(sid, 0) > 1 else ("X" if sid in holders else "."))
        lines.append(f"{start // len(LETTERS) + 1:>3} " + " ".join(cells))
    return "\n".join(lines)


def side_by_side(flights: list[Flight], seats: int) -> str:
    """The last threaded flight of each approach as seat maps next to each other."""
    maps = []
    for how in LOCKING:
        f = next(x for x in reversed(flights) if x.how == how and x.flavour == "threads")
        title = [f"{how}", f"{f.filled}/{seats} seated", f"{f.stranded} stranded"]
        maps.append(title + seat_map(f, seats).splitlines())
    width = max(len(line) for m in maps for line in m) + 4
    lines = ["", "Seat maps (X seated, ! a seat given to several passengers, . empty):"]
    for parts in zip(*maps, strict=True):
        lines.append("".join(f"{part:<{width}}" for part in parts).rstrip())
    return "\n".join(lines)


def summarize(flights: list[Flight]) -> list[Row]:
    rows = []
    for key in dict.fromkeys((f.flavour, f.how) for f in flights):
        runs = [f for f in flights if (f.flavour, f.how) == key]
        secs = [f.seconds for f in runs]
        last = runs[-1]
        rows.append(measured(f"{key[0]} x{len(last.told)}", key[1], [1 / s for s in secs], "flights/s",
            median_s=round(statistics.median(secs), 4), min_s=round(min(secs), 4),
            max_s=round(max(secs), 4), filled=min(f.filled for f in runs),
            stranded=max(f.stranded for f in runs), correct=all(f.correct for f in runs),
            retries=max(f.retries for f in runs), lock_waits=max(f.lock_waits for f in runs),
        ))  # fmt: skip
    return rows


def plot(flights: list[Flight], rows: list[Row], seats: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hows = list(LOCKING)
    fig, axes = plt.subplots(1, len(hows) + 1, figsize=(16, 5),
                             gridspec_kw={"width_ratios": [3] + [1] * len(hows)})  # fmt: skip
    ax = axes[0]
    for k, flavour in enumerate(("threads", "asyncio")):
        mine = [next((r.extra for r in rows if r.impl == h and r.workload.startswith(flavour)), {}) for h in hows]
        vals = [e.get("median_s", 0) for e in mine]
        err = [[e.get("median_s", 0) - e.get("min_s", 0) for e in mine],
               [e.get("max_s", 0) - e.get("median_s", 0) for e in mine]]  # fmt: skip
        ax.bar([i + k * 0.4 for i in range(len(hows))], vals, width=0.4, yerr=err, capsize=3, label=flavour)
    ax.set_xticks([i + 0.2 for i in range(len(hows))], hows)
    ax.set_ylabel("seconds to check in every passenger\n(median, whiskers min..max; lower is better)")
    ax.set_title(f"{seats} passengers, {seats} seats")
    ax.legend()
    for ax, how in zip(axes[1:], hows, strict=True):
        f = next(x for x in reversed(flights) if x.how == how and x.flavour == "threads")
        grid = [[0.0] * len(LETTERS) for _ in range((seats + len(LETTERS) - 1) // len(LETTERS))]
        for s in f.seated.values():
            grid[(s - 1) // len(LETTERS)][(s - 1) % len(LETTERS)] = 1.0
        ax.imshow(grid, cmap="Greens", vmin=0, vmax=1, aspect="auto")
        ax.set_title(f"{how}\n{f.filled}/{seats} seated")
        ax.set_xticks(range(len(LETTERS)), list(LETTERS))
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="make bench-checkin", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--seats", type=int, default=120, help="seats = passengers (120)")
    p.add_argument("--pool", type=int, default=32, help="connections in the pool (32)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    args = p.parse_args(argv)
    if args.seats < 2 or args.pool < 1 or args.rounds < 1:
        p.error("need --seats >= 2, --pool >= 1, --rounds >= 1")
    print(header(f"D5 check-in: {args.seats} passengers, {args.seats} seats, pool of {args.pool}"))
    env = from_env("SYSLAB_MYSQL_URL", 3306)
    server = None if env else MariaDB().start()
    flights: list[Flight] = []
    try:
        addr = env or server.address  # type: ignore[union-attr]
        for r in range(args.rounds):  # interleaved: every approach once per round, rotating
            for flavour in ("threads", "asyncio"):
                for how in rotated(LOCKING, r):
                    flights.append(fly(addr, how, flavour, args.seats, args.pool))
    finally:
        if server is not None:
            server.stop()
    rows = summarize(flights)
    print(side_by_side(flights, args.seats))
    print(f"\nMedian of {args.rounds} rounds (ratio: speed against FOR UPDATE, higher is faster):")
    print(table(rows, reference="FOR UPDATE"))
    path = save("checkin", rows, seats=args.seats, pool=args.pool, rounds=args.rounds)
    png = plot(flights, rows, args.seats, path.with_suffix(".png"))
    print(f"\nsaved {path} and {png}")


if __name__ == "__main__":
    main()
