"""Part 3: pagination by ``OFFSET`` vs keyset (seek) at depths from 0 to the end.

``ORDER BY id LIMIT 20 OFFSET d`` makes the server walk the index from the
start and throw away ``d`` rows before returning 20: the cost grows with the
depth (``Handler_read_next`` counts the walked rows). Keyset pagination
remembers the last id of the previous page and asks ``WHERE id > last ORDER BY
id LIMIT 20``: one index dive (``Handler_read_key``) and 20 steps, whatever the
depth. Both return the same rows; keyset cannot jump to "page 5000" directly
and needs a unique, ordered key (ties are broken by the key).

The depths come from the table's own row count, not from the size asked for:
the deepest is the last full page (``count - PAGE``), and a page is "the
same" only when both ways return the rows a page at that depth must hold
(``min(PAGE, count - depth)`` of them), so a short page cannot pass unseen.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from clients.mysql import Connection

from .. import common
from ..sqlbench import Counters

PAGE = 20
STATUS = ["Handler_read_first", "Handler_read_key", "Handler_read_next", "Handler_read_rnd_next"]
WAYS = ("offset", "keyset")
REFERENCE = "offset"
# Timed rounds per depth at least: one page takes a millisecond or so, and on a
# shared two-core machine three samples (the old floor) let one stall decide a
# median (keyset "slower" than OFFSET at 10,000 in one run).
MIN_ROUNDS = 15


def depths(total: int) -> list[int]:
    marks = [0, 100, 1_000, 10_000, 100_000, 250_000, 500_000, 750_000, 1_000_000]
    out = [d for d in marks if d <= max(0, total - PAGE)]
    if total - PAGE not in out and total > PAGE:
        out.append(total - PAGE)
    return out


def _sql(way: str, table: str, after: Any) -> tuple[str, tuple[Any, ...] | None]:
    if way == "offset":
        return f"SELECT id, payload FROM {table} ORDER BY id LIMIT {PAGE} OFFSET %s", (after,)
    if after is None:
        return f"SELECT id, payload FROM {table} ORDER BY id LIMIT {PAGE}", None
    return f"SELECT id, payload FROM {table} WHERE id > %s ORDER BY id LIMIT {PAGE}", (after,)


def boundary(conn: Connection, table: str, depth: int) -> Any:
    """The last id of the page before ``depth`` (what a client would have kept)."""
    if depth == 0:
        return None
    return conn.query(
        f"SELECT id FROM {table} ORDER BY id LIMIT 1 OFFSET %s", (depth - 1,)
    ).scalar()


def page(conn: Connection, way: str, table: str, depth: int) -> list[tuple[Any, ...]]:
    """The page at ``depth`` fetched ``way`` (keyset: from the id before it)."""
    after = depth if way == "offset" else boundary(conn, table, depth)
    sql, params = _sql(way, table, after)
    return conn.query(sql, params).rows


def expected_len(count: int, depth: int) -> int:
    """Rows a page at ``depth`` holds in a table of ``count`` rows."""
    return max(0, min(PAGE, count - depth))


def run(conn: Connection, table: str, rounds: int) -> dict[str, Any]:
    """Per depth: rows examined, latency over ``rounds`` interleaved rounds (who goes
    first rotating), and whether both ways returned the same, complete page."""
    count = int(conn.query(f"SELECT COUNT(*) FROM {table}").scalar())
    counters = Counters(conn, "SESSION", STATUS)
    out: dict[str, Any] = {}
    for d in depths(count):
        arg = {"offset": d, "keyset": boundary(conn, table, d)}
        cell: dict[str, Any] = {}
        pages = {}
        for way in WAYS:
            sql, params = _sql(way, table, arg[way])
            before = counters.read()
            pages[way] = conn.query(sql, params).rows
            cell[way] = {"examined": counters.delta(before), "returned": len(pages[way])}
        samples: dict[str, list[float]] = {way: [] for way in WAYS}
        for r in range(rounds):
            for way in common.rotated(WAYS, r):
                sql, params = _sql(way, table, arg[way])
                t0 = time.perf_counter()
                conn.query(sql, params)
                samples[way].append(time.perf_counter() - t0)
        for way in WAYS:
            s = samples[way]
            cell[way].update(
                min_ms=min(s) * 1e3, median_ms=statistics.median(s) * 1e3, max_ms=max(s) * 1e3
            )
            ex = cell[way]["examined"]
            cell[way]["rows_examined"] = (
                ex["handler_read_next"] + ex["handler_read_first"] + ex["handler_read_key"]
            )
        whole = len(pages["offset"]) == expected_len(count, d)
        cell["identical"] = whole and pages["offset"] == pages["keyset"]
        out[str(d)] = cell
    return out
