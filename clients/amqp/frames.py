"""AMQP 0-9-1 frames, methods, content headers and field tables: bytes in, values out.

Grammar (the AMQP 0-9-1 specification, section 4.2)::

    frame   := type:octet channel:short size:long payload:size frame-end(0xCE)
    method  := class-id:short method-id:short arguments
    header  := class-id:short weight:short(0) body-size:longlong flags:short properties
    body    := raw bytes, split so that no frame exceeds the negotiated frame-max

Arguments are packed in order; consecutive ``bit`` arguments share octets (up to
eight each). ``METHODS`` lists every method this client sends or understands,
with its argument types, so encoding and decoding are one loop each. The
``FrameReader`` enforces frame-max (negotiated in Connection.Tune) and the
frame-end octet: anything else is a ``ProtocolError`` and the connection closes
(spec: error 501 frame-error).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
METHOD, HEADER, BODY, HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE
FRAME_MIN_SIZE = 4096  # spec: frame-max may not be negotiated below this
_FRAME = struct.Struct(">BHI")


class ProtocolError(Exception):
    """The peer sent something that is not AMQP 0-9-1 (frame error, unknown method)."""


@dataclass
class Frame:
    type: int
    channel: int
    payload: bytes


@dataclass
class Method:
    name: str  # "basic.deliver"
    args: dict[str, Any]


_A = "octet short long longlong shortstr longstr bit table timestamp".split()
# (class id, method id) -> (name, [(arg, type)])
_SPEC = """
10 10 connection.start version_major:octet version_minor:octet server_properties:table mechanisms:longstr locales:longstr
10 11 connection.start_ok client_properties:table mechanism:shortstr response:longstr locale:shortstr
10 30 connection.tune channel_max:short frame_max:long heartbeat:short
10 31 connection.tune_ok channel_max:short frame_max:long heartbeat:short
10 40 connection.open virtual_host:shortstr reserved1:shortstr reserved2:bit
10 41 connection.open_ok reserved1:shortstr
10 50 connection.close reply_code:short reply_text:shortstr class_id:short method_id:short
10 51 connection.close_ok
10 60 connection.blocked reason:shortstr
10 61 connection.unblocked
20 10 channel.open reserved1:shortstr
20 11 channel.open_ok reserved1:longstr
20 20 channel.flow active:bit
20 21 channel.flow_ok active:bit
20 40 channel.close reply_code:short reply_text:shortstr class_id:short method_id:short
20 41 channel.close_ok
40 10 exchange.declare reserved1:short exchange:shortstr type:shortstr passive:bit durable:bit auto_delete:bit internal:bit no_wait:bit arguments:table
40 11 exchange.declare_ok
40 20 exchange.delete reserved1:short exchange:shortstr if_unused:bit no_wait:bit
40 21 exchange.delete_ok
50 10 queue.declare reserved1:short queue:shortstr passive:bit durable:bit exclusive:bit auto_delete:bit no_wait:bit arguments:table
50 11 queue.declare_ok queue:shortstr message_count:long consumer_count:long
50 20 queue.bind reserved1:short queue:shortstr exchange:shortstr routing_key:shortstr no_wait:bit arguments:table
50 21 queue.bind_ok
50 30 queue.purge reserved1:short queue:shortstr no_wait:bit
50 31 queue.purge_ok message_count:long
50 40 queue.delete reserved1:short queue:shortstr if_unused:bit if_empty:bit no_wait:bit
50 41 queue.delete_ok message_count:long
50 50 queue.unbind reserved1:short queue:shortstr exchange:shortstr routing_key:shortstr arguments:table
50 51 queue.unbind_ok
60 10 basic.qos prefetch_size:long prefetch_count:short global:bit
60 11 basic.qos_ok
60 20 basic.consume reserved1:short queue:shortstr consumer_tag:shortstr no_local:bit no_ack:bit exclusive:bit no_wait:bit arguments:table
60 21 basic.consume_ok consumer_tag:shortstr
60 30 basic.cancel consumer_tag:shortstr no_wait:bit
60 31 basic.cancel_ok consumer_tag:shortstr
60 40 basic.publish reserved1:short exchange:shortstr routing_key:shortstr mandatory:bit immediate:bit
60 50 basic.return reply_code:short reply_text:shortstr exchange:shortstr routing_key:shortstr
60 60 basic.deliver consumer_tag:shortstr delivery_tag:longlong redelivered:bit exchange:shortstr routing_key:shortstr
60 70 basic.get reserved1:short queue:shortstr no_ack:bit
60 71 basic.get_ok delivery_tag:longlong redelivered:bit exchange:shortstr routing_key:shortstr message_count:long
60 72 basic.get_empty reserved1:shortstr
60 80 basic.ack delivery_tag:longlong multiple:bit
60 90 basic.reject delivery_tag:longlong requeue:bit
60 110 basic.recover requeue:bit
60 111 basic.recover_ok
60 120 basic.nack delivery_tag:longlong multiple:bit requeue:bit
85 10 confirm.select no_wait:bit
85 11 confirm.select_ok
"""
METHODS: dict[tuple[int, int], tuple[str, list[tuple[str, str]]]] = {}
IDS: dict[str, tuple[int, int]] = {}
for _line in _SPEC.strip().splitlines():
    _c, _m, _name, *_args = _line.split()
    METHODS[(int(_c), int(_m))] = (_name, [tuple(a.split(":")) for a in _args])  # type: ignore[misc]
    IDS[_name] = (int(_c), int(_m))

# Basic content properties, in flag order (bit 15 first).
PROPERTIES = [
    ("content_type", "shortstr"), ("content_encoding", "shortstr"), ("headers", "table"),
    ("delivery_mode", "octet"), ("priority", "octet"), ("correlation_id", "shortstr"),
    ("reply_to", "shortstr"), ("expiration", "shortstr"), ("message_id", "shortstr"),
    ("timestamp", "timestamp"), ("type", "shortstr"), ("user_id", "shortstr"),
    ("app_id", "shortstr"), ("cluster_id", "shortstr"),
]  # fmt: skip


# -- primitive readers/writers ----------------------------------------------------------


class _R:
    def __init__(self, b: bytes) -> None:
        self.b, self.p = b, 0

    def take(self, n: int) -> bytes:
        if self.p + n > len(self.b):
            raise ProtocolError("argument runs past the end of its frame")
        out = self.b[self.p : self.p + n]
        self.p += n
        return out

    def unpack(self, fmt: str) -> Any:
        s = struct.Struct(fmt)
        return s.unpack(self.take(s.size))[0]

    def read(self, t: str) -> Any:
        if t == "octet":
            return self.unpack(">B")
        if t == "short":
            return self.unpack(">H")
        if t == "long":
            return self.unpack(">I")
        if t in ("longlong", "timestamp"):
            return self.unpack(">Q")
        if t == "shortstr":
            return self.take(self.unpack(">B")).decode("utf-8", "replace")
        if t == "longstr":
            return self.take(self.unpack(">I"))
        if t == "table":
            return self.table()
        raise ProtocolError(f"unknown type {t}")

    def table(self) -> dict[str, Any]:
        sub = _R(self.take(self.unpack(">I")))
        out = {}
        while sub.p < len(sub.b):
            key = sub.read("shortstr")
            out[key] = sub.value()
        return out

    def value(self) -> Any:
        kind = self.take(1)
        simple = {b"b": ">b", b"B": ">B", b"s": ">h", b"u": ">H", b"I": ">i", b"i": ">I",
                  b"l": ">q", b"f": ">f", b"d": ">d"}  # fmt: skip
        if kind in simple:
            return self.unpack(simple[kind])
        if kind == b"t":
            return self.unpack(">B") != 0
        if kind == b"S":
            return self.take(self.unpack(">I")).decode("utf-8", "replace")
        if kind == b"x":
            return self.take(self.unpack(">I"))
        if kind == b"T":
            return datetime.fromtimestamp(self.unpack(">Q"))
        if kind == b"F":
            return self.table()
        if kind == b"A":
            sub = _R(self.take(self.unpack(">I")))
            items = []
            while sub.p < len(sub.b):
                items.append(sub.value())
            return items
        if kind == b"D":
            scale = self.unpack(">B")
            return Decimal(self.unpack(">i")).scaleb(-scale)
        if kind == b"V":
            return None
        raise ProtocolError(f"unknown field-table type {kind!r}")


def _shortstr(s: str) -> bytes:
    b = s.encode()
    if len(b) > 255:
        raise ValueError(f"shortstr over 255 bytes: {s[:40]!r}...")
    return bytes([len(b)]) + b


def encode_table(d: dict[str, Any] | None) -> bytes:
    body = b"".join(_shortstr(k) + _value(v) for k, v in (d or {}).items())
    return struct.pack(">I", len(body)) + body


def _value(v: Any) -> bytes:
    if isinstance(v, bool):
        return b"t" + bytes([v])
    if isinstance(v, int):
        return b"l" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"d" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return b"S" + struct.pack(">I", len(b)) + b
    if isinstance(v, bytes):
        return b"x" + struct.pack(">I", len(v)) + v
    if isinstance(v, dict):
        return b"F" + encode_table(v)
    if isinstance(v, list):
        body = b"".join(_value(x) for x in v)
        return b"A" + struct.pack(">I", len(body)) + body
    if v is None:
        return b"V"
    raise TypeError(f"cannot put {type(v).__name__} in a field table")


def _write(t: str, v: Any) -> bytes:
    if t == "octet":
        return struct.pack(">B", v or 0)
    if t == "short":
        return struct.pack(">H", v or 0)
    if t == "long":
        return struct.pack(">I", v or 0)
    if t in ("longlong", "timestamp"):
        return struct.pack(">Q", v or 0)
    if t == "shortstr":
        return _shortstr(v or "")
    if t == "longstr":
        b = v.encode() if isinstance(v, str) else (v or b"")
        return struct.pack(">I", len(b)) + b
    if t == "table":
        return encode_table(v)
    raise ValueError(t)


# -- methods, content, frames ---------------------------------------------------------------


def encode_method(name: str, **args: Any) -> bytes:
    cid, mid = IDS[name]
    out = [struct.pack(">HH", cid, mid)]
    bits: list[bool] = []
    for arg, t in METHODS[(cid, mid)][1]:
        if t == "bit":
            bits.append(bool(args.get(arg, False)))
            continue
        if bits:
            out.append(_pack_bits(bits))
            bits = []
        out.append(_write(t, args.get(arg)))
    if bits:
        out.append(_pack_bits(bits))
    return b"".join(out)


def _pack_bits(bits: list[bool]) -> bytes:
    out = bytearray()
    for i in range(0, len(bits), 8):
        out.append(sum(1 << j for j, b in enumerate(bits[i : i + 8]) if b))
    return bytes(out)


def decode_method(payload: bytes) -> Method:
    r = _R(payload)
    key = (r.unpack(">H"), r.unpack(">H"))
    if key not in METHODS:
        raise ProtocolError(f"unknown method {key}")
    name, spec = METHODS[key]
    args: dict[str, Any] = {}
    octet, bit = 0, 8
    for arg, t in spec:
        if t == "bit":
            if bit == 8:
                octet, bit = r.unpack(">B"), 0
            args[arg] = bool(octet & (1 << bit))
            bit += 1
            continue
        bit = 8
        args[arg] = r.read(t)
    return Method(name, args)


def encode_header(class_id: int, body_size: int, props: dict[str, Any] | None) -> bytes:
    props = props or {}
    flags, parts = 0, []
    for i, (name, t) in enumerate(PROPERTIES):
        if props.get(name) is not None:
            flags |= 1 << (15 - i)
            parts.append(_write(t, props[name]))
    return struct.pack(">HHQH", class_id, 0, body_size, flags) + b"".join(parts)


def decode_header(payload: bytes) -> tuple[int, dict[str, Any]]:
    r = _R(payload)
    r.unpack(">H"), r.unpack(">H")
    size, flags = r.unpack(">Q"), r.unpack(">H")
    props = {}
    for i, (name, t) in enumerate(PROPERTIES):
        if flags & (1 << (15 - i)):
            props[name] = r.read(t)
    return size, props


def encode_frame(ftype: int, channel: int, payload: bytes) -> bytes:
    return _FRAME.pack(ftype, channel, len(payload)) + payload + b"\xce"


class FrameReader:
    def __init__(self, frame_max: int = 131072) -> None:
        self.frame_max = frame_max
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> Frame | None:
        if len(self._buf) < 7:
            return None
        ftype, channel, size = _FRAME.unpack_from(self._buf)
        if size + 8 > self.frame_max:
            raise ProtocolError(f"frame of {size} bytes over frame-max {self.frame_max}")
        if len(self._buf) < size + 8:
            return None
        if self._buf[7 + size] != FRAME_END:
            raise ProtocolError("frame-end octet missing")
        payload = bytes(self._buf[7 : 7 + size])
        del self._buf[: size + 8]
        return Frame(ftype, channel, payload)
