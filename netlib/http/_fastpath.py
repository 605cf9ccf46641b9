"""The fast path of ``HTTPSession`` (a mixin of it): whole plain GET/HEAD requests
answered without the core's events.

Strategy. When a read arrives between requests, with nothing buffered and no
timer or policy running (``HTTPSession.data_received`` checks, or knows from
``fast_ready`` that nothing changed since the last read), each complete
head at the front of it that ``_fast.scan_head`` (inlined here) accepts is routed (the route,
parameters and decoded path remembered per raw target: ``Router.fast_route``),
its sync handler called inline with a ``FastRequest`` (fields parsed if read), and a plain answer (``Response``/``JSONResponse``, or a
whole file by ``os.sendfile``) written from cached pieces (a Response returned
again reuses its encoded head: ``_fast.response_wire``); the answers to
pipelined requests go out in one write (up to ``FAST_BATCH``). The first request
the fast path does not take, from its first byte on, is fed to the core and the
session carries on as ever (``_process``). A small file of a StaticFiles route,
fresh in its cache and asked for without Range or If-* (nor Accept-Encoding, if
it has a gzip sibling), is answered from the cache's bytes without calling the
handler (``StaticFiles.cached``): the 200 the handler would give; an answer the core must frame (a
stream, a 304, a handler's own Content-Length...) is given to it with
``assume_request``, as if the core had parsed the request itself. The tests
compare both paths byte for byte (``tests/test_http_fastpath.py``).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any

from netlib.shell import ConnectionClosed

from ._events import MAX_HEADERS
from ._fast import SPAN, fields_of, plain_head, plain_match, response_wire
from ._streams import run_eagerly
from .messages import FileResponse, JSONResponse, RawHeaders, Request, Response

# Fast-path answers to pipelined requests are gathered into one write up to this
# size; then written, so a client that does not read is still stopped by the
# write high-water mark (``write_blocked``) after at most this much more.
FAST_BATCH = 64 * 1024
# Request fields a static file's answer depends on (besides Accept-Encoding): with any
# of them the StaticFiles handler decides.
_CONDITIONAL = re.compile(rb"\n(?:range|if-)")
# A FileResponse up to this size is the core's (``server.FILE_BLOCK``, which is this).
FILE_BLOCK = 64 * 1024
# Handler results turned into a Response before the fast path looks at them.
_CONVERTED = frozenset((dict, list, str, bytes, bytearray, type(None)))


class FastRequest(Request):
    """A Request the fast path made: its fields are parsed from the head's field block
    only if someone reads them (most handlers never do)."""

    __slots__ = ("_block", "_raw")

    def __init__(self, method: str, target: bytes, path: str, qs: bytes,
                 params: dict[str, Any], block: bytes, conn: Any) -> None:  # fmt: skip
        self.method = method
        self.target = target
        self.path = path
        self.query_string = qs
        self.http_version = "1.1"
        self._block = block
        self._raw: RawHeaders | None = None
        self.params = params.copy()
        self.body = b""
        self.peer = conn.peer
        self._headers = None
        self._query = None
        self._stream = None
        self._conn = conn

    @property  # type: ignore[override]
    def raw_headers(self) -> RawHeaders:
        raw = self._raw
        if raw is None:
            raw = self._raw = fields_of(self._block)
        return raw

    @raw_headers.setter
    def raw_headers(self, value: RawHeaders) -> None:
        self._raw = value


def file_wire(headers: RawHeaders, size: int) -> bytes:
    """A cached small file's status line, headers and length, as the fast path sends
    them before the Date tail; b"" if the core would frame or refuse them."""
    encoded = plain_head(200, headers)
    return b"" if encoded is None else encoded + b"content-length: %d\r\n" % size


class FastPath:
    """``HTTPSession``'s fast-path methods (they use its state and its slow path)."""

    # (declared by HTTPSession)
    app: Any
    conn: Any
    h: Any
    tail: Any
    task: Any
    owned: bool
    responding: bool
    write_blocked: bool
    fast_ready: bool
    started: float

    if TYPE_CHECKING:  # HTTPSession's methods, which the fast path calls

        def _log(self, req: Request, status: int, size: int) -> None: ...
        def _failed(self, route: Any, e: Exception) -> Response: ...
        def _to_response(self, result: Any) -> Response: ...
        def _answer(self, req: Request, result: Any) -> None: ...
        def _process(self) -> None: ...
        def _carry_on(self) -> None: ...
        def _task_done(self, task: asyncio.Task[None]) -> None: ...

    def _fast(self, data: bytes) -> bytes | None:
        """Answer the plain requests at the front of ``data`` (``_fast``'s rules) without
        the core's events; returns what is left for the core, None if all is handled.
        Whatever the fast path does not take, from its first byte on, goes to the core."""
        app, conn = self.app, self.conn
        routes, log = app.fast_routes, app.access_log
        clock = self.tail  # (``Tail.get``, inlined)
        now = time.time()
        if not clock.since <= now < clock.until:
            clock.refresh(now)
        tail = clock.value
        out: list[bytes] = []
        size = pos = 0
        n = len(data)
        # (``pos < n``: a regex call costs about 2k instructions even when it fails at once)
        while pos < n and not self.write_blocked:
            # (``_fast.scan_head``, inlined: a call less per request)
            m = plain_match(data, pos, pos + SPAN)
            if m is None:
                break  # not a plain GET/HEAD, or not all here yet: the core's
            method, target, block = m.groups()
            if len(block) > 4 * MAX_HEADERS and block.count(b"\n") > MAX_HEADERS + 1:
                break
            end = m.end()
            hit = routes.get((method, target))
            if hit is None:
                hit = app.fast_route(method, target)
                if hit is None:
                    break  # 404, 405: the core's path answers (the head is parsed again)
            route, params, path, qs, mstr, files = hit
            if route.is_async or route.stream:
                break
            if log:
                self.started = time.perf_counter()
            if files is not None:
                low = block.lower()
                if _CONDITIONAL.search(low) is None:
                    # A small static file, fresh in the cache, asked for with no condition.
                    f = files.cached(params["path"], low.find(b"\naccept-encoding:") >= 0)
                    if f is not None:
                        wire = f.wire
                        if wire is None:
                            wire = f.wire = file_wire(f.headers, f.size)
                        if wire:
                            pos = end
                            out.append(wire)
                            out.append(tail)
                            if method == b"GET":
                                out.append(f.body)  # type: ignore[arg-type]
                            if log:
                                req = FastRequest(mstr, target, path, qs, params, block, conn)
                                self._log(req, 200, f.size)
                            size += len(wire) + f.size
                            if size > FAST_BATCH:
                                conn.write(b"".join(out))
                                out, size = [], 0
                            continue
            req = FastRequest(mstr, target, path, qs, params, block, conn)
            pos = end
            try:
                result = route.handler(req)
            except Exception as e:
                result = self._failed(route, e)
            resp = self._to_response(result) if type(result) in _CONVERTED else result
            if type(resp) is Response or type(resp) is JSONResponse:
                body = resp.body
                w = resp._wire
                if w is not None and w[0] is body and w[1] is resp.status and w[2] == resp.headers:
                    wire = w[3]
                else:
                    wire = response_wire(resp)
            elif isinstance(resp, FileResponse) and resp.parts is None and resp.length > FILE_BLOCK:
                # (a smaller one the core reads and writes with its head, in the plain
                # answer's field order, or answers 500 if it cannot be read)
                encoded = plain_head(resp.status, resp.headers)
                if encoded is not None:  # a whole file or one range: head, then sendfile
                    # (in the order ``_send_streamed`` writes them: the length last)
                    file_head = b"%s%scontent-length: %d\r\n\r\n" % (encoded, tail[:-2], resp.length)
                    if method == b"HEAD":
                        out.append(file_head)
                        continue
                    if out:
                        conn.write(b"".join(out))
                        out, size = [], 0
                    if not self._fast_file(req, resp, file_head):
                        self.fast_ready = False
                        if pos < n:
                            self.h.receive_data(data[pos:])
                        return None  # a task sends it; then ``_carry_on`` parses the rest
                    continue
                wire = None
            else:
                wire = None
            if wire is None:  # the core frames this answer (a file, a stream, a 304...)
                if out:
                    conn.write(b"".join(out))
                self.fast_ready = False
                self._fast_to_core(req, method, result, data[pos:])
                return None
            out.append(wire)
            out.append(tail)
            if method == b"GET":
                out.append(body)
            if log:
                self._log(req, resp.status, len(body))
            size += len(wire) + len(body)
            if size > FAST_BATCH:
                conn.write(b"".join(out))
                out, size = [], 0
        if out:
            conn.write(b"".join(out))
        return data[pos:] if pos else data

    def _fast_file(self, req: Request, resp: FileResponse, head: bytes) -> bool:
        """Send a file after its head, here if the socket takes it at once (True: the
        caller goes on), else from a task (False: the connection is the task's)."""
        self.owned = self.responding = True
        task = run_eagerly(self._file_body(req, resp, head), self._carry_on)
        if task is None:
            return not self.owned
        self.task = task
        task.add_done_callback(self._task_done)
        return False

    async def _file_body(self, req: Request, resp: FileResponse, head: bytes) -> None:
        conn, sent = self.conn, 0
        try:
            with resp.open() as fd:
                conn.write(head)
                await conn.sendfile(fd, resp.offset, resp.length)
                sent = resp.length
        except asyncio.CancelledError:
            raise
        except (ConnectionClosed, ConnectionError):
            conn.log.debug("client went away during a file")
            conn.abort()
            return
        except Exception as e:
            conn.log.warning("file response broken off: %r", e)
            conn.abort()
            return
        finally:
            self.responding = False
            if self.app.access_log:
                self._log(req, resp.status, sent)
        self.owned = False
        conn.touch()

    def _fast_to_core(self, req: Request, method: bytes, result: Any, rest: bytes) -> None:
        """A fast-parsed request whose answer the core must frame: the core takes over
        as if it had parsed the request, with what followed it."""
        if rest:
            self.h.receive_data(rest)
        self.h.assume_request(method)
        self._answer(req, result)
        if not self.owned:
            self._process()
