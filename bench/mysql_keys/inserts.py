"""Part 1: the same rows inserted under four kinds of primary key.

InnoDB stores a table *in* its primary key (the clustered index): rows live in
16 KiB leaf pages in key order. Where a new key lands decides the cost:

* auto-increment, Snowflake, UUIDv7: every new key is the largest so far, so
  inserts append to the right-most leaf; when it fills, InnoDB starts a new
  page and leaves the full one full (its "split to the right" special case).
  Only the last few pages need to be in memory.
* UUIDv7 with random low bits is increasing by the millisecond only: the
  hundred-odd keys made inside one millisecond land in random order among
  each other, so the right-most pages split in the middle too. RFC 9562's
  "method 1" (a counter in the 12 ``rand_a`` bits, reset each millisecond)
  makes it strictly increasing and gives back full pages.
* UUIDv4: every key lands at a random place, so any leaf may be needed: when
  the index outgrows the buffer pool each insert tends to read a page from
  disk first (``Innodb_buffer_pool_reads``), and a full page splits in the
  middle into two half-full ones (``index_page_splits``), so the same rows take
  more pages (bytes per row) and the tree keeps getting bigger and colder.

Rounds interleave: each round inserts ``rows / rounds`` rows into every table
in turn (the order rotating, so no kind always goes first), so all see the same
machine state, and the per-round rate shows the random key slowing as its
table grows.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from clients.ids import Snowflake
from clients.mysql import Connection

from .. import common
from ..sqlbench import Counters, table_bytes

KINDS = ("auto-increment", "snowflake", "uuidv7-counter", "uuidv7", "uuidv4")
REFERENCE = "auto-increment"
PAYLOAD = "p" * 64  # a 64-byte payload: rows of ~100 bytes, like a narrow real table
CHUNK = 5_000  # rows per insert_many call (it packs them into ~1 MB statements)
STATUS = ["Innodb_buffer_pool_reads", "Innodb_pages_written", "Innodb_rows_inserted"]
METRICS = ["index_page_splits"]


def uuid7() -> bytes:
    """RFC 9562 UUIDv7: 48 bits of Unix ms, version 7, 74 random bits, variant 10."""
    ms = time.time_ns() // 1_000_000
    r = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms << 80) | (0x7 << 76) | ((r >> 64) & 0xFFF) << 64 | (0b10 << 62) | (r & ((1 << 62) - 1))
    )
    return value.to_bytes(16, "big")


class MonotonicUUID7:
    """RFC 9562 UUIDv7, method 1: ``rand_a`` is a counter inside the millisecond."""

    def __init__(self) -> None:
        self.ms, self.counter = -1, 0

    def __call__(self) -> bytes:
        ms = time.time_ns() // 1_000_000
        if ms <= self.ms:  # same millisecond (or the clock stepped back): count on
            self.counter += 1
            if self.counter > 0xFFF:  # counter full: borrow the next millisecond
                self.ms, self.counter = self.ms + 1, 0
        else:
            self.ms, self.counter = ms, 0
        r = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (self.ms << 80) | (0x7 << 76) | (self.counter << 64) | (0b10 << 62) | r
        return value.to_bytes(16, "big")


def table_name(kind: str) -> str:
    return "k_" + kind.replace("-", "_")


def create(conn: Connection) -> None:
    for kind in KINDS:
        name = table_name(kind)
        conn.query(f"DROP TABLE IF EXISTS {name}")
        key = {
            "auto-increment": "BIGINT UNSIGNED NOT NULL AUTO_INCREMENT",
            "snowflake": "BIGINT UNSIGNED NOT NULL",
        }.get(kind, "BINARY(16) NOT NULL")
        conn.query(
            f"CREATE TABLE {name} (id {key} PRIMARY KEY, payload CHAR(64) NOT NULL) ENGINE=InnoDB"
        )


def makers() -> dict[str, Callable[[], Any]]:
    """One key maker per kind, kept for the whole run (the counter and Snowflake keep state)."""
    return {
        "snowflake": Snowflake(worker=1).next_id,
        "uuidv7": uuid7,
        "uuidv7-counter": MonotonicUUID7(),
        "uuidv4": lambda: uuid.uuid4().bytes,
    }


def _rows(kind: str, n: int, make: dict[str, Callable[[], Any]]) -> list[tuple[Any, ...]]:
    if kind == "auto-increment":
        return [(PAYLOAD,)] * n
    key = make[kind]
    return [(key(), PAYLOAD) for _ in range(n)]


def insert_round(
    conn: Connection, kind: str, n: int, make: dict[str, Callable[[], Any]], counters: Counters
) -> dict[str, Any]:
    cols = "(payload)" if kind == "auto-increment" else "(id, payload)"
    prefix = f"INSERT INTO {table_name(kind)} {cols} VALUES"
    rows = _rows(kind, n, make)  # made before the clock starts
    before = counters.read()
    t0 = time.perf_counter()
    for i in range(0, n, CHUNK):
        conn.insert_many(prefix, rows[i : i + CHUNK])
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows_per_s": n / seconds, **counters.delta(before)}


def round_sizes(total: int, rounds: int) -> list[int]:
    """``total`` rows split over at most ``rounds`` rounds, exactly: the first
    ``total % rounds`` rounds take one more (``total // rounds`` alone would lose
    the remainder, and the paging part would then look for rows that are not there)."""
    rounds = max(1, min(rounds, total))
    base, extra = divmod(total, rounds)
    return [base + (1 if i < extra else 0) for i in range(rounds)]


def run(conn: Connection, total: int, rounds: int) -> dict[str, Any]:
    """Per kind: per-round figures, totals, and the table's size at the end."""
    conn.query("SET GLOBAL innodb_monitor_enable = 'index_page_splits'")
    counters = Counters(conn, "GLOBAL", STATUS, METRICS)
    create(conn)
    make = makers()
    out: dict[str, Any] = {k: {"rounds": []} for k in KINDS}
    for r, n in enumerate(round_sizes(total, rounds)):
        for kind in common.rotated(KINDS, r):
            out[kind]["rounds"].append(insert_round(conn, kind, n, make, counters))
    for kind in KINDS:
        rs = out[kind]["rounds"]
        size = table_bytes(conn, table_name(kind))
        count = conn.query(f"SELECT COUNT(*) FROM {table_name(kind)}").scalar()
        out[kind].update(size, rows=count, seconds=sum(r["seconds"] for r in rs),
                         bytes_per_row=size["data_bytes"] / max(1, count),
                         page_splits=sum(r["index_page_splits"] for r in rs),
                         pool_reads=sum(r["innodb_buffer_pool_reads"] for r in rs))  # fmt: skip
    return out
