"""The blogs table (one per shard), the directory table, and their queries.

Every shard has the same ``blogs`` table. Its id column is ``AUTO_INCREMENT``
so the autoinc scheme can leave the id to the shard; the Snowflake scheme
writes its own ids into the same column. ``(user_id, id)`` is indexed: every
read is "this user's blogs".

The directory (``blog_directory``: user -> shard) lives on shard 0. A user not
in it lives on their home shard, ``user_id % shards``; a move writes a row.
Production systems keep such a directory in a replicated store and cache it.
"""

from __future__ import annotations

from typing import Any

BLOGS = (
    "CREATE TABLE IF NOT EXISTS blogs ("
    " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " user_id BIGINT UNSIGNED NOT NULL, title VARCHAR(200) NOT NULL, body TEXT NOT NULL,"
    " created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
    " KEY by_user (user_id, id)) ENGINE=InnoDB"
)
DIRECTORY = (
    "CREATE TABLE IF NOT EXISTS blog_directory ("
    " user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY, shard INT NOT NULL) ENGINE=InnoDB"
)
COLUMNS = "id, user_id, title, body, created_at"
MAX_TITLE = 200  # the column's width
MAX_BODY = 60_000  # under TEXT's 64 KiB with room for multi-byte characters
MAX_USER_ID = (1 << 63) - 1
LIST_LIMIT = 100  # blogs per listing


class InvalidBlog(ValueError):
    """The request's blog fields are missing or out of bounds."""


def validate(doc: Any) -> tuple[str, str]:
    if not isinstance(doc, dict):
        raise InvalidBlog("send a JSON object with title and body")
    title, body = doc.get("title"), doc.get("body", "")
    if not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE:
        raise InvalidBlog(f"title must be a string of 1..{MAX_TITLE} characters")
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise InvalidBlog(f"body must be a string of at most {MAX_BODY} characters")
    return title, body


def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    bid, user, title, body, created = row
    return {
        "id": bid,
        "user": user,
        "title": title,
        "body": body,
        "created_at": created.isoformat(),
    }


async def insert(conn: Any, user: int, title: str, body: str, bid: int | None) -> int:
    if bid is None:
        r = await conn.query(
            "INSERT INTO blogs (user_id, title, body) VALUES (%s, %s, %s)", (user, title, body)
        )
        return int(r.insert_id)
    await conn.query(
        "INSERT INTO blogs (id, user_id, title, body) VALUES (%s, %s, %s, %s)",
        (bid, user, title, body),
    )
    return bid


async def get(conn: Any, user: int, bid: int) -> dict[str, Any] | None:
    r = await conn.query(f"SELECT {COLUMNS} FROM blogs WHERE user_id = %s AND id = %s", (user, bid))
    return as_dict(r.rows[0]) if r.rows else None


async def by_id(conn: Any, bid: int) -> list[dict[str, Any]]:
    r = await conn.query(f"SELECT {COLUMNS} FROM blogs WHERE id = %s", (bid,))
    return [as_dict(row) for row in r.rows]


async def list_user(conn: Any, user: int) -> list[dict[str, Any]]:
    r = await conn.query(
        f"SELECT {COLUMNS} FROM blogs WHERE user_id = %s ORDER BY id DESC LIMIT {LIST_LIMIT}",
        (user,),
    )
    return [as_dict(row) for row in r.rows]


async def all_rows(conn: Any, user: int) -> list[tuple[Any, ...]]:
    return list((await conn.query(f"SELECT {COLUMNS} FROM blogs WHERE user_id = %s", (user,))).rows)
