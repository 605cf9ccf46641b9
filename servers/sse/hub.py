"""The hub: numbered events in a bounded ring, fanned out to bounded per-client queues.

Ids are decimal integers that only grow (assigned here, or by the broker in
``--redis`` mode, so that every process numbers an event alike). The ring keeps
the last ``buffer`` events for replay: a client that reconnects with
``Last-Event-ID: N`` gets every event after N if N is still in the ring, else an
explicit ``reset`` event (it missed events we no longer have and must reload).

Each client has a queue of at most ``queue`` events. A client that does not read
stops draining its socket, its queue fills, and it is dropped (its connection
aborted, the reason logged) rather than making the server hold a growing
backlog: one slow reader never costs memory without bound nor slows the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netlib.sse import Event, comment, encode

log = logging.getLogger("servers.sse")

DEFAULT_BUFFER = 1000  # events kept for Last-Event-ID replay
DEFAULT_QUEUE = 256  # events a client may be behind before it is dropped
MAX_ID_DIGITS = 19  # a Last-Event-ID longer than an int64 is malformed


@dataclass(frozen=True, slots=True)
class Numbered:
    id: int
    event: str
    data: str
    wire: bytes  # the encoded event, made once and shared by every client

    @staticmethod
    def make(id: int, event: str, data: str) -> Numbered:
        return Numbered(id, event, data, encode(Event(data, event, str(id))))


def parse_last_id(value: str | None) -> int | None:
    """A Last-Event-ID as an int; malformed (not decimal digits) is treated as absent."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > MAX_ID_DIGITS:
        return None
    return int(value)


class Subscriber:
    """One client's queue of encoded chunks, and how to cut it off."""

    def __init__(self, peer: str, limit: int, abort: Callable[[], None]) -> None:
        self.peer, self.limit, self.abort = peer, limit, abort
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.dropped = False

    def offer(self, chunk: bytes) -> bool:
        """Queue ``chunk``; False (the caller drops us) when we are ``limit`` behind."""
        if self.queue.qsize() >= self.limit:
            return False
        self.queue.put_nowait(chunk)
        return True


class Hub:
    """Events in, to every subscriber; the ring for replay."""

    def __init__(self, buffer: int = DEFAULT_BUFFER, queue: int = DEFAULT_QUEUE) -> None:
        self.ring: deque[Numbered] = deque(maxlen=buffer)
        self.queue_limit = queue
        self.subscribers: set[Subscriber] = set()
        self.last_id = 0
        self.dropped = 0  # slow clients cut off
        self.published = 0

    # -- events in ---------------------------------------------------------------
    def next_id(self) -> int:
        return self.last_id + 1

    def deliver(self, ev: Numbered) -> None:
        """An event with its id (ids arrive in order; a repeat or an older one is ignored)."""
        if ev.id <= self.last_id:
            return
        self.last_id = ev.id
        self.ring.append(ev)
        self.published += 1
        self.broadcast(ev.wire)

    def broadcast(self, chunk: bytes) -> None:
        for sub in list(self.subscribers):
            if not sub.offer(chunk):
                self.drop(sub, f"slow client: {sub.limit} events queued unread")

    def heartbeat(self) -> None:
        """A comment to every client: keeps proxies and idle timeouts from closing quiet streams."""
        self.broadcast(comment("ping"))

    # -- subscribers ---------------------------------------------------------------
    def subscribe(self, peer: str, abort: Callable[[], None]) -> Subscriber:
        sub = Subscriber(peer, self.queue_limit, abort)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def drop(self, sub: Subscriber, reason: str) -> None:
        log.warning("[%s] dropped: %s", sub.peer, reason)
        self.dropped += 1
        sub.dropped = True
        self.subscribers.discard(sub)
        sub.abort()

    def close_all(self, last_words: bytes) -> None:
        """Shutdown: every stream gets ``last_words`` and ends."""
        for sub in list(self.subscribers):
            sub.queue.put_nowait(last_words)
            sub.queue.put_nowait(None)
        self.subscribers.clear()

    # -- replay ---------------------------------------------------------------------
    def replay(self, after: int | None) -> list[bytes]:
        """What a client that last saw id ``after`` must get before the live events."""
        if after is None or after == self.last_id:
            return []
        oldest = self.ring[0].id if self.ring else self.last_id + 1
        if after > self.last_id or after < oldest - 1:
            why = "unknown id" if after > self.last_id else "id older than the replay buffer"
            info = json.dumps({"reason": why, "last_event_id": after, "oldest": oldest,
                               "latest": self.last_id})  # fmt: skip
            return [encode(Event(info, "reset", str(self.last_id)))]
        return [ev.wire for ev in self.ring if ev.id > after]

    # -- persistence across a graceful restart (standalone mode) ----------------------
    def save(self, path: Path) -> None:
        rows = [{"id": e.id, "event": e.event, "data": e.data} for e in self.ring]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"last_id": self.last_id, "events": rows}))
        tmp.replace(path)

    def load(self, path: Path) -> None:
        try:
            doc = json.loads(path.read_text())
            events = [Numbered.make(int(r["id"]), str(r["event"]), str(r["data"])) for r in doc["events"]]
            last = int(doc["last_id"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("ignoring %s: %r", path, e)
            return
        self.ring.extend(events)
        self.last_id = max(last, self.last_id)
