"""One shard's tables and every query the API and the mover run against a shard.

Each row carries its ``slot`` so the mover can copy "everything of slot 7" with
one indexed scan, whichever mode (range or hash) put the user there.
"""

from __future__ import annotations

from typing import Any

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS users (
        id BIGINT PRIMARY KEY, slot INT NOT NULL, name VARCHAR(100) NOT NULL,
        created_at DATETIME(6) NOT NULL, KEY by_slot (slot, id)
    ) ENGINE=InnoDB""",
    """CREATE TABLE IF NOT EXISTS posts (
        id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, slot INT NOT NULL, body TEXT NOT NULL,
        created_at DATETIME(6) NOT NULL, KEY by_user (user_id, id), KEY by_slot (slot, id)
    ) ENGINE=InnoDB""",
]
TABLES = {
    "users": ("id", "slot", "name", "created_at"),
    "posts": ("id", "user_id", "slot", "body", "created_at"),
}
COPY_BATCH = 500  # rows per SELECT/REPLACE while copying a slot: a few hundred KB at most
FEED_MAX = 100  # posts a feed answers at most


async def create(conn: Any) -> None:
    for sql in SCHEMA:
        await conn.query(sql)


async def insert_user(conn: Any, uid: int, slot: int, name: str) -> dict[str, Any]:
    await conn.query("INSERT INTO users (id, slot, name, created_at) VALUES (%s, %s, %s, NOW(6))",
                     (uid, slot, name))  # fmt: skip
    return {"id": uid, "name": name}


async def get_user(conn: Any, uid: int) -> dict[str, Any] | None:
    row = (await conn.query("SELECT id, name, created_at FROM users WHERE id = %s", (uid,))).first()
    return None if row is None else {"id": row[0], "name": row[1], "created_at": str(row[2])}


async def insert_post(conn: Any, pid: int, uid: int, slot: int, body: str) -> dict[str, Any]:
    await conn.query("INSERT INTO posts (id, user_id, slot, body, created_at)"
                     " VALUES (%s, %s, %s, %s, NOW(6))", (pid, uid, slot, body))  # fmt: skip
    return {"id": pid, "user_id": uid, "body": body}


async def posts_of(conn: Any, uids: list[int], limit: int) -> list[dict[str, Any]]:
    if not uids:
        return []
    marks = ", ".join(["%s"] * len(uids))
    rows = (await conn.query(f"SELECT id, user_id, body, created_at FROM posts WHERE user_id IN ({marks})"
                             " ORDER BY id DESC LIMIT %s", (*uids, limit))).rows  # fmt: skip
    return [{"id": r[0], "user_id": r[1], "body": r[2], "created_at": str(r[3])} for r in rows]


async def count_slot(conn: Any, table: str, slot: int) -> int:
    return int((await conn.query(f"SELECT COUNT(*) FROM {table} WHERE slot = %s", (slot,))).scalar())


async def rows_after(conn: Any, table: str, slot: int, after: int) -> list[tuple]:
    cols = ", ".join(TABLES[table])
    return (await conn.query(f"SELECT {cols} FROM {table} WHERE slot = %s AND id > %s ORDER BY id"
                             f" LIMIT {COPY_BATCH}", (slot, after))).rows  # fmt: skip


async def row(conn: Any, table: str, pk: int) -> tuple | None:
    cols = ", ".join(TABLES[table])
    first: tuple | None = (await conn.query(f"SELECT {cols} FROM {table} WHERE id = %s", (pk,))).first()
    return first


async def put_rows(conn: Any, table: str, rows: list[tuple]) -> None:
    """Insert or overwrite (REPLACE: copying twice is harmless)."""
    if rows:
        await conn.insert_many(f"REPLACE INTO {table} ({', '.join(TABLES[table])}) VALUES", rows)


async def delete_row(conn: Any, table: str, pk: int) -> None:
    await conn.query(f"DELETE FROM {table} WHERE id = %s", (pk,))


async def slot_checksum(conn: Any, table: str, slot: int) -> tuple[int, int]:
    """(rows, XOR of each row's CRC32): equal on two shards iff they hold the same rows
    (up to a CRC collision), computed by the server without shipping the rows."""
    cols = ", ".join(f"IFNULL({c}, '')" for c in TABLES[table])
    r = (await conn.query(f"SELECT COUNT(*), IFNULL(BIT_XOR(CRC32(CONCAT_WS('|', {cols}))), 0)"
                          f" FROM {table} WHERE slot = %s", (slot,))).first()  # fmt: skip
    return int(r[0]), int(r[1])


async def delete_slot(conn: Any, table: str, slot: int) -> int:
    """Remove a moved slot's rows from its old shard, in bounded batches."""
    total = 0
    while True:
        r = await conn.query(f"DELETE FROM {table} WHERE slot = %s LIMIT {COPY_BATCH}", (slot,))
        total += r.affected_rows
        if r.affected_rows < COPY_BATCH:
            return total
