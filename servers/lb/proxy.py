"""HTTP mode: one ``ProxySession`` per client connection, on the shell's session shape.

Strategy. The client side is the same sans-IO core the netlib HTTP server
runs, so a request the server would refuse (Content-Length with
Transfer-Encoding, differing Content-Lengths, obsolete line folding, a bare LF,
a bad chunk size) is refused here, by the proxy, before any backend sees a
byte: the proxy and the backend can never disagree about where a request ends
(request smuggling), because the backend only ever receives messages the proxy
re-framed itself.

The common request (a whole head, no body or a small Content-Length one, an
idle pooled upstream) never reaches the core: the byte path (``rawpath``)
checks it against the same grammar and limits, rewrites it in one pass and
relays a Content-Length response as bytes, declining anything unusual to what
follows. There, each request gets one task (``_exchange``): choose a backend, take an idle
keep-alive connection to it (or open one within the connect timeout), send the
head with rewritten headers (``forwarding``), stream the body, wait for the
response head within the read timeout, then stream the response back. Bodies
flow both ways with backpressure: a slow client stops us reading the backend
(``Upstream`` pauses past its high-water mark), a slow backend stops us reading
the client. Pipelined requests wait in the core's buffer meanwhile.

Failures. A backend that cannot be reached, resets, times out or sends a broken
response counts against it (passive health). The request is tried once more on
another backend when that is safe: always if no byte of it was sent (the
connect failed), otherwise only for an idempotent method whose body is small
enough to have been kept (``REPLAY_LIMIT``). With nobody left: ``502``, or
``504`` after a timeout, each with a one-line body. A response that breaks
after its head was sent cannot be replaced: the client connection is aborted,
so the client sees a truncated message rather than a wrong one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from netlib.http import core as h11
from netlib.http.messages import _absolute_path as origin_form  # absolute-form -> /path
from netlib.http.server import refuse
from netlib.shell import READ_HIGH_WATER, Connection, ConnectionClosed, Session

from . import fast
from .forwarding import client_ip, header, request_headers, response_headers
from .rawpath import IDEMPOTENT, REPLAY_LIMIT, RawPath
from .upstream import Upstream, UpstreamError

if TYPE_CHECKING:
    from .backends import Backend
    from .fast import FastExchange
    from .server import LoadBalancer

access = logging.getLogger("servers.lb.access")

# IDEMPOTENT (RFC 9110 §9.2.2) and REPLAY_LIMIT come from ``rawpath``: request bodies up
# to that size (with a Content-Length) of an idempotent request are read whole before
# sending, so the request can be replayed on another backend; larger or chunked bodies
# stream and are never retried. 64 KiB: forms and JSON fit.
# Seconds a client gets to send a whole request head (slowloris), as the HTTP server.
HEAD_TIMEOUT = 10.0
# Seconds we drop a refused client's input after answering, so our close is not an
# RST that destroys the answer (nginx's lingering close).
LINGER_SECONDS = 2.0
_CONTINUE = h11.InformationalResponse(100)


class _ClientGone(Exception):
    """The client went away or sent a bad body: nothing to answer."""


class _Broken(Exception):
    """The response broke after its head was sent: abort the client connection."""


class ProxySession(RawPath, Session):
    def __init__(self, conn: Connection, lb: LoadBalancer) -> None:
        self.conn = conn
        self.lb = lb
        self.h = h11.Connection(h11.SERVER, max_body=None)
        self.owned = False  # a task is proxying a request: events are pulled there
        self.task: asyncio.Task[None] | None = None
        self.wakeup: asyncio.Future[None] | None = None
        self.lingering = False
        self.fast: FastExchange | None = None  # a request on the fast path (``fast``)
        self.eof = False  # the client half-closed
        self._raw_init(conn.peer)  # the byte path (``rawpath``)

    # -- the shell's Session interface ---------------------------------------------
    def busy(self) -> bool:
        """Waiting for a backend is our turn, not an idle client."""
        return self.owned and self.wakeup is None and not self.lingering

    def data_received(self, data: bytes) -> None:
        if self.rx_busy:  # a request is on the byte path: the next ones wait
            self.raw_pipelined(data)
            return
        if self.lingering:
            return
        h = self.h
        if not self.owned and h.their_state is h11.IDLE and not h.unparsed \
                and self._raw_start(data):  # fmt: skip
            return
        h.receive_data(data)
        if not self.owned:
            self._process()
        else:
            self._wake()
            if len(self.h.unparsed) > READ_HIGH_WATER:
                self.conn.pause_reading()

    def eof_received(self) -> bool:
        if self.lingering:
            self.conn.close()
            return True
        self.eof = True
        self.h.receive_data(b"")
        if self.rx_busy:
            return True  # answered, then closed (``_raw_next``)
        if not self.owned:
            self._process()
        else:
            self._wake()
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.rx_busy:
            self.raw_client_gone()
        if self.fast is not None:
            self.fast.client_gone()
        self._wake()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def pause_writing(self) -> None:
        """The client is not reading: stop reading its response from the backend."""
        if self.rx_busy:
            self.raw_hold(True)
        up = self.rx_up or (self.fast.up if self.fast is not None else None)
        if up is not None and up.transport is not None:
            up.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.rx_busy:
            self.raw_hold(False)
        up = self.rx_up or (self.fast.up if self.fast is not None else None)
        if up is not None and up.transport is not None:
            up.transport.resume_reading()

    def shutdown(self) -> None:
        self.h.close_after_this()
        if not self.owned and not self.h.unparsed:
            self.conn.close()

    # -- requests ------------------------------------------------------------------------
    def _process(self) -> None:
        h = self.h
        try:
            ev = h.next_event()
        except h11.RemoteProtocolError as e:
            self._refuse(e)
            return
        if type(ev) is h11.Request:
            if self.conn.deadline is not None:
                self.conn.set_deadline(None)
            self.owned = True
            if not fast.start(self, ev):  # type: ignore[arg-type]
                self.spawn(ev)  # type: ignore[arg-type]
            return
        if ev is h11.NEED_DATA:
            if h.their_state == h11.IDLE and self.conn.deadline is None and h.unparsed:
                self.conn.set_deadline(HEAD_TIMEOUT)  # a head has begun: it must end in time
            self.conn.resume_reading()
            return
        if h.their_state in (h11.MUST_CLOSE, h11.CLOSED) or h.our_state == h11.MUST_CLOSE:
            self.conn.close()

    def spawn(self, req: h11.Request, first: Backend | None = None,
              tried: list[Backend] | None = None, last: tuple[int, str] | None = None) -> None:  # fmt: skip
        """Proxy ``req`` on the general path (a task): ``first`` is a backend already chosen,
        ``tried`` the backends that failed it already, ``last`` their error."""
        self.task = asyncio.get_running_loop().create_task(self._run(req, first, tried, last))

    async def _run(self, req: h11.Request, first: Backend | None, tried: list[Backend] | None,
                   last: tuple[int, str] | None) -> None:  # fmt: skip
        started = time.perf_counter()
        status = 0
        try:
            status = await self._exchange(req, first, tried or [], last)
        except (_ClientGone, ConnectionClosed, ConnectionError):
            self.conn.abort()
            return
        except _Broken:
            self.conn.abort()
            return
        except h11.RemoteProtocolError as e:  # a bad request body
            self._refuse(e)
            return
        except Exception:
            self.conn.log.exception("proxying %r crashed", req.target)
            self.conn.abort()
            return
        finally:
            self.task = None
        self.finished(req, status, started)

    def finished(self, req: h11.Request, status: int, started: float) -> None:
        """A response was sent whole: log it, then take the next request."""
        if self.lb.cfg.access_log:
            ms = (time.perf_counter() - started) * 1000
            access.info('%s "%s %s" %d %.1fms', self.conn.peer, req.method.decode(),
                        req.target.decode("latin-1"), status, ms)  # fmt: skip
        if self.h.their_state == h11.SEND_BODY:  # answered before the body was read
            self._linger()
            return
        self.owned = False
        self.conn.touch()
        self._process()

    async def _exchange(self, req: h11.Request, first: Backend | None, tried: list[Backend],
                        last: tuple[int, str] | None) -> int:  # fmt: skip
        """Proxy one request; the status the client got."""
        lb, h = self.lb, self.h
        length = h.their_content_length  # 0: none, None: chunked
        idempotent = req.method in IDEMPOTENT
        body: bytes | None = None
        if length == 0:
            body = b""
            if h.their_state == h11.SEND_BODY:
                h.next_event()  # the EndOfMessage of an empty body: the request is all in
        elif idempotent and length is not None and length <= REPLAY_LIMIT:
            body = b"".join([c async for c in self._client_body()])
        head = h11.Request(
            req.method, req.target if req.target[:1] == b"/" else origin_form(req.target),
            request_headers(req.headers, self.conn.peer, chunked=length is None),
        )  # fmt: skip
        key = self._hash_key(req) if lb.balancer.name == "consistent" else ""
        last = last or (502, "no backend available")
        while len(tried) < 2:
            backend = first or lb.choose(key, tried)
            first = None
            if backend is None:
                break
            tried.append(backend)
            try:
                return await self._via(backend, head, body, idempotent)
            except UpstreamError as e:
                backend.failed(str(e))
                last = (504 if e.timeout else 502, f"backend {backend.name}: {e}")
                if e.sent and not (idempotent and body is not None):
                    break  # it may have acted on the request: never send it twice
                self.conn.log.info("%s on %s failed (%s): trying another backend",
                                   req.method.decode(), backend.name, e)  # fmt: skip
            finally:
                lb.done(backend)
        return self._error(*last)

    async def _via(self, backend: Backend, head: h11.Request, body: bytes | None,
                   idempotent: bool) -> int:  # fmt: skip
        """One try on ``backend``: UpstreamError while the client has seen nothing."""
        cfg = self.lb.cfg
        up = backend.take_idle()
        if up is not None:
            up.idle = False
            mark = up.received
            try:
                resp = await self._send(up, head, body)
            except UpstreamError as e:
                up.close()
                # A kept-alive connection the backend closed just as we reused it: say
                # nothing against the backend, try a fresh connection once.
                stale = not e.timeout and up.received == mark
                if not (stale and idempotent and body is not None):
                    raise
                up = None
            except BaseException:  # the client's body broke, or we were cancelled
                up.close()
                raise
        if up is None:
            up = await Upstream.open(backend, cfg.connect_timeout)
            try:
                resp = await self._send(up, head, body)
            except BaseException:
                up.close()
                raise
        try:
            await self._relay(up, resp)
        except BaseException:
            up.close()
            raise
        up.idle = True
        backend.give_back(up)
        return resp.status_code

    async def _send(self, up: Upstream, head: h11.Request, body: bytes | None) -> h11.Response:
        """Send the request; the response head."""
        uh = up.h
        if body is not None:
            data = uh.send(head)
            if body:
                data += uh.send(h11.Data(body))
            up.write(data + uh.send(h11.EndOfMessage()))
        else:
            up.write(uh.send(head))
            async for chunk in self._client_body():
                up.write(uh.send(h11.Data(chunk)))
                await up.drain()
            up.write(uh.send(h11.EndOfMessage()))
        timeout = self.lb.cfg.read_timeout
        while True:
            ev = await up.next_event(timeout)
            if type(ev) is h11.Response:
                return ev  # type: ignore[return-value]
            if type(ev) is not h11.InformationalResponse:  # a 100 Continue: ours was sent
                raise UpstreamError(f"unexpected {ev!r} before the response", True)

    async def _relay(self, up: Upstream, resp: h11.Response) -> None:
        """Stream the response to the client; _Broken if the backend fails midway."""
        h, conn = self.h, self.conn
        if conn.stopping:
            h.close_after_this()
        # What has arrived goes out in one write (head, body, end: one send for a small
        # response, not three); we wait for the backend only with nothing left to send.
        out = [h.send(h11.Response(resp.status_code, response_headers(resp.headers),
                                   resp.reason))]  # fmt: skip
        timeout = self.lb.cfg.read_timeout
        while True:
            try:
                ev = up.poll()
                if ev is None:
                    conn.write(b"".join(out))
                    out = []
                    await conn.drain()
                    ev = await up.next_event(timeout)
            except UpstreamError as e:
                up.backend.failed(f"response broken off: {e}")
                up.close()
                raise _Broken(str(e)) from None
            if type(ev) is h11.Data:
                out.append(h.send(ev))
            elif type(ev) is h11.EndOfMessage:
                out.append(h.send(h11.EndOfMessage()))
                conn.write(b"".join(out))
                return
            else:
                up.close()
                raise _Broken(f"unexpected {ev!r} in a response body")

    async def _client_body(self) -> AsyncIterator[bytes]:
        """The client's request body piece by piece (100 Continue sent first if asked)."""
        h = self.h
        if h.they_are_waiting_for_100_continue:
            self.conn.write(h.send(_CONTINUE))
        while True:
            ev = h.next_event()  # RemoteProtocolError: a bad chunk; _run refuses it
            if type(ev) is h11.Data:
                yield ev.data  # type: ignore[union-attr]
            elif type(ev) is h11.EndOfMessage:
                return
            elif ev is h11.NEED_DATA:
                self.conn.resume_reading()
                if self.conn.closed:
                    raise _ClientGone()
                self.wakeup = asyncio.get_running_loop().create_future()
                await self.wakeup
            else:
                raise _ClientGone()

    def _hash_key(self, req: h11.Request) -> str:
        how = self.lb.cfg.hash_key
        if how == "path":
            return req.target.partition(b"?")[0].decode("latin-1")
        if how.startswith("header:"):
            value = header(req.headers, how[7:].lower().encode("latin-1"))
            if value is not None:
                return value.decode("latin-1")
        return client_ip(self.conn.peer)

    # -- answers of our own -------------------------------------------------------------
    def _error(self, status: int, detail: str) -> int:
        """A short answer of the proxy's own (502, 504), if the client has seen nothing yet."""
        h = self.h
        if h.our_state != h11.IDLE:
            raise _Broken(detail)
        self.conn.log.warning("%d: %s", status, detail)
        if h.their_state == h11.SEND_BODY:
            h.close_after_this()  # the body was not read: this connection cannot go on
        body = f"{status} {_REASONS[status]}: {detail}\n".encode()
        head = h11.Response(status, [(b"content-type", b"text/plain; charset=utf-8"),
                                     (b"content-length", str(len(body)).encode())])  # fmt: skip
        self.conn.write(h.send_message(head, body))
        return status

    def _refuse(self, e: h11.RemoteProtocolError) -> None:
        if refuse(self.conn, self.h, e):  # the netlib HTTP server's own refusal
            self._linger()

    def _linger(self) -> None:
        self.owned = self.lingering = True
        self.conn.write_eof()
        self.conn.set_deadline(LINGER_SECONDS)

    def _wake(self) -> None:
        w, self.wakeup = self.wakeup, None
        if w is not None and not w.done():
            w.set_result(None)


_REASONS = {502: "Bad Gateway", 504: "Gateway Timeout"}
