"""Events, errors and limits of the sans-IO HTTP/1.1 core (see ``netlib.http.core``).

Split from the connection so the framing code and the connection share them
without a cycle; import them from ``netlib.http.core``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# -- limits: each refusal answers with the status named beside it --------------
# Longest request line (method, target, version). 8 KiB is nginx's
# large_client_header_buffers line size; longer targets get 414.
MAX_REQUEST_LINE = 8 * 1024
# Whole head (request line + headers): nginx's default large_client_header_buffers
# (4 buffers of 8 KiB) bounds it at 32 KiB, generous for cookies and tokens yet a
# small fixed cost per connection before a message is even known; 431.
MAX_HEAD_BYTES = 32 * 1024
# One header field line (name, colon, value): 8 KiB, nginx's buffer size, since
# nginx refuses a line that does not fit one buffer; 431.
MAX_FIELD_LINE = 8 * 1024
# Header fields per message: Apache's LimitRequestFields default; 431.
MAX_HEADERS = 100
# A chunk-size line with extensions. Real ones are a few bytes; 400 beyond.
MAX_CHUNK_LINE = 1024
# Hex digits in a chunk size: 16 fits any 64-bit length; more is an attack.
MAX_CHUNK_SIZE_DIGITS = 16
# Decimal digits in Content-Length: 18 keeps it inside int64 (no bignum games).
MAX_CONTENT_LENGTH_DIGITS = 18
# Default body limit per message (413). A Connection can be given another one
# (the 1 GB upload server raises it); streaming means the limit is policy, not memory.
DEFAULT_MAX_BODY = 64 * 1024 * 1024
# Empty lines tolerated before a request line (RFC 9112 §2.2 says ignore "at least one").
MAX_LEADING_CRLF = 8

CLIENT, SERVER = "client", "server"
# States of each side of one request/response cycle.
IDLE, SEND_BODY, DONE, MUST_CLOSE, CLOSED, ERROR, SWITCHED_PROTOCOL = (
    "IDLE", "SEND_BODY", "DONE", "MUST_CLOSE", "CLOSED", "ERROR", "SWITCHED_PROTOCOL",
)  # fmt: skip

Headers = list[tuple[bytes, bytes]]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA = _Sentinel("NEED_DATA")
PAUSED = _Sentinel("PAUSED")


class ProtocolError(Exception):
    """Base of the two errors; ``status`` is the HTTP status to answer with."""

    def __init__(self, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.status = status


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol: answer ``status`` and close."""


class LocalProtocolError(ProtocolError):
    """We tried to send something invalid (a bug in the caller)."""


# -- events --------------------------------------------------------------------
class Event:
    __slots__ = ()


@dataclass(slots=True)
class Request(Event):
    method: bytes
    target: bytes
    headers: Headers = field(default_factory=list)  # names lower-cased when received
    http_version: bytes = b"1.1"


@dataclass(slots=True)
class InformationalResponse(Event):
    status_code: int  # 1xx
    headers: Headers = field(default_factory=list)
    reason: bytes = b""


@dataclass(slots=True)
class Response(Event):
    status_code: int
    headers: Headers = field(default_factory=list)
    reason: bytes = b""
    http_version: bytes = b"1.1"


@dataclass(slots=True)
class Data(Event):
    data: bytes


@dataclass(slots=True)
class EndOfMessage(Event):
    headers: Headers = field(default_factory=list)  # trailers


@dataclass(slots=True)
class ConnectionClosed(Event):
    pass
