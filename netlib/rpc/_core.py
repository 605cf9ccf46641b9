"""The RPC core, sans-IO: frames, messages and typed errors, on msgpack.

Wire grammar (all integers big-endian)::

    frame    := length:u32  body:byte[length]          (length <= max_frame)
    body     := msgpack of one of
    request  := [0, id:uint, method:str, params:map]
    response := [1, id:uint, error:nil|[type:str, message:str], result:any]

``id`` is chosen by the caller and echoed in the response, so one connection
carries many calls at once and answers may come back in any order (a primary
chunkserver waiting on its secondaries does not hold up a read). ``error`` is
nil on success; otherwise its ``type`` is one of the names below, and a client
raises ``RemoteError`` carrying it.

Error types, so a caller can tell its own mistake from the server's state:

* ``BadFrame``: the bytes were not a frame of this grammar (oversized length,
  not msgpack, wrong shape). An oversized length also ends the connection:
  the stream cannot be resynchronised. A body that decodes but is not a
  request is answered with id 0 and the connection goes on.
* ``UnknownMethod``: no such method; the connection goes on.
* ``BadParams``: the method exists but its params are missing or mistyped.
* any other name: an application error the method raised (``NoSuchFile``,
  ``StaleVersion``, ``ChunkFull``, ...), as ``AppError(type, message)``.

The parser contract (STYLE.md 5): ``FrameDecoder.feed(bytes)`` then
``next()`` gives a decoded message or ``None`` (need more data); a bad frame
raises ``BadFrame``. Nothing here touches a socket.

What gRPC or Thrift do differently: a schema (protobuf IDL) with generated
stubs and versioned fields, HTTP/2 streams for multiplexing and flow control,
deadlines propagated in metadata. We keep method names and maps.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack

LENGTH = struct.Struct(">I")
REQUEST, RESPONSE = 0, 1
# 16 MiB + slack: a pushed piece of chunk data is at most 4 MiB (clients.gfs); a
# length above this is garbage or abuse and is never allocated.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024


class RpcError(Exception):
    """Base of every error a call can end in; ``type`` is its wire name."""

    type = "RpcError"

    def __init__(self, message: str = "", type: str | None = None) -> None:
        super().__init__(message)
        if type is not None:
            self.type = type

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


class BadFrame(RpcError):
    type = "BadFrame"


class UnknownMethod(RpcError):
    type = "UnknownMethod"


class BadParams(RpcError):
    type = "BadParams"


class AppError(RpcError):
    """An error a method raised on purpose; subclass it or pass ``type``."""

    type = "AppError"


class RemoteError(RpcError):
    """What a client raises for an error response (any ``type``)."""


class ConnectionLost(RpcError):
    """The connection closed (or could not be made) before the answer came."""

    type = "ConnectionLost"


@dataclass(frozen=True)
class Request:
    id: int
    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Response:
    id: int
    error: tuple[str, str] | None
    result: Any


def _frame(obj: Any) -> bytes:
    body = msgpack.packb(obj, use_bin_type=True)
    return LENGTH.pack(len(body)) + body


def encode_request(id: int, method: str, params: dict[str, Any]) -> bytes:
    return _frame([REQUEST, id, method, params])


def encode_response(id: int, result: Any = None, error: RpcError | None = None) -> bytes:
    err = None if error is None else [error.type, error.message]
    return _frame([RESPONSE, id, err, result])


def decode_body(body: bytes) -> Request | Response:
    """One frame's body as a message; ``BadFrame`` if it is not one of ours."""
    try:
        msg = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as e:  # msgpack raises several types (ExtraData, ValueError, ...)
        raise BadFrame(f"body is not msgpack ({type(e).__name__})") from None
    if not isinstance(msg, list) or len(msg) != 4 or msg[0] not in (REQUEST, RESPONSE):
        raise BadFrame("body is not [kind, id, ...] with kind 0 or 1")
    kind, id_ = msg[0], msg[1]
    if not isinstance(id_, int) or id_ < 0:
        raise BadFrame("request id must be a non-negative integer")
    if kind == REQUEST:
        method, params = msg[2], msg[3]
        if not isinstance(method, str) or not isinstance(params, dict):
            raise BadFrame("a request is [0, id, method:str, params:map]")
        return Request(id_, method, params)
    err = msg[2]
    if err is not None:
        if not (isinstance(err, list) and len(err) == 2 and all(isinstance(x, str) for x in err)):
            raise BadFrame("an error is [type:str, message:str]")
        err = (err[0], err[1])
    return Response(id_, err, msg[3])


class FrameDecoder:
    """Bytes in, messages out. ``BadFrame`` from ``next()`` with ``fatal`` set when
    the stream itself is lost (an oversized length); otherwise only that frame was bad."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next(self) -> Request | Response | None:
        if len(self._buf) < LENGTH.size:
            return None
        (n,) = LENGTH.unpack_from(self._buf)
        if n > self.max_frame:
            err = BadFrame(f"frame of {n} bytes exceeds the limit of {self.max_frame}")
            err.fatal = True  # type: ignore[attr-defined]
            raise err
        if len(self._buf) < LENGTH.size + n:
            return None
        body = bytes(self._buf[LENGTH.size : LENGTH.size + n])
        del self._buf[: LENGTH.size + n]
        return decode_body(body)

    @property
    def buffered(self) -> int:
        return len(self._buf)


def remote_error(err: tuple[str, str]) -> RemoteError:
    return RemoteError(err[1], type=err[0])
