"""Sans-IO Socket.IO v5 packets: the text encoding and binary attachments.

A packet is one Engine.IO message (the protocol's ``v5`` spec)::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]

    0 CONNECT        data: auth (client), {"sid": ...} (server)
    1 DISCONNECT
    2 EVENT          data: ["name", arg, ...]
    3 ACK            data: [arg, ...]
    4 CONNECT_ERROR  data: {"message": ...}
    5 BINARY_EVENT   as EVENT, with attachments
    6 BINARY_ACK     as ACK, with attachments

The namespace is omitted when it is ``/``. Binary values are taken out of the
data and replaced by ``{"_placeholder": true, "num": N}``; the text packet says
how many attachments follow, each as its own binary Engine.IO message.

``Decoder`` is fed Engine.IO messages and hands back whole packets: after a
binary packet's text it waits for its attachments, then puts them back in place.
Anything else is a ``ProtocolError`` (the server closes the connection, as the
reference server does for a packet it cannot decode). Limits:
``MAX_ATTACHMENTS`` per packet and ``MAX_ACK_ID``; the Engine.IO layer already
bounds a message's size (maxPayload).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

# Attachments one packet may announce: a chat message with a few images fits;
# a count in the millions would make us wait for (and hold) that many buffers.
MAX_ATTACHMENTS = 16
MAX_ACK_ID = 2**53 - 1  # what a JavaScript client can count to
MAX_NAMESPACE = 256  # characters of a namespace name
MAX_DEPTH = 32  # nesting of the JSON data (placeholders are searched recursively)


class ProtocolError(ValueError):
    """Not a Socket.IO packet: dropped with a log line, the connection closed."""


class PacketType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclass(slots=True)
class Packet:
    type: PacketType
    namespace: str = "/"
    data: Any = None  # None: no data part
    id: int | None = None  # the ack id
    attachments: list[bytes] = field(default_factory=list)  # filled by deconstruct/the decoder


def _has_binary(v: Any, depth: int = 0) -> bool:
    if isinstance(v, bytes | bytearray):
        return True
    if depth > MAX_DEPTH:
        return False
    if isinstance(v, list | tuple):
        return any(_has_binary(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return any(_has_binary(x, depth + 1) for x in v.values())
    return False


def _deconstruct(v: Any, out: list[bytes]) -> Any:
    if isinstance(v, bytes | bytearray):
        out.append(bytes(v))
        return {"_placeholder": True, "num": len(out) - 1}
    if isinstance(v, list | tuple):
        return [_deconstruct(x, out) for x in v]
    if isinstance(v, dict):
        return {k: _deconstruct(x, out) for k, x in v.items()}
    return v


def _reconstruct(v: Any, buffers: list[bytes], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ProtocolError("data nested too deep")
    if isinstance(v, list):
        return [_reconstruct(x, buffers, depth + 1) for x in v]
    if isinstance(v, dict):
        if v.get("_placeholder") is True:
            num = v.get("num")
            if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < len(buffers):
                raise ProtocolError(f"placeholder for attachment {num!r} of {len(buffers)}")
            return buffers[num]
        return {k: _reconstruct(x, buffers, depth + 1) for k, x in v.items()}
    return v


def encode(p: Packet) -> list[str | bytes]:
    """The Engine.IO messages for ``p``: its text, then each attachment (binary in the data
    turns EVENT into BINARY_EVENT and ACK into BINARY_ACK)."""
    ptype, data, attachments = p.type, p.data, list(p.attachments)
    if data is not None and ptype in (PacketType.EVENT, PacketType.ACK) and _has_binary(data):
        ptype = PacketType.BINARY_EVENT if ptype == PacketType.EVENT else PacketType.BINARY_ACK
    if ptype in (PacketType.BINARY_EVENT, PacketType.BINARY_ACK) and not attachments:
        data = _deconstruct(data, attachments)
    head = str(int(ptype))
    if ptype in (PacketType.BINARY_EVENT, PacketType.BINARY_ACK):
        head += f"{len(attachments)}-"
    if p.namespace != "/":
        head += p.namespace + ","
    if p.id is not None:
        head += str(p.id)
    if data is not None:
        head += json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return [head, *attachments]


def _parse_text(s: str) -> tuple[Packet, int]:
    """A packet's text part, and how many attachments must follow."""
    if not s or not "0" <= s[0] <= "6":
        raise ProtocolError(f"unknown packet type in {s[:20]!r}")
    ptype = PacketType(int(s[0]))
    i, n = 1, 0
    if ptype in (PacketType.BINARY_EVENT, PacketType.BINARY_ACK):
        dash = s.find("-", 1)
        count = s[1:dash]
        if dash < 0 or not count.isascii() or not count.isdigit() or len(count) > 3:
            raise ProtocolError("binary packet without an attachment count")
        n = int(count)
        if n > MAX_ATTACHMENTS:
            raise ProtocolError(f"{n} attachments, more than {MAX_ATTACHMENTS}")
        i = dash + 1
    nsp = "/"
    if i < len(s) and s[i] == "/":
        comma = s.find(",", i)
        end = comma if comma >= 0 else len(s)
        nsp = s[i:end]
        if len(nsp) > MAX_NAMESPACE:
            raise ProtocolError("namespace name too long")
        i = end + 1 if comma >= 0 else end
    j = i
    while j < len(s) and s[j].isascii() and s[j].isdigit():
        j += 1
    ack = None
    if j > i:
        ack = int(s[i:j]) if j - i <= 16 else MAX_ACK_ID + 1
        if ack > MAX_ACK_ID:
            raise ProtocolError("ack id too large")
    data = None
    if j < len(s):
        try:
            data = json.loads(s[j:])
        except (ValueError, RecursionError):
            raise ProtocolError(f"data is not JSON: {s[j:j + 40]!r}") from None
    p = Packet(ptype, nsp, data, ack)
    _validate(p)
    return p, n


def _validate(p: Packet) -> None:
    t, d = p.type, p.data
    if t == PacketType.CONNECT and d is not None and not isinstance(d, dict):
        raise ProtocolError("CONNECT data must be an object")
    if t == PacketType.DISCONNECT and d is not None:
        raise ProtocolError("DISCONNECT carries no data")
    if t in (PacketType.EVENT, PacketType.BINARY_EVENT):
        if not isinstance(d, list) or not d or not isinstance(d[0], str | int):
            raise ProtocolError("EVENT data must be a list starting with the event name")
    if t in (PacketType.ACK, PacketType.BINARY_ACK):
        if not isinstance(d, list) or p.id is None:
            raise ProtocolError("ACK needs an id and a list of arguments")
    if t == PacketType.CONNECT_ERROR and d is not None and not isinstance(d, dict | str):
        raise ProtocolError("CONNECT_ERROR data must be an object")


class Decoder:
    """Engine.IO messages in, whole Socket.IO packets out (one decoder per connection)."""

    def __init__(self) -> None:
        self._pending: Packet | None = None
        self._expect = 0
        self._buffers: list[bytes] = []

    def feed(self, msg: str | bytes) -> Packet | None:
        """One Engine.IO message; the completed packet, or None while attachments are due."""
        if isinstance(msg, bytes):
            if self._pending is None:
                raise ProtocolError("a binary message that no packet announced")
            self._buffers.append(msg)
            if len(self._buffers) < self._expect:
                return None
            p, self._pending = self._pending, None
            p.data = _reconstruct(p.data, self._buffers)
            p.attachments, self._buffers = self._buffers, []
            return p
        if self._pending is not None:
            raise ProtocolError("a text packet while attachments were due")
        p, n = _parse_text(msg)
        if n == 0:
            if p.type in (PacketType.BINARY_EVENT, PacketType.BINARY_ACK):
                p.data = _reconstruct(p.data, [])
            return p
        self._pending, self._expect = p, n
        return None
