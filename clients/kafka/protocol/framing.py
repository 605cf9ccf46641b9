"""Request/response framing and headers, sans-IO.

Every Kafka message on the wire is ``size:int32`` followed by that many bytes.
``FrameReader`` is fed whatever the socket gave and hands back whole frames (or
nothing yet): pipelined and fragmented input both work. A size that is negative
or above ``max_frame`` is a ``RemoteProtocolError``; Kafka's broker closes the
connection for it (``socket.request.max.bytes``), and so do we.

Headers (protocol guide, "Headers"): request header v1 is api_key, api_version,
correlation_id, client_id (nullable STRING); v2 adds a tagged-field section and
is used by flexible versions. Response header v0 is the correlation id; v1 adds
tagged fields, except that ApiVersions always answers with v0 (KIP-511), so a
client that does not yet know the broker's versions can read it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from .apis import API_VERSIONS, APIS, Api
from .primitives import Malformed, Reader, Truncated, Writer

# Kafka's default socket.request.max.bytes (100 MiB): the biggest request a broker
# reads before closing the connection. A peer cannot make us buffer more than this.
MAX_FRAME = 100 * 1024 * 1024
_SIZE = struct.Struct(">i")


class RemoteProtocolError(Exception):
    """The peer broke the protocol; the connection must be closed (Kafka has no
    error frame for an unparseable request). ``correlation_id`` if it was read."""

    def __init__(self, message: str, correlation_id: int | None = None) -> None:
        super().__init__(message)
        self.correlation_id = correlation_id


class FrameReader:
    """Bytes in, whole frames (without their size prefix) out."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> bytes | None:
        """One whole frame, or None until more bytes arrive."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            self._compact()
            return None
        (size,) = _SIZE.unpack_from(buf, pos)
        if size < 0 or size > self.max_frame:
            raise RemoteProtocolError(f"frame size {size} outside 0..{self.max_frame}")
        end = pos + 4 + size
        if len(buf) < end:
            self._compact()
            return None
        frame = bytes(buf[pos + 4 : end])
        self._pos = end
        return frame

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def _compact(self) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0


def frame(payload: bytes | bytearray) -> bytes:
    return _SIZE.pack(len(payload)) + payload


@dataclass
class Request:
    api: Api
    version: int
    correlation_id: int
    client_id: str | None
    body: dict[str, Any]


def _flexible(api: Api, version: int) -> bool:
    return version >= api.request.flexible_from


def parse_request(data: bytes) -> Request | tuple[int, int, int]:
    """A request frame -> ``Request``; an API or version we lack -> (key, version, corr).

    Raises ``RemoteProtocolError`` for a header or body that does not parse.
    """
    r = Reader(data)
    try:
        key, version, corr = r.int16(), r.int16(), r.int32()
    except Truncated as e:
        raise RemoteProtocolError(f"truncated request header: {e}") from None
    api = APIS.get(key)
    if api is None or not api.supports(version):
        return (key, version, corr)
    try:
        client_id = r.string(nullable=True)
        if _flexible(api, version):
            r.skip_tags()
        body = api.request.decode(version, r)
    except (Truncated, Malformed, ValueError) as e:
        raise RemoteProtocolError(f"bad {api.name} v{version} request: {e}", corr) from None
    return Request(api, version, corr, client_id, body)


def encode_response(api: Api, version: int, correlation_id: int, body: dict[str, Any]) -> bytes:
    w = Writer()
    w.int32(0)  # size, patched below
    w.int32(correlation_id)
    if _flexible(api, version) and api is not API_VERSIONS:
        w.empty_tags()
    api.response.encode(version, body, w)
    _SIZE.pack_into(w.buf, 0, len(w.buf) - 4)
    return bytes(w.buf)


def encode_request(
    api: Api, version: int, correlation_id: int, client_id: str | None, body: dict[str, Any]
) -> bytes:
    w = Writer()
    w.int32(0)
    w.int16(api.key)
    w.int16(version)
    w.int32(correlation_id)
    w.string(client_id)
    if _flexible(api, version):
        w.empty_tags()
    api.request.encode(version, body, w)
    _SIZE.pack_into(w.buf, 0, len(w.buf) - 4)
    return bytes(w.buf)


def parse_response(api: Api, version: int, data: bytes) -> tuple[int, dict[str, Any]]:
    """A response frame -> (correlation_id, body). Raises RemoteProtocolError."""
    r = Reader(data)
    try:
        corr = r.int32()
        if _flexible(api, version) and api is not API_VERSIONS:
            r.skip_tags()
        return corr, api.response.decode(version, r)
    except (Truncated, Malformed, ValueError) as e:
        raise RemoteProtocolError(f"bad {api.name} v{version} response: {e}") from None
