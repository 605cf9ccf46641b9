"""Sans-IO WebSocket connection (RFC 6455): bytes in, events out; events in, bytes out.

The shape of h11 and wsproto: ``Connection(SERVER)`` (or ``CLIENT``) is fed with
``receive_data(bytes)`` (``b""`` for EOF) and ``next_event()`` hands back
``Message``, ``Ping``, ``Pong``, ``CloseReceived`` or ``NEED_DATA``. Sending is
``send_message``, ``send_ping``, ``send_close``: each returns the bytes to write.
What the protocol answers by itself (a pong to a ping, the echo of a peer's
close, the close frame of a failure) is queued and taken with ``data_to_send()``.

On top of ``frames`` (one frame's rules) this keeps what spans frames:

* fragmentation (§5.4): a message is a first TEXT/BINARY frame, then CONT frames
  until FIN; a control frame may come between fragments; a CONT with no message
  started, or a new message inside one, fails with 1002;
* text is UTF-8 (§8.1): decoded incrementally as fragments arrive, so a bad
  sequence fails at once (1007), not after the whole message; Python's decoder
  rejects a bad prefix eagerly except a surrogate's (ED A0..BF), checked here;
* limits: ``max_frame`` per frame and ``max_message`` per message (after
  inflation), both 1009; the limits are why a peer cannot make us hold more;
* the close handshake (§5.5.1, §7): a close carries nothing, or a 2-byte code
  and a UTF-8 reason. A length of 1, a code no one may send (§7.4: 0-999,
  1004-1006, 1015, 1016-2999 unassigned, >= 5000) is 1002, a bad reason 1007.
  Once both closes have crossed the state is CLOSED; the server then closes TCP
  first (§7.1.1), the client waits for it;
* permessage-deflate (``deflate``): RSV1 on a message's first frame.

A failure (``ProtocolError``, raised from ``next_event``) queues our close with
its code; the I/O layer writes ``data_to_send()`` and drops the TCP connection.
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from enum import Enum

from .deflate import PerMessageDeflate
from .frames import (
    ABNORMAL,
    BINARY,
    CLOSE,
    CONT,
    INVALID_DATA,
    MAX_CONTROL_PAYLOAD,
    MESSAGE_TOO_BIG,
    NO_STATUS,
    NORMAL,
    PING,
    PONG,
    PROTOCOL_ERROR,
    RSV1,
    TEXT,
    Frame,
    FrameParser,
    ProtocolError,
    encode_frame,
)

# Default limits. 1 MiB a message is plenty for chat and RPC; a server that echoes
# large files (a conformance suite sends 16 MiB) raises them.
MAX_FRAME = 1 << 20
MAX_MESSAGE = 1 << 20


class Role(Enum):
    SERVER = "server"
    CLIENT = "client"


SERVER, CLIENT = Role.SERVER, Role.CLIENT


class State(Enum):
    OPEN = "open"
    CLOSING = "closing"  # we sent our close; the peer's is awaited
    CLOSED = "closed"  # both closes crossed, or the connection failed


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


class LocalProtocolError(ValueError):
    """What we were asked to send cannot be sent (a reserved close code, after close)."""


@dataclass(frozen=True, slots=True)
class Message:
    """A whole message: ``str`` for a text message, ``bytes`` for a binary one."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer's close (``code`` 1005 if it carried none), or 1006: the TCP
    connection ended without one (``clean`` False)."""

    code: int
    reason: str = ""
    clean: bool = True


Event = Message | Ping | Pong | CloseReceived


def valid_close_code(code: int) -> bool:
    """A code a peer may put on the wire (§7.4.1, §7.4.2 and the IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _surrogate_prefix(pending: bytes) -> bool:
    return len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0


class Connection:
    """One WebSocket connection's protocol state, for either role."""

    def __init__(self, role: Role, *, deflate: PerMessageDeflate | None = None,
                 max_frame: int = MAX_FRAME, max_message: int = MAX_MESSAGE) -> None:  # fmt: skip
        self.role = role
        self.deflate = deflate
        self.max_message = max_message
        self.parser = FrameParser(client_masks=role is SERVER, max_frame=max_frame,
                                  allowed_rsv=RSV1 if deflate else 0)  # fmt: skip
        self.state = State.OPEN
        self.close_sent: tuple[int, str] | None = None
        self.close_received: CloseReceived | None = None
        self._out: list[bytes] = []
        self._eof = False
        self._error: ProtocolError | None = None
        # The message being assembled from fragments.
        self._opcode: int | None = None
        self._compressed = False
        self._parts: list[bytes] | list[str] = []
        self._size = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        # UTF-8 check of a text frame still arriving: (frame id, bytes checked, decoder).
        self._peek: tuple[int, int, codecs.IncrementalDecoder] | None = None

    # -- receiving -------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if data:
            if self.state is not State.CLOSED:
                self.parser.feed(data)
        else:
            self._eof = True

    def next_event(self) -> Event | _NeedData:
        if self._error is not None:
            raise self._error
        while self.state is not State.CLOSED:
            try:
                frame = self.parser.next_frame()
                if frame is None:
                    self._check_arriving()
                    break
                ev = self._on_frame(frame)
            except ProtocolError as e:
                self._fail(e)
                raise
            if ev is not None:
                return ev
        if self._eof and self.close_received is None:
            self.state = State.CLOSED
            self.close_received = CloseReceived(ABNORMAL, "connection lost", clean=False)
            return self.close_received
        return NEED_DATA

    def _fail(self, e: ProtocolError) -> None:
        self._error = e
        if self.close_sent is None:
            self._out.append(self._close_frame(e.code, e.reason[:100]))
            self.close_sent = (e.code, e.reason)
        self.state = State.CLOSED

    def _on_frame(self, f: Frame) -> Event | None:
        op = f.opcode
        if op == PING:
            if self.state is State.OPEN:
                self._out.append(self._frame(PONG, f.payload))
            return Ping(f.payload)
        if op == PONG:
            return Pong(f.payload)
        if op == CLOSE:
            return self._on_close(f.payload)
        if op == CONT:
            if self._opcode is None:
                raise ProtocolError(PROTOCOL_ERROR, "continuation frame with no message started")
            if f.rsv:
                raise ProtocolError(PROTOCOL_ERROR, "RSV1 on a continuation frame")
        else:
            if self._opcode is not None:
                raise ProtocolError(PROTOCOL_ERROR, "new message before the last one ended")
            self._start(op, bool(f.rsv & RSV1))
        return self._on_data(f.payload, f.fin)

    def _check_arriving(self) -> None:
        """Fail fast (§8.1): a text frame whose payload is still arriving is checked as
        far as it has come, so a bad byte ends the connection before the frame does."""
        p = self.parser.pending
        if p is None or p[1]:  # no frame arriving, or a compressed one
            return
        if p[0] == TEXT and self._opcode is None:
            state: tuple[bytes, int] = (b"", 0)
        elif p[0] == CONT and self._opcode == TEXT and not self._compressed:
            state = self._decoder.getstate() if self._decoder is not None else (b"", 0)
        else:
            return
        if self._peek is None or self._peek[0] != self.parser.frames:
            fresh: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")()
            fresh.setstate(state)
            self._peek = (self.parser.frames, 0, fresh)
        frame_id, done, dec = self._peek
        chunk = self.parser.partial_payload(done)
        if not chunk:
            return
        try:
            dec.decode(chunk)
        except UnicodeDecodeError:
            raise ProtocolError(INVALID_DATA, "text message is not UTF-8") from None
        if _surrogate_prefix(dec.getstate()[0]):
            raise ProtocolError(INVALID_DATA, "text message is not UTF-8 (a surrogate)")
        self._peek = (frame_id, done + len(chunk), dec)

    def _start(self, opcode: int, compressed: bool) -> None:
        self._opcode, self._compressed = opcode, compressed
        self._parts, self._size = [], 0
        self._decoder = None
        if compressed:
            assert self.deflate is not None  # RSV1 is refused by the parser otherwise
            self.deflate.start_message()

    def _on_data(self, payload: bytes, fin: bool) -> Message | None:
        if self._compressed:
            assert self.deflate is not None
            payload = self.deflate.decompress(payload, self.max_message - self._size, fin)
        self._size += len(payload)
        if self._size > self.max_message:
            raise ProtocolError(MESSAGE_TOO_BIG, f"message over {self.max_message} bytes")
        if self._opcode == BINARY:
            if fin and not self._parts:
                self._opcode = None
                return Message(payload)
            self._parts.append(payload)  # type: ignore[arg-type]
            if not fin:
                return None
            self._opcode = None
            return Message(b"".join(self._parts))  # type: ignore[arg-type]
        return self._on_text(payload, fin)

    def _on_text(self, payload: bytes, fin: bool) -> Message | None:
        if fin and self._decoder is None:  # the whole message in one frame: one decode
            self._opcode = None
            try:
                return Message(payload.decode("utf-8"))
            except UnicodeDecodeError:
                raise ProtocolError(INVALID_DATA, "text message is not UTF-8") from None
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            self._parts.append(self._decoder.decode(payload, fin))  # type: ignore[arg-type]
        except UnicodeDecodeError:
            raise ProtocolError(INVALID_DATA, "text message is not UTF-8") from None
        if not fin:
            if _surrogate_prefix(self._decoder.getstate()[0]):
                raise ProtocolError(INVALID_DATA, "text message is not UTF-8 (a surrogate)")
            return None
        self._opcode, self._decoder = None, None
        return Message("".join(self._parts))  # type: ignore[arg-type]

    def _on_close(self, payload: bytes) -> CloseReceived:
        if len(payload) == 1:
            raise ProtocolError(PROTOCOL_ERROR, "close frame with a 1-byte body")
        code, reason = NO_STATUS, ""
        if payload:
            (code,) = struct.unpack("!H", payload[:2])
            if not valid_close_code(code):
                raise ProtocolError(PROTOCOL_ERROR, f"invalid close code {code}")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(INVALID_DATA, "close reason is not UTF-8") from None
        self.close_received = CloseReceived(code, reason)
        if self.close_sent is None:  # echo it (§5.5.1): the code, no reason
            self._out.append(self._close_frame(code if payload else None, ""))
            self.close_sent = (code, "")
        self.state = State.CLOSED
        return self.close_received

    # -- sending ------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """Bytes the protocol owes the peer on its own (pongs, close replies)."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def _frame(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
        return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask=self.role is CLIENT)

    def send_message(self, data: str | bytes, fragment: int | None = None) -> bytes:
        """A whole message; ``fragment``: split the payload into frames of that size."""
        if self.state is not State.OPEN:
            raise LocalProtocolError(f"cannot send a message in state {self.state.value}")
        return self.encode_message(data, fragment)

    def encode_message(self, data: str | bytes, fragment: int | None = None) -> bytes:
        """``send_message`` without the state check: for the answers to messages that
        arrived before a failure, written ahead of its close frame (in order)."""
        opcode = TEXT if isinstance(data, str) else BINARY
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        rsv = 0
        if self.deflate is not None:
            payload, rsv = self.deflate.compress(payload), RSV1
        if not fragment or len(payload) <= fragment:
            return self._frame(opcode, payload, True, rsv)
        out = []
        for i in range(0, len(payload), fragment):
            last = i + fragment >= len(payload)
            out.append(self._frame(opcode if i == 0 else CONT, payload[i : i + fragment],
                                   last, rsv if i == 0 else 0))  # fmt: skip
        return b"".join(out)

    def send_ping(self, payload: bytes = b"") -> bytes:
        return self._control(PING, payload)

    def send_pong(self, payload: bytes = b"") -> bytes:
        return self._control(PONG, payload)

    def _control(self, opcode: int, payload: bytes) -> bytes:
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise LocalProtocolError("a control frame carries at most 125 bytes")
        if self.close_sent is not None:
            raise LocalProtocolError("the close frame was already sent")
        return self._frame(opcode, payload)

    def send_close(self, code: int | None = NORMAL, reason: str = "") -> bytes:
        """Start the close handshake (or b"" if our close is already sent)."""
        if self.close_sent is not None:
            return b""
        if code is not None and not valid_close_code(code):
            raise LocalProtocolError(f"close code {code} may not be sent")
        self.close_sent = (code or NO_STATUS, reason)
        if self.state is State.OPEN:
            self.state = State.CLOSING
        return self._close_frame(code, reason)

    def _close_frame(self, code: int | None, reason: str) -> bytes:
        if code is None:
            return self._frame(CLOSE, b"")
        body = struct.pack("!H", code) + _truncate(reason, MAX_CONTROL_PAYLOAD - 2)
        return self._frame(CLOSE, body)


def _truncate(text: str, limit: int) -> bytes:
    """``text`` as UTF-8 in at most ``limit`` bytes, never cutting a character."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return raw
    return raw[:limit].decode("utf-8", "ignore").encode("utf-8")
