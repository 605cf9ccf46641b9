"""The chat's durable history: every message in a Bitcask (storage/bitcask), the recent ones in memory.

Key ``m:<channel>:<id as 20 digits>`` -> the message's JSON. Bitcask keeps every
key in memory (its keydir) and reads a value with one ``pread``; at start-up the
keys are grouped by channel to know each channel's last id and to keep its last
``RECENT`` messages at hand for ``join``. ``sync="always"`` (the default,
``--sync``): a message is on disk before its sender's ack says it was stored (the
ack is the promise); the fsync runs on the event loop, so it bounds a process's
message rate (about one fsync per message: group commit would batch them).

A message id is per channel and only grows; in the star (``--redis``) Redis
assigns it, and every process stores what it hears, so ``put`` ignores an id it
already has.

What production would do differently: Bitcask's keydir holds every key, so a
chat with billions of messages wants an ordered engine (the LSM tree) and range
reads for history older than the last page.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

from storage.bitcask import Bitcask, SyncPolicy

RECENT = 50  # messages a join is answered with
ID_DIGITS = 20


def key(channel: str, msg_id: int) -> bytes:
    return f"m:{channel}:{msg_id:0{ID_DIGITS}d}".encode()


class History:
    def __init__(self, db: Bitcask) -> None:
        self.db = db
        self.recent: dict[str, deque[dict[str, Any]]] = {}
        self.last_id: dict[str, int] = {}
        by_channel: dict[str, list[bytes]] = {}
        for k in db.keys():
            prefix, _, digits = k.rpartition(b":")
            if not prefix.startswith(b"m:") or not digits.isdigit():
                continue
            by_channel.setdefault(prefix[2:].decode(), []).append(k)
        for channel, keys in by_channel.items():
            keys.sort()
            self.last_id[channel] = int(keys[-1].rpartition(b":")[2])
            ring = self.recent[channel] = deque(maxlen=RECENT)
            for k in keys[-RECENT:]:
                raw = db.get(k)
                if raw is not None:
                    ring.append(json.loads(raw))

    @classmethod
    def open(cls, directory: Path, sync: SyncPolicy = "always") -> History:
        return cls(Bitcask.open(directory, sync=sync))

    def next_id(self, channel: str) -> int:
        return self.last_id.get(channel, 0) + 1

    def put(self, msg: dict[str, Any]) -> bool:
        """Store a message (its ``id`` and ``channel`` set); False if that id is not new."""
        channel, msg_id = msg["channel"], int(msg["id"])
        if msg_id <= self.last_id.get(channel, 0):
            return False
        self.db.put(key(channel, msg_id), json.dumps(msg, separators=(",", ":")).encode())
        self.last_id[channel] = msg_id
        self.recent.setdefault(channel, deque(maxlen=RECENT)).append(msg)
        return True

    def last(self, channel: str, n: int = RECENT) -> list[dict[str, Any]]:
        ring = self.recent.get(channel, ())
        return list(ring)[-n:]

    def close(self) -> None:
        self.db.close()
