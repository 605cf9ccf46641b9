"""An atomically incremented integer in MySQL: one row, ``LAST_INSERT_ID(expr)``.

``UPDATE id_counter SET value = LAST_INSERT_ID(value + n) WHERE name = ?``
increments under the row lock and stores the new value as this connection's
``LAST_INSERT_ID()``, which the server sends back in the UPDATE's OK packet
(``insert_id``): one round trip, no SELECT, and no race, because the value read
is the one this statement wrote. The MySQL manual gives this recipe for
sequences (``LAST_INSERT_ID(expr)``).

The price: every id is a round trip and a row lock on one hot row (a commit's
log write with autocommit); ``n > 1`` takes a block of ids at once, which is
what the range service does in front of a store like this.
"""

from __future__ import annotations

from typing import Any

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS id_counter ("
    " name VARCHAR(64) NOT NULL PRIMARY KEY,"
    " value BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB"
)


class MySQLCounter:
    """Ids 1, 2, 3, ... from the row ``name`` of ``id_counter``; one connection per thread."""

    def __init__(self, conn: Any, name: str = "default") -> None:
        self.conn = conn
        self.name = name

    @classmethod
    def install(cls, conn: Any, name: str = "default") -> None:
        conn.query(SCHEMA)
        conn.query("INSERT IGNORE INTO id_counter (name, value) VALUES (%s, 0)", (name,))

    def next_block(self, n: int) -> range:
        """``n`` consecutive ids reserved for the caller alone."""
        if n < 1:
            raise ValueError("a block holds at least one id")
        r = self.conn.query(
            "UPDATE id_counter SET value = LAST_INSERT_ID(value + %s) WHERE name = %s",
            (n, self.name),
        )
        if r.affected_rows != 1:
            raise LookupError(f"no counter named {self.name!r}: call MySQLCounter.install first")
        return range(r.insert_id - n + 1, r.insert_id + 1)

    def next_id(self) -> int:
        return self.next_block(1)[0]
