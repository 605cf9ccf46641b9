"""Sans-IO Engine.IO v4 session: the handshake, the heartbeat and the outbox.

One ``Session`` per client sid, whatever carries it. The transport layer feeds it
decoded packets (``receive``), asks it what to send (``take``), and calls
``on_timer(now)`` at ``deadline()``; time is always passed in, so the heartbeat
is tested without sleeping.

The heartbeat (v4, where the server pings): ``ping_interval`` after the open (and
after every pong) the server queues a ``2``; the client must answer ``3`` within
``ping_timeout``, else the session ends with ``ping timeout``. A client that hears
no ping for ``ping_interval + ping_timeout`` gives up on its side too.

Upgrade (polling -> WebSocket): the client opens the WebSocket with its sid and
sends ``2probe``; we answer ``3probe`` on that socket only (``probe``), and
answer a pending poll with ``6`` (noop) so that the client's polling loop stops;
the client then sends ``5`` over the WebSocket (``upgraded``) and from then on
everything queued goes there.

Why a session ends (``reason``), the names the reference server uses, which the
disconnect events of servers/chat (N16) carry on:
``client close`` (a close packet or a clean WebSocket close), ``ping timeout``,
``transport close`` / ``transport error`` (the connection went away, cleanly or
with a reset), ``parse error``, ``server shutdown``, ``forced close`` (the
application closed it).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

from .packets import DEFAULT_MAX_PAYLOAD, Packet, PacketType, ProtocolError

DEFAULT_PING_INTERVAL = 25.0  # seconds, the reference server's defaults
DEFAULT_PING_TIMEOUT = 20.0
# Packets queued for a client that does not poll: a chat's burst fits; a client
# that stops polling is dropped instead of holding memory without bound.
MAX_OUTBOX = 10_000


@dataclass(frozen=True, slots=True)
class Message:
    """A message packet's data arrived."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over (``reason`` as in the module docstring)."""

    reason: str


Event = Message | Closed


class Session:
    def __init__(self, sid: str, now: float, *, ping_interval: float = DEFAULT_PING_INTERVAL,
                 ping_timeout: float = DEFAULT_PING_TIMEOUT, max_payload: int = DEFAULT_MAX_PAYLOAD,
                 upgrades: tuple[str, ...] = (), transport: str = "polling") -> None:  # fmt: skip
        self.sid = sid
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.max_payload = max_payload
        self.upgrades = upgrades
        self.transport = transport
        self.opened_at = now
        self.outbox: deque[Packet] = deque()
        self.closed: str | None = None  # the reason, once over
        self.upgrading = False
        self._next_ping = now + ping_interval
        self._pong_due: float | None = None

    # -- handshake -----------------------------------------------------------------
    def open_packet(self) -> Packet:
        doc = {"sid": self.sid, "upgrades": list(self.upgrades),
               "pingInterval": int(self.ping_interval * 1000),
               "pingTimeout": int(self.ping_timeout * 1000), "maxPayload": self.max_payload}  # fmt: skip
        return Packet(PacketType.OPEN, json.dumps(doc, separators=(",", ":")))

    # -- input ----------------------------------------------------------------------
    def receive(self, p: Packet, now: float) -> list[Event]:
        """A packet from the client, through whichever transport carries the session."""
        if self.closed is not None:
            return []
        t = p.type
        if t == PacketType.MESSAGE:
            return [Message(p.data)]
        if t == PacketType.PONG:
            if p.data == "probe":  # belongs to a client-side probe; the server never sends one
                return []
            self._pong_due = None
            self._next_ping = now + self.ping_interval
            return []
        if t == PacketType.CLOSE:
            return [self.close("client close", notify=False)]
        if t == PacketType.PING and p.data != "probe":
            # v3 clients ping; v4 ones do not: an answer keeps an old client alive
            self.outbox.append(Packet(PacketType.PONG, p.data))
            return []
        if t == PacketType.NOOP:
            return []
        # open, or an upgrade/probe outside the upgrade path: not from a client
        raise ProtocolError(f"unexpected packet {t.name} from a client")

    # -- upgrade ---------------------------------------------------------------------
    def probe(self, p: Packet) -> Packet:
        """The ``2probe`` on the new transport: answer ``3probe`` there; a poll gets ``6``."""
        if p.type != PacketType.PING or p.data != "probe":
            raise ProtocolError("an upgrade must start with 2probe")
        self.upgrading = True
        return Packet(PacketType.PONG, "probe")

    def upgraded(self, transport: str) -> None:
        """The ``5`` arrived over ``transport``: everything goes there from now on."""
        self.upgrading = False
        self.transport = transport

    # -- output -----------------------------------------------------------------------
    def send(self, data: str | bytes) -> bool:
        """Queue a message; False (and the session closes) when the client stopped reading."""
        if self.closed is not None:
            return False
        if len(self.outbox) >= MAX_OUTBOX:
            self.close("transport error: client not reading")
            return False
        self.outbox.append(Packet(PacketType.MESSAGE, data))
        return True

    def take(self, limit: int | None = None) -> list[Packet]:
        """Queued packets, oldest first (a poll takes them all, WebSocket one frame each)."""
        n = len(self.outbox) if limit is None else min(limit, len(self.outbox))
        return [self.outbox.popleft() for _ in range(n)]

    def close(self, reason: str, notify: bool = True) -> Closed:
        """End the session; ``notify`` queues a close packet for the client."""
        if self.closed is None:
            self.closed = reason
            if notify:
                self.outbox.append(Packet(PacketType.CLOSE))
        return Closed(self.closed)

    # -- heartbeat ----------------------------------------------------------------------
    def deadline(self) -> float:
        """When ``on_timer`` must next run."""
        return self._pong_due if self._pong_due is not None else self._next_ping

    def on_timer(self, now: float) -> Closed | None:
        """Send the due ping, or end the session whose pong is late."""
        if self.closed is not None:
            return None
        if self._pong_due is not None:
            if now >= self._pong_due:
                return self.close("ping timeout", notify=False)
            return None
        if now >= self._next_ping:
            self.outbox.append(Packet(PacketType.PING))
            self._pong_due = now + self.ping_timeout
        return None
