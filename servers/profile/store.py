"""The users table and its queries: what the profile API reads and writes.

One table, ``users``: id, name, email (unique), bio, a ``version`` bumped by
every update and ``updated_at``. The version makes a stale read obvious: the
replica answers ``version: 1`` while the primary already says ``2``. Every
function takes a ``clients.mysql`` asyncio connection; which server that
connection goes to is the caller's decision (``app.py``). Input is checked
here, so bad input is a 422 before any SQL runs, and values reach SQL only
through the client's escaping.
"""

from __future__ import annotations

from typing import Any

from netlib.http import HTTPError

# Column sizes, checked before SQL so a client gets a clear 422 instead of a
# truncation warning: 100 for a display name, 254 for an email (RFC 5321's
# path limit), 2000 for a short bio.
MAX_NAME = 100
MAX_EMAIL = 254
MAX_BIO = 2000
FIELDS = ("name", "email", "bio")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS users (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR({MAX_NAME}) NOT NULL,
    email VARCHAR({MAX_EMAIL}) NOT NULL,
    bio VARCHAR({MAX_BIO}) NOT NULL DEFAULT '',
    version INT UNSIGNED NOT NULL DEFAULT 1,
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY email (email)
) ENGINE=InnoDB
"""
_SELECT = "SELECT id, name, email, bio, version, updated_at FROM users WHERE id = %s"


def validate(data: Any, partial: bool) -> dict[str, str]:
    """The fields of a POST (all required but bio) or a PUT (any, at least one)."""
    if not isinstance(data, dict):
        raise HTTPError(422, "expected a JSON object")
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise HTTPError(422, f"unknown fields: {', '.join(sorted(unknown))}")
    out: dict[str, str] = {}
    for name, limit in (("name", MAX_NAME), ("email", MAX_EMAIL), ("bio", MAX_BIO)):
        if name not in data:
            if not partial and name != "bio":
                raise HTTPError(422, f"{name} is required")
            continue
        value = data[name]
        if not isinstance(value, str) or len(value) > limit or (name != "bio" and not value):
            raise HTTPError(422, f"{name} must be a string of 1..{limit} characters")
        out[name] = value
    if "email" in out and "@" not in out["email"]:
        raise HTTPError(422, "email must contain @")
    if partial and not out:
        raise HTTPError(422, "nothing to update")
    return out


def as_json(row: tuple[Any, ...]) -> dict[str, Any]:
    uid, name, email, bio, version, updated = row
    return {
        "id": uid,
        "name": name,
        "email": email,
        "bio": bio,
        "version": version,
        "updated_at": updated.isoformat(),
    }


async def get_user(conn: Any, uid: int) -> dict[str, Any] | None:
    row = (await conn.query(_SELECT, (uid,))).first()
    return None if row is None else as_json(row)


async def create_user(conn: Any, fields: dict[str, str]) -> dict[str, Any]:
    r = await conn.query(
        "INSERT INTO users (name, email, bio) VALUES (%s, %s, %s)",
        (fields["name"], fields["email"], fields.get("bio", "")),
    )
    user = await get_user(conn, r.insert_id)
    assert user is not None  # just written on this very connection
    return user


async def update_user(conn: Any, uid: int, fields: dict[str, str]) -> dict[str, Any] | None:
    sets = ", ".join(f"{name} = %s" for name in fields)  # names come from FIELDS only
    r = await conn.query(
        f"UPDATE users SET {sets}, version = version + 1 WHERE id = %s", (*fields.values(), uid)
    )
    return None if r.affected_rows == 0 else await get_user(conn, uid)
