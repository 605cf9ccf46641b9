"""The two queries, the index variants, and what the server says about each plan."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from typing import Any

from clients.mysql import Connection

HAS_UNREAD = (
    "SELECT m.channel_id, EXISTS (SELECT 1 FROM ur_messages x WHERE x.channel_id = m.channel_id"
    " AND x.created_at > m.last_read_at AND x.sender_id <> m.user_id) AS has_unread"
    " FROM ur_members m WHERE m.user_id = %s ORDER BY m.channel_id"
)
UNREAD_COUNT = (
    "SELECT m.channel_id, COUNT(x.id) AS unread FROM ur_members m LEFT JOIN ur_messages x"
    " ON x.channel_id = m.channel_id AND x.created_at > m.last_read_at AND x.sender_id <> m.user_id"
    " WHERE m.user_id = %s GROUP BY m.channel_id ORDER BY m.channel_id"
)
# The same count for one channel with its values written in (what a client that
# already holds the membership row sends): here a range on both columns is possible.
ONE_CHANNEL = (
    "SELECT COUNT(*) FROM ur_messages WHERE channel_id = %s AND created_at > %s AND sender_id <> %s"
)
QUERIES = {"has unread": HAS_UNREAD, "unread count": UNREAD_COUNT, "one channel": ONE_CHANNEL}


def params(conn: Connection, name: str, user: int) -> tuple[Any, ...]:
    """A query's parameters for ``user`` (one channel: the user's busiest channel)."""
    if name != "one channel":
        return (user,)
    ch, last = conn.query(
        "SELECT m.channel_id, m.last_read_at FROM ur_members m WHERE m.user_id = %s"
        " ORDER BY (SELECT COUNT(*) FROM ur_members o WHERE o.channel_id = m.channel_id) DESC,"
        " m.channel_id LIMIT 1",
        (user,),
    ).rows[0]
    return (ch, last, user)


# name -> the secondary indexes on ur_messages (the primary key is always id)
VARIANTS: dict[str, list[str]] = {
    "no index": [],
    "one per column": ["(channel_id)", "(created_at)", "(sender_id)"],
    "(channel, created)": ["(channel_id, created_at)"],
    "(created, channel)": ["(created_at, channel_id)"],
    "covering": ["(channel_id, created_at, sender_id)"],
}
REFERENCE = "no index"


def set_indexes(conn: Connection, variant: str) -> float:
    """Drop every secondary index, add the variant's; seconds the build took."""
    names = [r[2] for r in conn.query("SHOW INDEX FROM ur_messages").rows if r[2] != "PRIMARY"]
    for n in dict.fromkeys(names):
        conn.query(f"ALTER TABLE ur_messages DROP INDEX {n}")
    t0 = time.perf_counter()
    for i, cols in enumerate(VARIANTS[variant]):
        conn.query(f"ALTER TABLE ur_messages ADD INDEX ix{i} {cols}")
    return time.perf_counter() - t0


def explain(conn: Connection, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    return conn.query("EXPLAIN " + sql, args).dicts()


def _tables(node: Any) -> Iterator[dict[str, Any]]:
    """Every ``table`` object anywhere in an ANALYZE FORMAT=JSON document."""
    if isinstance(node, dict):
        if "table_name" in node:
            yield node
        for v in node.values():
            yield from _tables(v)
    elif isinstance(node, list):
        for v in node:
            yield from _tables(v)


def analyze(conn: Connection, sql: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """ANALYZE FORMAT=JSON: what really happened to ``ur_messages`` (rows read, time).

    ``r_rows`` counts rows the engine handed up, after Index Condition Pushdown
    filtered inside the index: entries rejected there are not in it.
    """
    raw = conn.query("ANALYZE FORMAT=JSON " + sql, args).scalar()
    doc = raw if isinstance(raw, dict) else json.loads(raw)
    msgs = [t for t in _tables(doc) if t["table_name"] in ("x", "ur_messages")]
    examined = sum(float(t.get("r_loops", 0)) * float(t.get("r_rows", 0) or 0) for t in msgs)
    return {
        "messages_rows_examined": round(examined),
        "access": ",".join(f"{t.get('access_type')}:{t.get('key', '-')}" for t in msgs),
        "r_total_time_ms": float(doc.get("query_block", {}).get("r_total_time_ms", 0.0)),
        "json": doc,
    }


def timed(
    conn: Connection, sql: str, per_user: list[tuple[Any, ...]], budget: float
) -> list[float]:
    """Seconds per user query, one pass over the users; stops early (after >= 3
    samples) once ``budget`` seconds pass."""
    samples: list[float] = []
    start = time.perf_counter()
    for args in per_user:
        t0 = time.perf_counter()
        conn.query(sql, args)
        samples.append(time.perf_counter() - t0)
        if len(samples) >= 3 and time.perf_counter() - start > budget:
            break
    return samples


def spread_ms(samples: list[float]) -> dict[str, Any]:
    """min / median / max of latencies in seconds, in milliseconds, and how many."""
    return {"samples": len(samples), "min_ms": min(samples) * 1e3,
            "median_ms": statistics.median(samples) * 1e3, "max_ms": max(samples) * 1e3}  # fmt: skip


def write_cost(conn: Connection, rows: list[tuple[Any, ...]], rounds: int) -> list[float]:
    """Rows/s inserting ``rows`` with the current indexes, ``rounds`` times (removed after each)."""
    rates = []
    for _ in range(rounds):
        first = conn.query("SELECT COALESCE(MAX(id), 0) + 1 FROM ur_messages").scalar()
        t0 = time.perf_counter()
        for i in range(0, len(rows), 1000):
            conn.insert_many(
                "INSERT INTO ur_messages (channel_id, sender_id, created_at, body) VALUES",
                rows[i : i + 1000],
            )
        rates.append(len(rows) / (time.perf_counter() - t0))
        conn.query("DELETE FROM ur_messages WHERE id >= %s", (first,))
    return rates


def answers(conn: Connection, user: int) -> dict[str, list[tuple[Any, ...]]]:
    """Both queries' rows for one user (every variant must give the same)."""
    return {name: conn.query(sql, params(conn, name, user)).rows for name, sql in QUERIES.items()}
