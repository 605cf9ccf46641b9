"""Sans-IO Engine.IO v4 packets and the long-polling payload.

A packet is one type digit and its data (the protocol's ``packet.md``)::

    0 open     server -> client: the handshake JSON
    1 close    either side: the session ends
    2 ping     server -> client (v4: the server pings), or "2probe" in an upgrade
    3 pong     client -> server, or "3probe" in an upgrade
    4 message  data: text after the digit, or binary
    5 upgrade  client -> server over the new transport: switch now
    6 noop     server -> client: ends a pending poll during an upgrade

Over WebSocket one frame is one packet: a text frame is ``digit + text``, a
binary frame is a whole binary message (no type byte). Over HTTP long-polling a
payload is several packets joined by the record separator ``\\x1e`` (which
cannot appear in JSON text); a binary message there is ``b`` + base64.

Limits: a payload longer than ``max_payload`` bytes, more than
``MAX_PACKETS_PER_PAYLOAD`` packets, an unknown type digit or bad base64 is a
``ProtocolError``: the server answers 400 and closes the session, as the
reference server does for a payload it cannot decode.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import IntEnum

SEPARATOR = "\x1e"
# The default maxPayload the reference server announces (1 MB): a POST or a
# WebSocket frame bigger than this is refused.
DEFAULT_MAX_PAYLOAD = 1_000_000
# Packets in one POST: a chat client sends a handful; 1,000 bounds the work one
# request can cause even when every packet is tiny.
MAX_PACKETS_PER_PAYLOAD = 1000


class ProtocolError(ValueError):
    """Input that is not Engine.IO: the session is closed (HTTP 400 on polling)."""


class PacketType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


@dataclass(frozen=True, slots=True)
class Packet:
    type: PacketType
    data: str | bytes = ""

    @property
    def binary(self) -> bool:
        return isinstance(self.data, bytes)


def encode(p: Packet, *, b64: bool = False) -> str | bytes:
    """One packet: text for text data; binary data as bytes (WebSocket) or ``b``+base64 (polling)."""
    if isinstance(p.data, bytes):
        if p.type != PacketType.MESSAGE:
            raise ValueError("only message packets carry binary data")
        return "b" + base64.b64encode(p.data).decode("ascii") if b64 else p.data
    return f"{int(p.type)}{p.data}"


def decode(raw: str | bytes) -> Packet:
    """One packet from a WebSocket frame (bytes: a binary message) or a payload part."""
    if isinstance(raw, bytes):
        return Packet(PacketType.MESSAGE, raw)
    if not raw:
        raise ProtocolError("empty packet")
    if raw[0] == "b":
        try:
            return Packet(PacketType.MESSAGE, base64.b64decode(raw[1:], validate=True))
        except (binascii.Error, ValueError):
            raise ProtocolError("bad base64 in a binary packet") from None
    if not "0" <= raw[0] <= "6":
        raise ProtocolError(f"unknown packet type {raw[0]!r}")
    return Packet(PacketType(int(raw[0])), raw[1:])


def encode_payload(packets: list[Packet]) -> str:
    """What a polling GET answers: the packets joined by the record separator."""
    return SEPARATOR.join(str(encode(p, b64=True)) for p in packets)


def decode_payload(body: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> list[Packet]:
    """A polling POST's body: UTF-8 text, packets split at ``\\x1e``."""
    if len(body) > max_payload:
        raise ProtocolError(f"payload of {len(body)} bytes exceeds maxPayload {max_payload}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("payload is not UTF-8") from None
    parts = text.split(SEPARATOR)
    if len(parts) > MAX_PACKETS_PER_PAYLOAD:
        raise ProtocolError(f"more than {MAX_PACKETS_PER_PAYLOAD} packets in one payload")
    return [decode(p) for p in parts]
