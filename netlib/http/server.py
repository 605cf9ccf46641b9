"""The HTTP server: one ``HTTPSession`` per connection on the shell's fast shape.

Strategy. The shell calls ``data_received`` synchronously; the session feeds
the sans-IO core and pulls events. For a sync handler the whole cycle (parse,
route, call, serialise, ``write``) happens inside that call: no task, no await,
no per-request allocation beyond the request and response objects. That is
what lets a pure-Python server keep up with httptools-based ones. An async
handler, a streamed request body or a streamed response body gets a task, and
while it runs the session stops pulling events (pipelined requests wait in the
core's buffer, and past ``PAUSE_BUFFER`` the socket is paused: TCP backpressure).
The other direction too: a client that pipelines without reading its answers
fills our write buffer; past the shell's high-water mark (``pause_writing``) no
further request is answered and reading stops until it drains.

Bad input: a ``RemoteProtocolError`` becomes its status line plus
``Connection: close``; the connection closes; nobody else notices. A client
that takes longer than ``App.head_timeout`` to send a head, or
``App.body_timeout`` to send a buffered body, is cut (slowloris); an idle
keep-alive peer is closed by the shell's idle timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from netlib.shell import Connection, ConnectionClosed, Server, ShellConfig, start

from . import core as h11
from .messages import (
    FileResponse,
    HTTPError,
    JSONResponse,
    Request,
    Response,
    StreamingResponse,
    http_date,
    to_response,
)
from .router import App, Route

log = logging.getLogger("netlib.http")
access = logging.getLogger("netlib.http.access")

# While a handler task runs, unparsed input above this pauses the socket.
PAUSE_BUFFER = 256 * 1024
# Seconds we keep reading (and dropping) a refused client's input after answering,
# so its unread request bytes do not turn our close into an RST that destroys the
# answer before the client read it (nginx's lingering_close does the same).
LINGER_SECONDS = 2.0
# A FileResponse up to this size is read and written with its head in one write;
# a larger one goes by os.sendfile (``_send_file``), never held in memory.
FILE_BLOCK = 64 * 1024
_CONTINUE = h11.InformationalResponse(100)
_NO_LENGTH = frozenset((204, 304))


class HTTPSession:
    """One connection's HTTP state (the shell's Session shape)."""

    def __init__(self, conn: Connection, app: App) -> None:
        self.conn = conn
        self.app = app
        self.h = h11.Connection(h11.SERVER, max_body=app.max_stream_body)
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
        # The peer is not taking our answers (the shell's write high-water mark):
        # no further pipelined request is answered, and reading stops, until it drains.
        self.write_blocked = False

    # -- shell Session interface ---------------------------------------------
    @property
    def busy(self) -> bool:
        """Our turn to speak (a handler runs, a response streams: SSE, long polls), so
        the shell's idle timeout leaves us alone; not while a streaming handler waits
        for body bytes: then the client is the one to be timed out."""
        return self.owned and self.wakeup is None

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return
        self.h.receive_data(data)
        if not self.owned:
            self._process()
        else:
            self._wake()
            if len(self.h._buf) > PAUSE_BUFFER:
                self.conn.pause_reading()

    def eof_received(self) -> bool:
        if self.lingering:
            self.conn.close()
            return True
        self.h.receive_data(b"")
        if not self.owned:
            self._process()
        else:
            self._wake()
        return True  # a half-closed client still gets its answers; we close when done

    def connection_lost(self, exc: BaseException | None) -> None:
        self._wake()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def pause_writing(self) -> None:
        self.write_blocked = True
        if not self.owned:  # a task paces itself with drain()
            self.conn.pause_reading()

    def resume_writing(self) -> None:
        self.write_blocked = False
        if not self.owned:
            self._process()

    def shutdown(self) -> None:
        """The server is stopping: close if idle, else make this response the last."""
        self.h.close_after_this()
        if not self.owned and self.req is None and not self.h._buf:
            self.conn.close()

    # -- the event loop of one connection --------------------------------------
    def _process(self) -> None:
        h = self.h
        while not self.owned:
            if self.write_blocked:
                self.conn.pause_reading()  # resume_writing() carries on from here
                return
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
                if h.their_state == h11.IDLE and self.conn.deadline is None and h._buf:
                    self.conn.set_deadline(self.app.head_timeout)  # a head has begun
                self.conn.resume_reading()
                return
            else:  # PAUSED or ConnectionClosed
                if h.their_state in (h11.MUST_CLOSE, h11.CLOSED) or h.our_state == h11.MUST_CLOSE:
                    self.conn.close()
                return

    def _on_request(self, ev: h11.Request) -> None:
        if self.conn.deadline is not None:
            self.conn.set_deadline(None)
        if self.app.access_log:
            self.started = time.perf_counter()
        req = Request(ev.method.decode("latin-1"), ev.target, ev.headers,
                      ev.http_version.decode(), self.conn.peer)  # fmt: skip
        self.req, self.error, self.parts, self.size = req, None, [], 0
        try:
            self.route, req.params = self.app.match(req.method, req.path)
        except HTTPError as e:
            self.route, self.error = None, e
            length = self.h.their_content_length
            if (
                self.h.they_are_waiting_for_100_continue
                or length is None
                or length > self.app.max_body
            ):
                self._finish_early()  # a body we would only throw away: answer, close
            return
        if self.route.stream:
            req._stream = self._body_stream()
            self._spawn(self.route, req)
            return
        length = self.h.their_content_length
        if length is not None and length > self.app.max_body:
            self.error = HTTPError(413, f"body over {self.app.max_body} bytes")
            self._finish_early()  # before 100 Continue: the client need not send it
        elif length != 0:  # a body to buffer: it must arrive in time
            self.conn.set_deadline(self.app.body_timeout)
            if self.h.they_are_waiting_for_100_continue:
                self.conn.write(self.h.send(_CONTINUE))

    def _on_data(self, data: bytes) -> None:
        if self.req is None or self.error is not None:
            return  # the body of a request already answered: drop it
        self.size += len(data)
        if self.size > self.app.max_body:
            self.error = HTTPError(413, f"body over {self.app.max_body} bytes")
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
        if self.error is not None or route is None:
            self._answer(req, self._error_response(self.error or HTTPError(500)))
            return
        if self.parts:
            req.body = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
            self.parts = []
        if route.is_async:
            self._spawn(route, req)
            return
        try:
            result = route.handler(req)
        except HTTPError as e:
            result = self._error_response(e)
        except Exception:
            self.conn.log.exception("handler %s crashed", route.pattern)
            result = self._error_response(HTTPError(500, "internal server error"))
        self._answer(req, result)

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
        self.conn.write_eof()
        self.conn.set_deadline(LINGER_SECONDS)

    def _refuse(self, e: h11.RemoteProtocolError) -> None:
        self.conn.log.info("refused (%d): %s", e.status, e)
        if self.h.our_state == h11.IDLE:
            self.h.close_after_this()
            body = f"{e}\n".encode()
            head = h11.Response(e.status, [(b"content-type", b"text/plain; charset=utf-8"),
                                           (b"content-length", str(len(body)).encode())])  # fmt: skip
            self.conn.write(self.h.send_message(head, body))
            self._linger()
        else:
            self.conn.abort()

    @staticmethod
    def _error_response(e: HTTPError) -> Response:
        return Response(f"{e.detail or e.status}\n", e.status, e.headers)

    # -- answering ---------------------------------------------------------------
    def _answer(self, req: Request, result: Any) -> None:
        resp = result if type(result) is Response else self._to_response(result)
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
        elif isinstance(resp, StreamingResponse | FileResponse):
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
        headers = resp.headers + [
            (b"content-length", str(len(body)).encode()),
            (b"date", http_date()),
            (b"server", self.app.server_header),
        ]
        if resp.status in _NO_LENGTH:  # RFC 9110 §8.6: no (or not this) Content-Length
            del headers[-3]
        try:
            return h.send_message(h11.Response(resp.status, headers), body), resp.status, len(body)
        except h11.LocalProtocolError as e:  # e.g. a CR/LF in a header value: not sent
            self.conn.log.error("handler's response refused: %s", e)
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
        chunks = _chunks(resp) if req.method != "HEAD" and not is_file else _nothing()
        try:
            head = h.send(h11.Response(resp.status, headers))
            if is_file and req.method != "HEAD":
                sent = await _send_file(conn, h, resp, head)  # type: ignore[arg-type]
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
            await chunks.aclose()
            if self.app.access_log:
                self._log(req, resp.status, sent)
        self.owned = False
        self.conn.touch()
        self._process()

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
                return
            elif ev is h11.NEED_DATA:
                self.conn.resume_reading()
                if self.conn.closed:
                    raise ConnectionError("client went away during the body")
                self.wakeup = asyncio.get_running_loop().create_future()
                await self.wakeup
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


async def _nothing() -> AsyncGenerator[bytes, None]:
    return
    yield b""


async def _send_file(conn: Connection, h: h11.Connection, resp: FileResponse, head: bytes) -> int:
    """A file body after its head: literal pieces (the head, multipart part heads) are
    gathered into one write before each file range, which goes by ``conn.sendfile``."""
    sent = 0
    out = [head]
    with resp.open() as fd:
        for piece in resp.pieces():
            if isinstance(piece, bytes):
                out.append(h.send(h11.Data(piece)))
                sent += len(piece)
                continue
            conn.write(b"".join(out))
            out = []
            h.send_counted(piece[1])
            await conn.sendfile(fd, piece[0], piece[1])
            sent += piece[1]
    if out:
        conn.write(b"".join(out))
    return sent


async def _chunks(resp: StreamingResponse | FileResponse) -> AsyncGenerator[bytes, None]:
    content = resp.content  # type: ignore[union-attr]
    if hasattr(content, "__aiter__"):
        try:
            async for chunk in content:
                if chunk:
                    yield chunk.encode() if isinstance(chunk, str) else chunk
        finally:
            aclose = getattr(content, "aclose", None)
            if aclose is not None:
                await aclose()
    else:
        for chunk in content:  # type: ignore[union-attr]
            if chunk:
                yield chunk.encode() if isinstance(chunk, str) else chunk


async def serve(app: App, config: ShellConfig | None = None) -> Server:
    """Start serving ``app``; returns once listening (``server.port`` is real)."""
    return await start(
        config=config or ShellConfig(), session_factory=lambda c: HTTPSession(c, app)
    )
