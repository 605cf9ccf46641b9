"""The HTTP server: one ``HTTPSession`` per connection on the shell's fast shape.

Strategy. The shell calls ``data_received`` synchronously; the session feeds
the sans-IO core and pulls events. For a sync handler the whole cycle (parse,
route, call, serialise, ``write``) happens inside that call: no task, no await,
no per-request allocation beyond the request and response objects. That is
what lets a pure-Python server keep up with httptools-based ones. An async
handler, a streamed request body or a streamed response body gets a task, and
while it runs the session stops pulling events (pipelined requests wait in the
core's buffer, and past ``PAUSE_BUFFER`` the socket is paused: TCP backpressure).
In front of all that is the fast path (``_fastpath``): a read holding whole plain
GET/HEAD heads is answered without the core's events at all, and what it does
not take goes to the core from its first byte on.
The other direction too: a client that pipelines without reading its answers
fills our write buffer; past the shell's high-water mark (``pause_writing``) no
further request is answered and reading stops until it drains.

Bad input: a ``RemoteProtocolError`` becomes its status line plus
``Connection: close``; the connection closes; nobody else notices. A client
that takes longer than ``App.head_timeout`` to send a head, or
``App.body_timeout`` to send a buffered body, or sends a head or body slower
than ``App.min_data_rate`` (over ``App.min_rate_window``), is cut (slowloris);
an idle keep-alive peer is closed by the shell's idle timeout, and so is a
silent streamed response unless it has a keep-alive policy (``_streams``).

A handler may answer ``Upgrade(protocol, to)``: the session sends ``101``
and hands the connection, with whatever the client sent after the request, to
``to`` through the shell's ``hand_over`` (a WebSocket, or any protocol).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from netlib.shell import (
    READ_HIGH_WATER,
    Connection,
    ConnectionClosed,
    Server,
    Session,
    ShellConfig,
    start,
)

from . import core as h11
from ._fast import Tail
from ._fastpath import FILE_BLOCK, FastPath
from ._streams import body_of, nothing, run_eagerly, send_file, with_policies
from ._upgrade import switching_head, upgrade_target
from .messages import (
    FileResponse,
    HTTPError,
    JSONResponse,
    Request,
    Response,
    StreamingResponse,
    Upgrade,
    _raw,
    http_date,
    to_response,
)
from .router import App, Route

log = logging.getLogger("netlib.http")
access = logging.getLogger("netlib.http.access")

# While a handler task runs, unparsed input above this pauses the socket: the
# shell's one read high-water mark, the same a coroutine handler is held to.
PAUSE_BUFFER = READ_HIGH_WATER
# Seconds we keep reading (and dropping) a refused client's input after answering,
# so its unread request bytes do not turn our close into an RST that destroys the
# answer before the client read it (nginx's lingering_close does the same).
LINGER_SECONDS = 2.0
# A FileResponse up to FILE_BLOCK (64 KiB, defined beside the fast path, which leaves
# such files to the core) is read and written with its head in one write; a larger one
# goes by os.sendfile (``_send_file``), never held in memory.
_CONTINUE = h11.InformationalResponse(100)
_NO_LENGTH = frozenset((204, 304))


def _final_status(status: object) -> bool:
    """A final status a handler may answer (``HTTPStatus`` too): 200..599 (RFC 9110 §15;
    a 1xx is not a response of its own)."""
    return h11.valid_status(status) and status >= 200  # type: ignore[operator]


class HTTPSession(FastPath, Session):
    """One connection's HTTP state (the shell's Session shape)."""

    # False: every request goes through the core's events (the tests compare the two).
    fast_path = True

    def __init__(self, conn: Connection, app: App) -> None:
        self.conn = conn
        self.app = app
        # The body limit is the route's, set per request once it is routed.
        self.h = h11.Connection(h11.SERVER, max_body=None)
        self.limit = app.max_body
        # A task owns the connection (async handler or streaming): events are not
        # pulled here meanwhile. See ``busy`` for what the shell's idle timeout sees.
        self.owned = False
        self.task: asyncio.Task[None] | None = None
        self.req: Request | None = None  # request whose body is being buffered
        self.route: Route | None = None
        self.error: HTTPError | None = None
        self.parts: list[bytes] = []
        self.size = 0
        self.started = 0.0
        self.wakeup: asyncio.Future[None] | None = None  # a body stream waiting for data
        self.lingering = False
        self.responding = False  # a streamed response is being sent
        # ...one with a keep-alive or shutdown policy: endless (SSE), so the client
        # half-closing means it left; a finite stream still goes to a half-closed client.
        self.long_lived = False
        self.rate_on = False  # the peer is held to the minimum data rate (``_rate``)
        self.upgraded = False  # handed over to another protocol: nothing of ours is left
        # The peer is not taking our answers (the shell's write high-water mark, which
        # also stops reading): no further pipelined request is answered until it drains.
        self.write_blocked = False
        self.tail = Tail(app.server_header)
        self.fast_ready = False  # see data_received

    # -- shell Session interface ---------------------------------------------
    def busy(self) -> bool:
        """Our turn to speak (a handler computes an answer: a long poll), so the
        shell's idle timeout leaves us alone. Not while a streaming handler waits for
        body bytes (the client's turn), nor while a response streams: then bytes
        flow, and a silent stream needs a keep-alive policy like any silent peer."""
        return self.owned and self.wakeup is None and not self.responding and not self.lingering

    def data_received(self, data: bytes) -> None:
        # ``fast_ready``: the fast path's preconditions held at the last read and nothing
        # has changed them since (whatever can clears it: the core taking a request,
        # ``pause_writing``, ``shutdown``, EOF). Else they are checked afresh. The deadline
        # is checked each time: a handler may set one through ``req.connection``.
        if self.fast_ready and self.conn.deadline is None:
            rest = self._fast(data)
            if not rest:
                return
            self.fast_ready = False
            data = rest
        elif self.lingering or self.upgraded:
            return
        elif self._fast_allowed():
            self.fast_ready = True
            rest = self._fast(data)
            if not rest:
                return
            self.fast_ready = False
            data = rest
        h = self.h
        h.receive_data(data)
        if not self.owned:
            self._process()
        else:
            self._wake()
            if len(self.h.unparsed) > PAUSE_BUFFER:
                self.conn.pause_reading()

    def _fast_allowed(self) -> bool:
        """The fast path's preconditions: between requests, nothing buffered, no timer
        running, nothing making the next answer special. (The core's private fields: its
        properties cost a call each.)"""
        h = self.h
        return (
            not self.owned and not self.lingering and not self.upgraded and not h._buf
            and h.their_state is h11.IDLE and h.our_state is h11.IDLE and h._keep_alive
            and self.conn.deadline is None and not self.rate_on and not self.write_blocked
            and self.tail.ok and self.fast_path and not self.conn.stopping
        )  # fmt: skip

    def eof_received(self) -> bool:
        self.fast_ready = False
        if self.lingering:
            self.conn.close()
            return True
        if self.long_lived and self.task is not None:
            # The reader of an endless stream hung up (nginx does the same when a
            # client closes during a proxied response): stop the producer now.
            self.conn.log.debug("client closed its side of a long-lived stream")
            self.task.cancel()
            self.conn.close()
            return True
        self.h.receive_data(b"")
        if not self.owned:
            self._process()
        else:
            self._wake()
        return True  # a half-closed client still gets its answers; we close when done

    def connection_lost(self, exc: BaseException | None) -> None:
        self.fast_ready = False
        self._wake()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def pause_writing(self) -> None:
        self.fast_ready = False
        self.write_blocked = True  # (a task paces itself with drain())

    def resume_writing(self) -> None:
        self.write_blocked = False
        if not self.owned:
            self._process()

    def shutdown(self) -> None:
        """The server is stopping: close if idle, else make this response the last."""
        self.fast_ready = False
        self.h.close_after_this()
        if not self.owned and self.req is None and not self.h.unparsed:
            self.conn.close()

    # -- the event loop of one connection --------------------------------------
    def _process(self) -> None:
        h = self.h
        while not self.owned:
            if self.write_blocked:
                return  # the shell stopped reading; resume_writing() carries on from here
            try:
                ev = h.next_event()
            except h11.RemoteProtocolError as e:
                self._refuse(e)
                return
            t = type(ev)
            if t is h11.Request:
                self._on_request(ev)  # type: ignore[arg-type]
            elif t is h11.EndOfMessage:
                self._on_end()
            elif t is h11.Data:
                self._on_data(ev.data)  # type: ignore[union-attr]
            elif ev is h11.NEED_DATA:
                if h.their_state == h11.IDLE and self.conn.deadline is None and h.unparsed:
                    self.conn.set_deadline(self.app.head_timeout)  # a head has begun
                    self._rate(True)
                self.conn.resume_reading()
                return
            else:  # PAUSED or ConnectionClosed
                if h.their_state in (h11.MUST_CLOSE, h11.CLOSED) or h.our_state == h11.MUST_CLOSE:
                    self.conn.close()
                return

    def _call(self, route: Route, req: Request) -> Any:
        """A sync handler's result; its HTTPError or crash as the response to send."""
        try:
            return route.handler(req)
        except Exception as e:
            return self._failed(route, e)

    def _failed(self, route: Route, e: Exception) -> Response:
        """The answer for a handler that raised ``e``: its HTTPError, else a logged 500."""
        if isinstance(e, HTTPError):
            return self._error_response(e)
        self.conn.log.error("handler %s crashed", route.pattern, exc_info=e)
        return self._error_response(HTTPError(500, "internal server error"))

    def _on_request(self, ev: h11.Request) -> None:
        if self.conn.deadline is not None:
            self.conn.set_deadline(None)
        if self.app.access_log:
            self.started = time.perf_counter()
        req = Request(ev.method.decode("latin-1"), ev.target, ev.headers,
                      ev.http_version.decode(), self.conn.peer, self.conn)  # fmt: skip
        self.req, self.error, self.parts, self.size = req, None, [], 0
        length = self.h.their_content_length
        if length != 0:  # a body is to come, at the minimum rate (its head may have come whole)
            self._rate(True)
        elif self.rate_on:
            self._rate(False)  # the whole request is in
        try:
            self.route, req.params = self.app.match(req.method, req.path)
        except HTTPError as e:
            self.route, self.error = None, e
            if (
                self.h.they_are_waiting_for_100_continue
                or length is None
                or length > self.app.max_body
            ):
                self._finish_early()  # a body we would only throw away: answer, close
            return
        if length != 0:
            limit = self.route.max_body
            self.limit = self.h.max_body = self.app.max_body if limit is None else limit
            if length is not None and length > self.limit:
                self.error = HTTPError(413, f"body over {self.limit} bytes")
                self._finish_early()  # before 100 Continue: the client need not send it
                return
        if self.route.stream:
            req._stream = self._body_stream()
            self.conn.waiting_for_peer(False)  # the rate counts while the handler reads
            self._spawn(self.route, req)
        elif length != 0:  # a body to buffer: it must arrive in time
            self.conn.set_deadline(self.app.body_timeout)
            if self.h.they_are_waiting_for_100_continue:
                self.conn.write(self.h.send(_CONTINUE))

    def _on_data(self, data: bytes) -> None:
        if self.req is None or self.error is not None:
            return  # the body of a request already answered: drop it
        self.size += len(data)
        if self.size > self.limit:
            self.error = HTTPError(413, f"body over {self.limit} bytes")
            self._finish_early()
            return
        self.parts.append(data)

    def _on_end(self) -> None:
        req, route = self.req, self.route
        self.req = None
        if req is None:
            return
        if self.conn.deadline is not None:
            self.conn.set_deadline(None)
        if self.rate_on:
            self._rate(False)
        if self.error is not None or route is None:
            self._answer(req, self._error_response(self.error or HTTPError(500)))
            return
        if self.parts:
            req.body = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
            self.parts = []
        if route.is_async:
            self._spawn(route, req)
            return
        self._answer(req, self._call(route, req))

    def _finish_early(self) -> None:
        """Answer before the body was read: the rest of it is not worth reading."""
        req = self.req
        assert req is not None and self.error is not None
        self.req = None
        self.h.close_after_this()
        self._answer(req, self._error_response(self.error))
        self._linger()

    def _linger(self) -> None:
        """Answered for the last time: half-close, then drop input until EOF or timeout."""
        self.owned = self.lingering = True  # nothing more is parsed on this connection
        self._rate(False)
        self.conn.write_eof()
        self.conn.set_deadline(LINGER_SECONDS)

    def _refuse(self, e: h11.RemoteProtocolError) -> None:
        if refuse(self.conn, self.h, e):
            self._linger()

    def _rate(self, on: bool) -> None:
        """Hold the peer to the minimum data rate (a head or body is coming), or not."""
        self.rate_on = on
        app = self.app
        self.conn.require_rate(app.min_data_rate if on else None, app.min_rate_window)

    @staticmethod
    def _error_response(e: HTTPError) -> Response:
        return Response(f"{e.detail or e.status}\n", e.status, e.headers)

    # -- answering ---------------------------------------------------------------
    def _answer(self, req: Request, result: Any) -> None:
        if type(result) is Upgrade:
            self._upgrade(req, result)
            return
        resp = result if type(result) is Response else self._to_response(result)
        status = resp.status
        if not (type(status) is int and 200 <= status <= 599) and not _final_status(status):
            # (a handler's own status: 1000 on the wire would be garbage to every client)
            self.conn.log.error("handler's response refused: status %r is not in 200..599", status)
            resp = self._error_response(HTTPError(500, "internal server error"))
        body = resp.body
        if type(resp) is Response or type(resp) is JSONResponse:
            pass  # plain bytes: the fast path
        elif isinstance(resp, FileResponse) and resp.length <= FILE_BLOCK:
            try:  # a small file is one read and one write: no task, no chunks
                body = resp.read_all()
            except OSError as e:
                self.conn.log.warning("cannot read %s: %s", resp.path, e)
                resp = self._error_response(HTTPError(500, "cannot read file"))
                body = resp.body
        elif isinstance(resp, FileResponse):
            # Started here, not in a task: a socket that takes the whole file in one
            # os.sendfile (a loopback or fast client) never costs a task; only a send
            # that has to wait for the socket goes on in one (``run_eagerly``).
            self.owned = True
            task = run_eagerly(self._send_streamed(req, resp), self._carry_on)
            if task is not None:
                self.task = task
                task.add_done_callback(self._task_done)
            return
        elif isinstance(resp, StreamingResponse):
            self.owned = True
            self.task = asyncio.get_running_loop().create_task(self._send_streamed(req, resp))
            self.task.add_done_callback(self._task_done)
            return
        out, status, size = self._encode(resp, body)
        self.conn.write(out)
        if self.app.access_log:
            self._log(req, status, size)

    def _encode(self, resp: Response, body: bytes) -> tuple[bytes, int, int]:
        """A plain response on the wire: (bytes, status sent, body size); a 500 if refused."""
        h = self.h
        if self.conn.stopping:
            h.close_after_this()
        if type(body) is not bytes:  # set after construction: a str is encoded as it would be
            body = body.encode() if isinstance(body, str) else body
            if not isinstance(body, bytes | bytearray | memoryview):
                self.conn.log.error(
                    "handler's response refused: body is %s, not bytes or str", type(body).__name__
                )
                return self._internal_error()
        try:
            headers = resp.headers if type(resp.headers) is list else _raw(resp.headers)
            own = [v for n, v in headers if n.lower() == b"content-length"]
        except (TypeError, ValueError, AttributeError) as e:  # (UnicodeError is a ValueError)
            self.conn.log.error("handler's response refused: headers %r: %s", resp.headers, e)
            return self._internal_error()
        length = b"%d" % len(body)
        if any(v != length for v in own):  # its own framing would cut or stall the body
            self.conn.log.error(
                "handler's response refused: Content-Length %s, the body has %d bytes",
                own[0].decode("latin-1"), len(body),
            )  # fmt: skip
            return self._internal_error()
        headers = headers + [
            (b"content-length", length),
            (b"date", http_date()),
            (b"server", self.app.server_header),
        ]
        if resp.status in _NO_LENGTH or own:  # RFC 9110 §8.6: no (or not this) Content-Length
            del headers[-3]  # (or the handler's own, the same, is there already)
        try:
            return h.send_message(h11.Response(resp.status, headers), body), resp.status, len(body)
        except h11.LocalProtocolError as e:  # e.g. a CR/LF in a header value: not sent
            self.conn.log.error("handler's response refused: %s", e)
        return self._internal_error()

    def _internal_error(self) -> tuple[bytes, int, int]:
        """``_encode``'s answer when the handler's response cannot be sent: a plain 500."""
        h = self.h
        err = self._error_response(HTTPError(500, "internal server error"))
        length = (b"content-length", b"%d" % len(err.body))
        return (
            h.send_message(h11.Response(500, [*err.headers, length]), err.body),
            500,
            len(err.body),
        )

    def _to_response(self, result: Any) -> Response:
        try:
            return to_response(result)
        except Exception as e:  # TypeError, or a dict json cannot encode (a cycle)
            self.conn.log.error("handler result refused: %r", e)
            return self._error_response(HTTPError(500, "internal server error"))

    def _spawn(self, route: Route, req: Request) -> None:
        self.owned = True
        self.task = asyncio.get_running_loop().create_task(self._run_async(route, req))
        self.task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Nothing a task raises may go unseen (or surface later from the GC)."""
        if not task.cancelled() and task.exception() is not None:
            self.conn.log.error("connection task failed", exc_info=task.exception())
            self.conn.abort()

    async def _run_async(self, route: Route, req: Request) -> None:
        try:
            result = route.handler(req)
            if route.is_async:
                result = await result
        except HTTPError as e:
            result = self._error_response(e)
        except h11.RemoteProtocolError as e:  # a bad streamed body
            self._refuse(e)
            return
        except (ConnectionError, ConnectionClosed):
            self.conn.log.debug("client went away during %s", route.pattern)
            self.conn.abort()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            self.conn.log.exception("handler %s crashed", route.pattern)
            result = self._error_response(HTTPError(500, "internal server error"))
        if self.h.our_state != h11.IDLE:
            self.conn.abort()
            return
        if self.req is req:  # a streaming route answered without reading all its body
            self.req = None
            self._rate(False)
            if self.h.they_are_waiting_for_100_continue:
                self.h.close_after_this()
        self.owned = False
        self.conn.touch()  # the idle timeout counts from the end of our answer
        self._answer(req, result)
        if not self.owned:
            self._process()

    async def _send_streamed(self, req: Request, resp: StreamingResponse | FileResponse) -> None:
        h, conn = self.h, self.conn
        if conn.stopping:
            h.close_after_this()
        headers = resp.headers + [(b"date", http_date()), (b"server", self.app.server_header)]
        if isinstance(resp, FileResponse):
            headers.append((b"content-length", str(resp.length).encode()))
        sent = 0
        is_file = isinstance(resp, FileResponse)
        chunks = body_of(resp) if req.method != "HEAD" and not is_file else nothing()
        if isinstance(resp, StreamingResponse) and req.method != "HEAD":
            chunks = with_policies(chunks, resp, conn, h.close_after_this)
            self.long_lived = resp.keepalive is not None or resp.on_shutdown is not None
        self.responding = True
        try:
            head = h.send(h11.Response(resp.status, headers))
            if is_file and req.method != "HEAD":
                sent = await send_file(conn, h, resp, head)  # type: ignore[arg-type]
            else:
                conn.write(head)
            async for chunk in chunks:
                conn.write(h.send(h11.Data(chunk)))
                sent += len(chunk)
                await conn.drain()
            conn.write(h.send(h11.EndOfMessage()))
        except asyncio.CancelledError:
            raise
        except (ConnectionClosed, ConnectionError):
            conn.log.debug("client went away after %d streamed bytes", sent)
            conn.abort()
            return
        except Exception as e:
            conn.log.warning("streamed response broken off after %d bytes: %r", sent, e)
            conn.abort()
            return
        finally:
            # Close the producer now (an SSE feed unsubscribes), not whenever it is collected.
            self.responding = self.long_lived = False
            conn.tcp_keepalive(None)
            await chunks.aclose()
            if self.app.access_log:
                self._log(req, resp.status, sent)
        self.owned = False
        self.conn.touch()
        if isinstance(resp, StreamingResponse):
            self._process()  # (a file's sender carries on through ``_carry_on``)

    def _carry_on(self) -> None:
        """A file sent from a task is done: parse what came meanwhile (in the eager
        case the caller's loop does, without recursion through here)."""
        if not self.owned:
            self._process()

    def _upgrade(self, req: Request, up: Upgrade) -> None:
        """101, then the connection (and what the client sent after the request) is ``up.to``'s."""
        head = switching_head(self.h, req, up, self.conn.log)
        if isinstance(head, Response):
            self._answer(req, head)
            return
        self.conn.write(head)
        if self.app.access_log:
            self._log(req, 101, 0)
        self.owned = self.upgraded = True
        data, eof = self.h.trailing_data
        self.conn.hand_over(upgrade_target(up, self.conn), data, eof)

    # -- streamed request bodies ------------------------------------------------
    async def _body_stream(self) -> AsyncIterator[bytes]:
        h = self.h
        if h.they_are_waiting_for_100_continue:
            self.conn.write(h.send(_CONTINUE))
        while True:
            ev = h.next_event()  # RemoteProtocolError reaches the handler, then _run_async
            if type(ev) is h11.Data:
                yield ev.data  # type: ignore[union-attr]
            elif type(ev) is h11.EndOfMessage:
                self.req = None
                self._rate(False)
                return
            elif ev is h11.NEED_DATA:
                self.conn.resume_reading()
                if self.conn.closed:
                    raise ConnectionError("client went away during the body")
                self.wakeup = asyncio.get_running_loop().create_future()
                self.conn.waiting_for_peer(True)
                try:
                    await self.wakeup
                finally:
                    self.conn.waiting_for_peer(False)
            else:
                raise ConnectionError(f"unexpected {ev!r} in a request body")

    def _wake(self) -> None:
        w = self.wakeup
        if w is not None and not w.done():
            w.set_result(None)
        self.wakeup = None

    def _log(self, req: Request, status: int, size: int) -> None:
        ms = (time.perf_counter() - self.started) * 1000
        access.info('%s "%s %s HTTP/%s" %d %d %.1fms', req.peer, req.method,
                    req.target.decode("latin-1"), req.http_version, status, size, ms)  # fmt: skip


def refuse(conn: Connection, h: h11.Connection, e: h11.RemoteProtocolError) -> bool:
    """Answer a refused request with its status, a one-line body and ``Connection: close``
    (True: the caller lingers, then closes), or abort if a response was already under way
    (False). The HTTP server and the load balancer refuse alike through this."""
    conn.log.info("refused (%d): %s", e.status, e)
    if h.our_state != h11.IDLE:
        conn.abort()
        return False
    h.close_after_this()
    body = f"{e}\n".encode()
    head = h11.Response(e.status, [(b"content-type", b"text/plain; charset=utf-8"),
                                   (b"content-length", str(len(body)).encode())])  # fmt: skip
    conn.write(h.send_message(head, body))
    return True


async def serve(app: App, config: ShellConfig | None = None) -> Server:
    """Start serving ``app``; returns once listening (``server.port`` is real)."""
    return await start(
        config=config or ShellConfig(), session_factory=lambda c: HTTPSession(c, app)
    )
