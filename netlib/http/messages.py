"""Request and response objects of the HTTP layer, and the cached headers.

A handler gets a ``Request`` (method, path, query, headers, body) and returns a
``Response``: plain (``Response``, ``JSONResponse``: the body is bytes, written in
one ``write``), or streamed (``StreamingResponse`` over a sync or async iterator,
``FileResponse`` over a file range). A handler may also return a ``dict``/``list``
(sent as JSON), a ``str`` (text/plain) or ``bytes`` (application/octet-stream).

Headers arrive as the core gives them, ``(lower-case name, value)`` byte pairs;
``Headers`` wraps them with case-insensitive ``str`` access, built lazily
because the hello route never looks. Values are Latin-1 decoded (RFC 9110 §5.5).

``Request.path`` is percent-decoded once, before routing (as Starlette and Flask
do): ``%2F`` is then a slash to the router, so a ``{name}`` segment can never
hold one. Static files check every decoded segment, so ``..%2f`` gains nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote

from ._framing import _authority

RawHeaders = list[tuple[bytes, bytes]]


class HTTPError(Exception):
    """Raise from a handler to answer ``status`` with ``detail`` as the text body."""

    def __init__(self, status: int, detail: str = "", headers: RawHeaders | None = None) -> None:
        super().__init__(detail or str(status))
        self.status = status
        self.detail = detail
        self.headers = headers or []


class Headers(Mapping[str, str]):
    """Case-insensitive read-only view of received headers (the last value wins)."""

    __slots__ = ("raw", "_map")

    def __init__(self, raw: RawHeaders) -> None:
        self.raw = raw
        self._map: dict[str, str] | None = None

    def _m(self) -> dict[str, str]:
        if self._map is None:
            self._map = {n.decode("latin-1"): v.decode("latin-1") for n, v in self.raw}
        return self._map

    def __getitem__(self, name: str) -> str:
        return self._m()[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._m().get(name.lower(), default)

    def getall(self, name: str) -> list[str]:
        key = name.lower().encode("latin-1")
        return [v.decode("latin-1") for n, v in self.raw if n == key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._m())

    def __len__(self) -> int:
        return len(self._m())

    def __repr__(self) -> str:
        return f"Headers({self._m()!r})"


class Request:
    """One request as a handler sees it; ``body`` is the whole body unless the route streams."""

    __slots__ = (
        "method", "target", "path", "query_string", "http_version", "raw_headers",
        "params", "body", "peer", "_headers", "_query", "_stream", "_conn",
    )  # fmt: skip

    def __init__(
        self, method: str, target: bytes, raw_headers: RawHeaders, http_version: str, peer: str,
        conn: Any = None,
    ) -> None:  # fmt: skip
        self.method = method
        self.target = target
        self.path, self.query_string = split_target(target)
        self.http_version = http_version
        self.raw_headers = raw_headers if target[:1] == b"/" else with_authority(target, raw_headers)
        self.params: dict[str, Any] = {}
        self.body = b""
        self.peer = peer
        self._headers: Headers | None = None
        self._query: dict[str, list[str]] | None = None
        self._stream: Any = None  # set by the server for streaming routes
        self._conn = conn  # the shell's Connection it arrived on

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.raw_headers)
        return self._headers

    @property
    def query(self) -> dict[str, list[str]]:
        """``?a=1&a=2&b=x`` -> ``{"a": ["1", "2"], "b": ["x"]}``."""
        if self._query is None:
            self._query = parse_qs(self.query_string.decode("latin-1"))
        return self._query

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        vals = self.query.get(name)
        return vals[0] if vals else default

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON; a malformed body is the client's fault (400)."""
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise HTTPError(400, f"invalid JSON body: {e}") from None
        except RecursionError:  # "[[[[...": the parser recurses per level
            raise HTTPError(400, "JSON body nested too deep") from None

    def stream(self) -> AsyncIterable[bytes]:
        """The body piece by piece (routes registered with ``stream=True`` only)."""
        if self._stream is None:
            raise RuntimeError("this route buffers its body: use request.body")
        return self._stream  # type: ignore[no-any-return]

    @property
    def connection(self) -> Any:
        """The shell's ``Connection`` the request arrived on (e.g. to abort the reader
        of a stream that fell too far behind); None outside a server."""
        return self._conn

    async def wait_shutdown(self) -> None:
        """Returns once the server starts stopping: a long poll answers now (and its
        response is the connection's last) instead of holding the shutdown."""
        if self._conn is None:
            raise RuntimeError("this request did not arrive on a server connection")
        await self._conn.wait_shutdown()

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target!r} from {self.peer}>"


def split_target(target: bytes) -> tuple[str, bytes]:
    """(path, query string) of a request target: the path percent-decoded (UTF-8, bad
    bytes kept as surrogates), an absolute-form target's path only."""
    path, _, qs = target.partition(b"?")
    if path[:1] != b"/":
        path = _absolute_path(path)
    p = path.decode("latin-1")
    return (unquote(p, "utf-8", "surrogateescape") if "%" in p else p), qs


def with_authority(target: bytes, raw: RawHeaders) -> RawHeaders:
    """The fields a handler sees for ``target``: an absolute-form target's authority is
    its Host (RFC 9112 §3.2.2: the origin server MUST ignore the Host field then), so a
    handler building a URL from Host uses what a proxy in front routed by."""
    authority = _authority(target)
    if authority is None:
        return raw
    return [(n, v) for n, v in raw if n != b"host"] + [(b"host", authority)]


def _absolute_path(target: bytes) -> bytes:
    """The path of an absolute-form target: ``http://host/p`` -> ``/p`` (RFC 9112 §3.2.2).

    Anything else (``*``, authority-form) is left alone: no route starts without "/".
    """
    _, sep, rest = target.partition(b"://")
    if not sep:
        return target
    slash = rest.find(b"/")
    return rest[slash:] if slash >= 0 else b"/"


def _raw(headers: Mapping[str, str] | RawHeaders | None) -> RawHeaders:
    if not headers:
        return []
    if isinstance(headers, Mapping):
        return [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
    return [(k.lower(), v) for k, v in headers]


class Response:
    """A whole response: status, headers, and a body of bytes.

    A str body is encoded as UTF-8, given here or set later (``resp.body = "..."``);
    headers may be a mapping or ``(name, value)`` pairs, here or set later. The server
    frames the body (Content-Length); a handler's own Content-Length must be the body's.
    The status must be a final one, 200..599 (RFC 9110 §15). All of this is checked when
    the response is sent, since a handler may change it after construction: any other
    status, a body that is neither bytes nor str, a wrong length or a Transfer-Encoding
    is answered 500 and logged as the handler's fault.
    """

    # ``_wire``: the server's fast path remembers the encoded head here (``_fast.response_wire``).
    __slots__ = ("status", "headers", "body", "_wire")
    media_type = "text/plain; charset=utf-8"

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: Mapping[str, str] | RawHeaders | None = None,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = _raw(headers)
        self._wire: tuple[bytes, int, RawHeaders, bytes] | None = None
        ct = self.media_type if content_type is None else content_type
        if ct and not any(n == b"content-type" for n, _ in self.headers):
            self.headers.append((b"content-type", ct.encode("latin-1")))

    def header(self, name: str) -> str | None:
        key = name.lower().encode()
        for n, v in self.headers:
            if n == key:
                return v.decode("latin-1")
        return None


class JSONResponse(Response):
    __slots__ = ()
    media_type = "application/json"

    def __init__(
        self, data: Any, status: int = 200, headers: Mapping[str, str] | RawHeaders | None = None
    ) -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        try:
            body = text.encode()
        except UnicodeEncodeError:  # a lone surrogate (legal in JSON text): send it escaped
            body = json.dumps(data, separators=(",", ":")).encode()
        super().__init__(body, status, headers)


class Heartbeat:
    """Keep-alive policy of a stream: when the producer has been silent ``every``
    seconds, send ``make()`` (e.g. an SSE comment ``b": ping\\n\\n"``). A reader that
    vanished is found by the write; a live one sees traffic, so the idle timeout
    never fires."""

    __slots__ = ("every", "make")

    def __init__(self, every: float, make: Callable[[], bytes]) -> None:
        self.every, self.make = every, make


class TCPKeepAlive:
    """Keep-alive policy of a stream: the kernel probes a silent peer (SO_KEEPALIVE),
    and the stream is exempt from the idle timeout. Costs no bytes on the wire."""

    __slots__ = ("idle", "interval", "count")

    def __init__(self, idle: int = 60, interval: int = 10, count: int = 6) -> None:
        self.idle, self.interval, self.count = idle, interval, count


class StreamingResponse(Response):
    """A body produced piece by piece: chunked unless a Content-Length header is given.

    The producer is pulled only as fast as the client reads (backpressure) and is
    closed (``aclose``) as soon as the client goes away. A silent stream is subject
    to the server's idle timeout unless ``keepalive`` (``Heartbeat`` or
    ``TCPKeepAlive``) says how to keep it. ``on_shutdown``: when the server stops,
    stop pulling, send what it returns (a last event), end the body and close;
    without it the stream gets the shutdown grace period to finish, then is cut.
    """

    __slots__ = ("content", "keepalive", "on_shutdown")
    media_type = "application/octet-stream"

    def __init__(
        self,
        content: AsyncIterable[bytes] | Iterable[bytes],
        status: int = 200,
        headers: Mapping[str, str] | RawHeaders | None = None,
        content_type: str | None = None,
        *,
        keepalive: Heartbeat | TCPKeepAlive | None = None,
        on_shutdown: Callable[[], bytes] | None = None,
    ) -> None:
        super().__init__(b"", status, headers, content_type)
        self.content = content
        self.keepalive = keepalive
        self.on_shutdown = on_shutdown


class Upgrade:
    """A handler's answer that switches the connection to another protocol (RFC 9110
    §7.8): ``101 Switching Protocols`` with ``Upgrade: protocol`` and ``headers``,
    then the connection (and any bytes the client sent after the request) goes to
    ``to``: an ``async def (conn)`` handler, or a callable ``conn -> Session``.
    A client that did not ask for ``protocol`` gets 426 instead."""

    __slots__ = ("protocol", "to", "headers")

    def __init__(self, protocol: str, to: Callable[[Any], Any],
                 headers: Mapping[str, str] | RawHeaders | None = None) -> None:  # fmt: skip
        self.protocol = protocol
        self.to = to
        self.headers = _raw(headers)


class FileResponse(Response):
    """``length`` bytes of ``path`` from ``offset``, sent with ``os.sendfile`` as the peer takes them.

    ``parts`` makes the body a sequence of literal bytes and ``(offset, length)``
    ranges of the file (``multipart/byteranges``); ``length`` is then the whole
    body's. A subclass may hand out an already open descriptor (``open``).
    """

    __slots__ = ("path", "offset", "length", "parts")

    def __init__(
        self,
        path: str,
        offset: int,
        length: int,
        status: int = 200,
        headers: RawHeaders | None = None,
        content_type: str | None = None,
        parts: list[bytes | tuple[int, int]] | None = None,
    ) -> None:
        super().__init__(b"", status, headers, content_type or "application/octet-stream")
        self.path, self.offset, self.length, self.parts = path, offset, length, parts

    def pieces(self) -> list[bytes | tuple[int, int]]:
        """The body in order: literal bytes and ``(offset, length)`` ranges of the file."""
        return self.parts if self.parts is not None else [(self.offset, self.length)]

    def open(self) -> AbstractContextManager[int]:
        """A descriptor of the file for the time of the send."""
        return _opened(self.path)

    def read_all(self) -> bytes:
        """The whole body at once: for small ones, sent like any plain body."""
        out = []
        with self.open() as fd:
            for piece in self.pieces():
                if isinstance(piece, bytes):
                    out.append(piece)
                    continue
                offset, length = piece
                data = os.pread(fd, length, offset)
                if len(data) != length:
                    raise OSError(f"{self.path} shrank while being sent")
                out.append(data)
        return b"".join(out)


@contextmanager
def _opened(path: str) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


def to_response(result: Any) -> Response:
    """What a handler returned, as a Response."""
    if isinstance(result, Response):
        return result
    if isinstance(result, dict | list):
        return JSONResponse(result)
    if isinstance(result, str):
        return Response(result)
    if isinstance(result, bytes | bytearray):
        return Response(bytes(result), content_type="application/octet-stream")
    if result is None:
        return Response(b"", 204, content_type="")
    raise TypeError(f"a handler returned {type(result).__name__}; expected a Response")


class _DateCache:
    """The Date header value, formatted once a second rather than per response."""

    def __init__(self) -> None:
        self.second = 0
        self.value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.value = formatdate(now, usegmt=True).encode()
        return self.value


http_date = _DateCache().get
