"""Packet framing and payload reading: the bottom layer of the sans-IO codec.

A MySQL packet is ``len:3 LE | seq:1 | payload``. A payload of exactly
0xFFFFFF bytes continues in the next packet (that is how >16MB values travel),
and every packet of a command exchange carries the next sequence id, starting
from 0 when the client sends a command. ``PacketBuffer`` is fed bytes and hands
back whole logical payloads; ``frame`` does the reverse.

The buffer keeps one ``bytes`` object plus a read offset instead of a
bytearray: row decoding (``resultset``) scans that object directly, so slices
are already ``bytes`` and nothing is copied twice. Chunks that arrive while a
packet is incomplete wait in a list and are joined once enough bytes are there,
so a 16MB packet arriving in 256KB reads costs one join, not 64.

``Reader`` walks one payload. Every read checks its bounds and raises
``ProtocolError``: a truncated or malformed packet never leaks IndexError or
struct.error out of the codec.
"""

from __future__ import annotations

from .constants import HEADER_SIZE, MAX_PACKET_CHUNK, MAX_PAYLOAD
from .errors import ProtocolError


def frame(payload: bytes, seq: int) -> tuple[bytes, int]:
    """Wire bytes for one logical payload starting at ``seq``, and the next sequence id."""
    n = len(payload)
    if n < MAX_PACKET_CHUNK:  # the common case: one packet
        return n.to_bytes(3, "little") + bytes((seq,)) + payload, (seq + 1) & 0xFF
    parts = []
    pos = 0
    while True:
        chunk = payload[pos : pos + MAX_PACKET_CHUNK]
        parts.append(len(chunk).to_bytes(3, "little") + bytes((seq,)) + chunk)
        seq = (seq + 1) & 0xFF
        pos += MAX_PACKET_CHUNK
        if len(chunk) < MAX_PACKET_CHUNK:  # a short (possibly empty) chunk ends it
            return b"".join(parts), seq


class PacketBuffer:
    """Bytes in, logical payloads out, with sequence-id checking."""

    def __init__(self) -> None:
        self.buf = b""  # the contiguous bytes being parsed
        self.pos = 0  # read offset into ``buf``
        self._chunks: list[bytes] = []  # arrived but not yet joined into ``buf``
        self._chunk_len = 0
        self.seq = 0  # the sequence id the next packet must carry

    def receive_data(self, data: bytes) -> None:
        if self.pos >= len(self.buf) and not self._chunks:
            self.buf = bytes(data)
            self.pos = 0
        else:
            self._chunks.append(bytes(data))
            self._chunk_len += len(data)

    @property
    def buffered(self) -> int:
        return len(self.buf) - self.pos + self._chunk_len

    def ensure(self, n: int) -> bool:
        """Make ``n`` bytes from ``pos`` contiguous in ``buf``; False if not all arrived."""
        if len(self.buf) - self.pos >= n:
            return True
        if self.buffered < n:
            return False
        self.buf = b"".join([self.buf[self.pos :], *self._chunks])
        self.pos = 0
        self._chunks.clear()
        self._chunk_len = 0
        return True

    def merge(self) -> None:
        """Join every pending chunk into ``buf`` (before a bulk scan of it)."""
        if self._chunks:
            self.ensure(self.buffered)

    def next_payload(self) -> bytes | None:
        """One logical payload (joined across 16MB packets), or None if incomplete.

        Nothing is consumed until every packet of the payload has arrived, so a
        None leaves the buffer exactly as it was.
        """
        buf, pos = self.buf, self.pos
        if pos + HEADER_SIZE <= len(buf):  # fast path: one whole, ordinary packet
            length = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
            end = pos + HEADER_SIZE + length
            if end <= len(buf) and length < MAX_PACKET_CHUNK and buf[pos + 3] == self.seq:
                self.pos, self.seq = end, (self.seq + 1) & 0xFF
                return buf[pos + HEADER_SIZE : end]
        return self._next_payload_general()

    def _next_payload_general(self) -> bytes | None:
        off = 0  # relative to self.pos: ``ensure`` may move the bytes, not the offsets
        seq = self.seq
        spans: list[tuple[int, int]] = []
        while True:
            if not self.ensure(off + HEADER_SIZE):
                return None
            p = self.pos + off
            buf = self.buf
            length = buf[p] | buf[p + 1] << 8 | buf[p + 2] << 16
            if buf[p + 3] != seq:
                raise ProtocolError(f"packet sequence {buf[p + 3]}, expected {seq}")
            if off + length > MAX_PAYLOAD:
                raise ProtocolError(f"payload larger than {MAX_PAYLOAD} bytes")
            if not self.ensure(off + HEADER_SIZE + length):
                return None
            spans.append((off + HEADER_SIZE, length))
            off += HEADER_SIZE + length
            seq = (seq + 1) & 0xFF
            if length < MAX_PACKET_CHUNK:
                break
        base, buf = self.pos, self.buf
        self.pos, self.seq = base + off, seq
        if len(spans) == 1:
            return buf[base + HEADER_SIZE : base + off]
        return b"".join(buf[base + s : base + s + n] for s, n in spans)


class Reader:
    """A bounds-checked cursor over one payload."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def _take(self, n: int) -> int:
        start = self.pos
        if start + n > len(self.data):
            raise ProtocolError(f"truncated packet: need {n} bytes at offset {start}")
        self.pos = start + n
        return start

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def u8(self) -> int:
        return self.data[self._take(1)]

    def uint(self, n: int) -> int:
        s = self._take(n)
        return int.from_bytes(self.data[s : s + n], "little")

    def fixed(self, n: int) -> bytes:
        s = self._take(n)
        return self.data[s : s + n]

    def rest(self) -> bytes:
        s = self.pos
        self.pos = len(self.data)
        return self.data[s:]

    def nul_bytes(self) -> bytes:
        """A NUL-terminated string (without its NUL)."""
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise ProtocolError("missing NUL terminator")
        s = self.data[self.pos : end]
        self.pos = end + 1
        return s

    def lenenc_int(self) -> int | None:
        """A length-encoded integer; None for the NULL marker 0xFB."""
        first = self.u8()
        if first < 0xFB:
            return first
        if first == 0xFB:
            return None
        if first == 0xFC:
            return self.uint(2)
        if first == 0xFD:
            return self.uint(3)
        if first == 0xFE:
            return self.uint(8)
        raise ProtocolError("0xFF is not a length-encoded integer")

    def lenenc_bytes(self) -> bytes:
        n = self.lenenc_int()
        if n is None:
            raise ProtocolError("unexpected NULL in a length-encoded string")
        return self.fixed(n)

    def lenenc_str(self) -> str:
        try:
            return self.lenenc_bytes().decode()
        except UnicodeDecodeError as e:
            raise ProtocolError(f"invalid utf-8 in packet: {e}") from None


def lenenc_int(n: int) -> bytes:
    """Encode a length-encoded integer."""
    if n < 0xFB:
        return bytes((n,))
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little")
    if n < 1 << 24:
        return b"\xfd" + n.to_bytes(3, "little")
    return b"\xfe" + n.to_bytes(8, "little")


def lenenc_bytes(b: bytes) -> bytes:
    return lenenc_int(len(b)) + b
