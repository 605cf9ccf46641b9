"""Sans-IO WebSocket framing (RFC 6455 §5): the frame grammar, masking, and the
frame-level rules that need no memory of earlier frames.

A frame on the wire::

    byte 0: FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
    byte 1: MASK | payload length (7 bits: 0-125, or 126 -> 16-bit, 127 -> 64-bit)
    [extended length: 2 or 8 bytes, network order]
    [masking key: 4 bytes, present iff MASK]
    payload (XORed with the key, byte i with key[i % 4], when masked)

``FrameParser`` takes bytes and gives ``Frame`` objects (payload already
unmasked) or ``None`` when it needs more. It checks what one frame alone can
break, each a ``ProtocolError`` carrying the close code the RFC names:
an unknown opcode, RSV bits no extension allows, a control frame that is
fragmented or longer than 125 bytes, a 64-bit length with its top bit set
(1002); the mask bit against the role (a server refuses an unmasked client
frame, a client a masked server frame: §5.1, 1002); a length over the frame
limit (1009), refused from the header alone so the payload is never buffered.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

# Opcodes (§5.2); 3-7 and 11-15 are reserved and fail the connection.
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = frozenset((CONT, TEXT, BINARY))
CONTROL_OPCODES = frozenset((CLOSE, PING, PONG))
KNOWN_OPCODES = DATA_OPCODES | CONTROL_OPCODES
# Control frames carry at most this much (§5.5).
MAX_CONTROL_PAYLOAD = 125
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10

# Close codes (§7.4.1) used by this package.
NORMAL, GOING_AWAY, PROTOCOL_ERROR, UNSUPPORTED_DATA = 1000, 1001, 1002, 1003
NO_STATUS, ABNORMAL, INVALID_DATA, POLICY_VIOLATION = 1005, 1006, 1007, 1008
MESSAGE_TOO_BIG, MANDATORY_EXTENSION, INTERNAL_ERROR = 1009, 1010, 1011


class ProtocolError(Exception):
    """The peer broke the protocol: fail the connection with ``code`` (§7.1.7)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0  # the RSV1-3 bits as they sit in byte 0 (RSV1 = 0x40)


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the repeated 4-byte ``key`` (masking and unmasking are one
    operation). Done as one big-integer XOR: linear, and ~100x a Python byte loop."""
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0,
                 mask: bool = False, key: bytes | None = None) -> bytes:  # fmt: skip
    """One frame's bytes. A client masks every frame (§5.3) with a fresh random key."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    return head + key + apply_mask(payload, key)


class FrameParser:
    """Bytes in, ``Frame`` out. ``client_masks``: frames must be masked (we are the
    server) or must not be (we are the client). ``allowed_rsv``: the RSV bits the
    negotiated extensions may set (RSV1 with permessage-deflate)."""

    def __init__(self, *, client_masks: bool, max_frame: int, allowed_rsv: int = 0) -> None:
        self.expect_mask = client_masks
        self.max_frame = max_frame
        self.allowed_rsv = allowed_rsv
        self._buf = bytearray()
        self._pos = 0  # bytes of _buf already parsed (compacted lazily: no O(n^2))
        self.frames = 0  # frames handed out so far: the id of the one arriving
        # The frame whose payload is still arriving: (opcode, rsv, start, length, key).
        self.pending: tuple[int, int, int, int, bytes] | None = None

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next_frame(self) -> Frame | None:
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 2:
            return None
        b0, b1 = buf[pos], buf[pos + 1]
        self._check_head(b0, b1)
        n = b1 & 0x7F
        at = pos + 2
        if n == 126:
            if len(buf) - at < 2:
                return None
            (n,) = struct.unpack_from("!H", buf, at)
            at += 2
        elif n == 127:
            if len(buf) - at < 8:
                return None
            (n,) = struct.unpack_from("!Q", buf, at)
            if n >> 63:
                raise ProtocolError(PROTOCOL_ERROR, "64-bit length with its top bit set")
            at += 8
        if n > self.max_frame:
            raise ProtocolError(MESSAGE_TOO_BIG, f"frame of {n} bytes over {self.max_frame}")
        masked = b1 & 0x80
        end = at + (4 if masked else 0) + n
        if len(buf) < end:
            key = bytes(buf[at : at + 4]) if masked else b""
            self.pending = (b0 & 0x0F, b0 & 0x70, at + len(key), n, key)
            return None
        self.pending = None
        self.frames += 1
        if masked:
            payload = apply_mask(bytes(buf[at + 4 : end]), bytes(buf[at : at + 4]))
        else:
            payload = bytes(buf[at:end])
        self._advance(end)
        return Frame(b0 & 0x0F, payload, bool(b0 & 0x80), b0 & 0x70)

    def partial_payload(self, offset: int) -> bytes:
        """The arriving frame's payload from ``offset`` up to what is here, unmasked (a
        text frame is checked as it arrives: invalid UTF-8 fails before its end)."""
        assert self.pending is not None
        _, _, start, n, key = self.pending
        lo = start + offset
        hi = min(len(self._buf), start + n)
        if hi <= lo:
            return b""
        chunk = bytes(self._buf[lo:hi])
        if not key:
            return chunk
        r = offset % 4
        return apply_mask(chunk, key[r:] + key[:r])

    def _check_head(self, b0: int, b1: int) -> None:
        opcode = b0 & 0x0F
        if opcode not in KNOWN_OPCODES:
            raise ProtocolError(PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
        rsv = b0 & 0x70
        if rsv & ~self.allowed_rsv:
            raise ProtocolError(PROTOCOL_ERROR, "RSV bits set without an extension for them")
        if opcode in CONTROL_OPCODES:
            if not b0 & 0x80:
                raise ProtocolError(PROTOCOL_ERROR, "fragmented control frame")
            if (b1 & 0x7F) > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(PROTOCOL_ERROR, "control frame over 125 bytes")
            if rsv:
                raise ProtocolError(PROTOCOL_ERROR, "RSV bits on a control frame")
        if bool(b1 & 0x80) != self.expect_mask:
            raise ProtocolError(
                PROTOCOL_ERROR,
                "unmasked client frame" if self.expect_mask else "masked server frame",
            )

    def _advance(self, end: int) -> None:
        if end == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif end > 65536 and end > len(self._buf) // 2:
            del self._buf[:end]
            self._pos = 0
        else:
            self._pos = end
