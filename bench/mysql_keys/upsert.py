"""Part 2: ``INSERT ... ON DUPLICATE KEY UPDATE`` vs ``REPLACE INTO`` on existing rows.

The parent table has a secondary index (``email``) and a child table with a
foreign key to it (``ON DELETE CASCADE``). Every upserted row already exists.

* ODKU finds the row and updates it in place: one ``Handler_update`` per row,
  the secondary index untouched when its column did not change, the children
  untouched.
* ``REPLACE`` is documented as "delete the old row, insert the new one": one
  ``Handler_delete`` plus one ``Handler_write`` per row, the secondary index
  entry deleted and re-inserted, and (the surprise) the foreign key's cascade
  deletes every child row. (MySQL may turn REPLACE into an update only when
  the conflict is on the last unique index and no foreign key or delete
  trigger is involved; neither holds here.)

Each round times both on the same rows (interleaved, who goes first rotating),
then puts the children back (untimed) so the next round starts equal.
"""

from __future__ import annotations

import time
from typing import Any

from clients.mysql import Connection

from .. import common
from ..sqlbench import Counters

BATCH = 1_000  # rows per statement
STATUS = ["Handler_write", "Handler_update", "Handler_delete"]
WAYS = ("on duplicate key update", "replace into")
REFERENCE = "replace into"


def setup(conn: Connection, n: int) -> None:
    conn.query("DROP TABLE IF EXISTS up_order")
    conn.query("DROP TABLE IF EXISTS up_account")
    conn.query(
        "CREATE TABLE up_account (id INT NOT NULL PRIMARY KEY, email VARCHAR(64) NOT NULL,"
        " name VARCHAR(64) NOT NULL, visits INT NOT NULL, KEY by_email (email)) ENGINE=InnoDB"
    )
    conn.query(
        "CREATE TABLE up_order (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, account_id INT NOT NULL,"
        " FOREIGN KEY (account_id) REFERENCES up_account (id) ON DELETE CASCADE) ENGINE=InnoDB"
    )
    conn.insert_many(
        "INSERT INTO up_account VALUES",
        ((i, f"u{i}@example.com", f"user {i}", 0) for i in range(n)),
    )
    refill_children(conn)


def refill_children(conn: Connection) -> None:
    conn.query("INSERT INTO up_order (account_id) SELECT a.id FROM up_account a"
               " LEFT JOIN up_order o ON o.account_id = a.id WHERE o.id IS NULL")  # fmt: skip


def _statements(way: str, n: int, round_no: int) -> list[str]:
    out = []
    for lo in range(0, n, BATCH):
        values = ",".join(
            f"({i},'u{i}@example.com','user {i} r{round_no}',1)"
            for i in range(lo, min(n, lo + BATCH))
        )
        if way == "replace into":
            out.append(f"REPLACE INTO up_account (id, email, name, visits) VALUES {values}")
        else:
            out.append(f"INSERT INTO up_account (id, email, name, visits) VALUES {values}"
                       " ON DUPLICATE KEY UPDATE name = VALUES(name), visits = visits + 1")  # fmt: skip
    return out


def one(conn: Connection, way: str, n: int, round_no: int, counters: Counters) -> dict[str, Any]:
    stmts = _statements(way, n, round_no)
    before = counters.read()
    t0 = time.perf_counter()
    affected = 0
    for sql in stmts:
        affected += conn.query(sql).affected_rows
    seconds = time.perf_counter() - t0
    delta = counters.delta(before)
    children = conn.query("SELECT COUNT(*) FROM up_order").scalar()
    refill_children(conn)
    return {"seconds": seconds, "rows_per_s": n / seconds, "affected_rows": affected,
            "children_left": int(children), **delta}  # fmt: skip


def run(conn: Connection, n: int, rounds: int) -> dict[str, Any]:
    setup(conn, n)
    counters = Counters(conn, "SESSION", STATUS)
    out: dict[str, Any] = {w: {"rounds": []} for w in WAYS}
    for r in range(rounds):
        for way in common.rotated(WAYS, r):
            out[way]["rounds"].append(one(conn, way, n, r, counters))
    return out
