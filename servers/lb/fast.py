"""The core-based fast path of HTTP mode: a bodiless GET or HEAD on an idle keep-alive
upstream, with no task and no await, events parsed and framed by the sans-IO core.

Most requests take the byte path (``rawpath``) instead, which skips the core
altogether; this one serves requests the core parsed already (a head that came
in pieces, a request pipelined behind one the general path took) and adopts an
exchange the byte path started when the response is one it does not relay
(chunked, close-delimited, a bad head): ``FastExchange(..., mark=...)``.

Why. Most requests a balancer sees are small GETs, and with the general path
(``ProxySession._exchange``) each costs a task, several futures and a timer
object, which in CPython is a good share of the time a request takes. Here the
request is written to the backend from the client's ``data_received`` callback
and the response is relayed from the upstream's ``data_received``: parse what
arrived, write what can be written (one send for a small response), and, at the
end of the response, hand the connection back to the pool and take the client's
next pipelined request. The read timeout is one ``call_later``.

Anything unusual leaves the fast path for the general one, which knows retries:
no idle connection (a connect is an await), or a failure before the client saw
a byte (the request goes to ``ProxySession._run`` with this backend marked as
tried, and is retried there; a kept-alive connection the backend had just
closed is retried on the same backend without counting against it). A failure
after the response head went out aborts the client connection, as the general
path does.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from netlib.http import core as h11

from .forwarding import request_headers, response_headers
from .upstream import UpstreamError

if TYPE_CHECKING:
    from .backends import Backend
    from .proxy import ProxySession
    from .upstream import Upstream

SAFE = frozenset((b"GET", b"HEAD"))


def start(session: ProxySession, req: h11.Request) -> bool:
    """Proxy ``req`` here if it qualifies (True); False: use the general path."""
    h = session.h
    if req.method not in SAFE or h.their_content_length != 0 or req.target[:1] != b"/":
        return False
    lb = session.lb
    key = session._hash_key(req) if lb.balancer.name == "consistent" else ""
    backend = lb.choose(key, [])
    if backend is None:
        return False  # the general path answers 502
    h.next_event()  # the EndOfMessage of the empty body
    up = backend.take_idle()
    if up is None:  # a connect is an await: the general path, on the backend chosen
        session.spawn(req, first=backend)
        return True
    FastExchange(session, req, backend, up)
    return True


class FastExchange:
    __slots__ = ("session", "req", "backend", "up", "timer", "head_sent", "started", "status",
                 "mark", "replayable")

    def __init__(self, session: ProxySession, req: h11.Request, backend: Backend,
                 up: Upstream, mark: int | None = None, replayable: bool = True) -> None:  # fmt: skip
        """Send ``req`` on ``up``; or, given ``mark`` (the upstream's byte count when the
        byte path sent it), adopt an exchange whose request went already."""
        self.session, self.req, self.backend, self.up = session, req, backend, up
        self.head_sent = False
        self.status = 0
        self.replayable = replayable
        self.started = time.perf_counter()
        up.idle = False
        up.fast = self
        self.mark = up.received if mark is None else mark
        session.fast = self
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(session.lb.cfg.read_timeout, self.timed_out)
        if mark is not None:
            self.progress()
            return
        uh = up.h
        head = h11.Request(req.method, req.target,
                           request_headers(req.headers, session.conn.peer, chunked=False))  # fmt: skip
        try:
            up.write(uh.send(head) + uh.send(h11.EndOfMessage()))
        except UpstreamError as e:
            self.failed(e)

    def progress(self) -> None:
        """The upstream received bytes (or closed): relay what can be relayed."""
        h, out = self.session.h, []
        try:
            while (ev := self.up.poll()) is not None:
                t = type(ev)
                if t is h11.Data:
                    out.append(h.send(ev))
                elif t is h11.Response:
                    out.append(h.send(h11.Response(
                        ev.status_code, response_headers(ev.headers), ev.reason)))  # type: ignore[attr-defined]
                    self.head_sent = True
                    self.status = ev.status_code  # type: ignore[attr-defined]
                elif t is h11.EndOfMessage:
                    out.append(h.send(h11.EndOfMessage()))
                    self.session.conn.write(b"".join(out))
                    self.done()
                    return
                elif t is not h11.InformationalResponse:
                    raise UpstreamError(f"unexpected {ev!r} from the backend", True)
        except UpstreamError as e:
            if out and self.head_sent:
                self.session.conn.write(b"".join(out))
            self.failed(e)
            return
        if out:
            self.session.conn.write(b"".join(out))

    def timed_out(self) -> None:
        timeout = self.session.lb.cfg.read_timeout
        self.failed(UpstreamError(f"no answer within {timeout:g}s", True, True))

    def _detach(self) -> None:
        self.timer.cancel()
        self.up.fast = None
        self.session.fast = None

    def done(self) -> None:
        s = self.session
        self._detach()
        self.up.idle = True
        self.backend.give_back(self.up)
        s.lb.done(self.backend)
        s.finished(self.req, self.status, self.started)

    def failed(self, e: UpstreamError) -> None:
        s, b, up = self.session, self.backend, self.up
        self._detach()
        up.close()
        if self.head_sent:
            b.failed(f"response broken off: {e}")
            s.lb.done(b)
            s.conn.abort()
            return
        if not self.replayable:  # its body was read and sent: answer, never send it twice
            b.failed(str(e))
            s.lb.done(b)
            status = s._error(504 if e.timeout else 502, f"backend {b.name}: {e}")
            s.finished(self.req, status, self.started)
            return
        stale = not e.timeout and up.received == self.mark  # (every fast upstream is reused)
        if stale:  # closed by the backend as we reused it: try it again, fresh
            s.spawn(self.req, first=b)
            return
        b.failed(str(e))
        s.lb.done(b)
        s.spawn(self.req, tried=[b], last=(504 if e.timeout else 502, f"backend {b.name}: {e}"))

    def client_gone(self) -> None:
        self._detach()
        self.up.close()
        self.session.lb.done(self.backend)
