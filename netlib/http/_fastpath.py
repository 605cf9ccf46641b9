"""The fast path of ``HTTPSession`` (a mixin of it): whole plain GET/HEAD requests
answered without the core's events.

Strategy. When a read arrives between requests, with nothing buffered and no
timer or policy running (``HTTPSession.data_received`` checks), each complete
head at the front of it that ``_fast.simple_head`` accepts is routed, its sync
handler called inline, and a plain answer (``Response``/``JSONResponse``, or a
whole file by ``os.sendfile``) written from cached pieces; the answers to
pipelined requests go out in one write (up to ``FAST_BATCH``). The first request
the fast path does not take, from its first byte on, is fed to the core and the
session carries on as ever (``_process``); an answer the core must frame (a
stream, a 304, a handler's own Content-Length...) is given to it with
``assume_request``, as if the core had parsed the request itself. The tests
compare both paths byte for byte (``tests/test_http_fastpath.py``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from netlib.shell import ConnectionClosed

from ._fast import _MISSING, _heads, plain_head, simple_head
from ._streams import run_eagerly
from .messages import FileResponse, HTTPError, JSONResponse, Request, Response

# Fast-path answers to pipelined requests are gathered into one write up to this
# size; then written, so a client that does not read is still stopped by the
# write high-water mark (``write_blocked``) after at most this much more.
FAST_BATCH = 64 * 1024
# A FileResponse up to this size is the core's (``server.FILE_BLOCK``, which is this).
FILE_BLOCK = 64 * 1024
# Handler results turned into a Response before the fast path looks at them.
_CONVERTED = frozenset((dict, list, str, bytes, bytearray, type(None)))


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
    started: float

    def _fast(self, data: bytes) -> bytes | None:
        """Answer the plain requests at the front of ``data`` (``_fast``'s rules) without
        the core's events; returns what is left for the core, None if all is handled.
        Whatever the fast path does not take, from its first byte on, goes to the core."""
        app, conn = self.app, self.conn
        tail = self.tail.get()
        out: list[bytes] = []
        size = pos = 0
        while not self.write_blocked:
            end = data.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            head = simple_head(data, pos, end)
            if head is None:
                break
            method, target, headers = head
            if app.access_log:
                self.started = time.perf_counter()
            req = Request(method.decode("latin-1"), target, headers, "1.1", conn.peer, conn)
            try:
                route, req.params = app.match(req.method, req.path)
            except HTTPError:
                break  # 404, 405: the core's path answers (the head is parsed again)
            if route.is_async or route.stream:
                break
            pos = end + 4
            try:
                result = route.handler(req)
            except Exception as e:
                result = self._failed(route, e)
            resp = self._to_response(result) if type(result) in _CONVERTED else result
            if type(resp) is Response or type(resp) is JSONResponse:
                encoded = _heads.get((resp.status, tuple(resp.headers)), _MISSING)
                if encoded is _MISSING:
                    encoded = plain_head(resp.status, resp.headers)
            elif isinstance(resp, FileResponse) and resp.parts is None and resp.length > FILE_BLOCK:
                # (a smaller one the core reads and writes with its head, in the plain
                # answer's field order, or answers 500 if it cannot be read)
                encoded = plain_head(resp.status, resp.headers)
                if encoded is not None:  # a whole file or one range: head, then sendfile
                    # (in the order ``_send_streamed`` writes them: the length last)
                    head = b"%s%scontent-length: %d\r\n\r\n" % (encoded, tail[:-2], resp.length)
                    if method == b"HEAD":
                        out.append(head)
                        continue
                    if out:
                        conn.write(b"".join(out))
                        out, size = [], 0
                    if not self._fast_file(req, resp, head):
                        if pos < len(data):
                            self.h.receive_data(data[pos:])
                        return None  # a task sends it; then ``_carry_on`` parses the rest
                    continue
            else:
                encoded = None
            if encoded is None:  # the core frames this answer (a file, a stream, a 304...)
                if out:
                    conn.write(b"".join(out))
                return self._fast_to_core(req, method, result, data[pos:])
            body = resp.body
            n = len(body)
            piece = b"%scontent-length: %d\r\n%s" % (encoded, n, tail)
            out.append(piece if method == b"HEAD" else piece + body)
            if app.access_log:
                self._log(req, resp.status, n)
            size += len(piece) + n
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
