"""The data set: messages in channels of very different sizes, and memberships.

Channels are drawn with a square-law skew (channel = C * u**2 for uniform u),
so a few channels hold most messages, as in real chat workspaces. ``created_at``
grows with ``id`` (one message every ~50 ms, with jitter). Each member has read
its channel up to a point: half are caught up, half have up to an hour unread.
A fixed seed makes runs comparable.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from clients.mysql import Connection

SEED = 12


@dataclass(frozen=True)
class Shape:
    messages: int
    channels: int
    users: int
    channels_per_user: int

    @classmethod
    def for_messages(cls, n: int) -> Shape:
        return cls(n, channels=max(20, n // 500), users=max(50, n // 50), channels_per_user=10)


SCHEMA = [
    "DROP TABLE IF EXISTS ur_messages",
    "DROP TABLE IF EXISTS ur_members",
    "CREATE TABLE ur_messages (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " channel_id INT NOT NULL, sender_id INT NOT NULL, created_at DATETIME(3) NOT NULL,"
    " body VARCHAR(100) NOT NULL) ENGINE=InnoDB",
    "CREATE TABLE ur_members (user_id INT NOT NULL, channel_id INT NOT NULL,"
    " last_read_at DATETIME(3) NOT NULL, PRIMARY KEY (user_id, channel_id)) ENGINE=InnoDB",
]
BASE = "2026-01-01 00:00:00"
BODY = "hello " * 8
BATCH = 10_000
INSERT = "INSERT INTO ur_messages (channel_id, sender_id, created_at, body) VALUES"


def _messages(shape: Shape, rnd: random.Random) -> Iterator[tuple[int, int, int, str]]:
    for i in range(shape.messages):
        ch = int(shape.channels * rnd.random() ** 2)
        ms = i * 50 + rnd.randrange(50)
        yield ch, rnd.randrange(shape.users), ms, BODY


def load(conn: Connection, shape: Shape) -> None:
    rnd = random.Random(SEED)
    for sql in SCHEMA:
        conn.query(sql)
    batch: list[tuple[int, int, str, str]] = []
    for ch, snd, ms, body in _messages(shape, rnd):
        batch.append((ch, snd, timestamp(ms), body))
        if len(batch) == BATCH:
            conn.insert_many(INSERT, batch)
            batch = []
    if batch:
        conn.insert_many(INSERT, batch)
    members = set()
    for u in range(shape.users):
        for _ in range(shape.channels_per_user):
            members.add((u, int(shape.channels * rnd.random() ** 2)))
    conn.insert_many("INSERT INTO ur_members (user_id, channel_id, last_read_at) VALUES",
                     [(u, c, BASE) for u, c in sorted(members)])  # fmt: skip
    # Read up to the channel's newest message (caught up), or up to an hour before it.
    conn.query(
        "UPDATE ur_members m JOIN (SELECT channel_id, MAX(created_at) AS newest FROM ur_messages"
        " GROUP BY channel_id) c ON c.channel_id = m.channel_id"
        " SET m.last_read_at = IF((m.user_id + m.channel_id) % 2 = 0, c.newest,"
        " c.newest - INTERVAL ((m.user_id * 7919 + m.channel_id) % 3600) SECOND)"
    )


def timestamp(ms: int) -> str:
    """BASE + ``ms`` as DATETIME(3) text (the loader's messages span well under a month)."""
    s, milli = divmod(ms, 1000)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    mi, s = divmod(s, 60)
    return f"2026-01-{1 + d:02d} {h:02d}:{mi:02d}:{s:02d}.{milli:03d}"
