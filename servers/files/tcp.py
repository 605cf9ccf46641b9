"""The raw TCP mode: one text line per command, then raw bytes. Driveable with nc.

Grammar (a line ends with LF, an optional CR before it is dropped; at most
``MAX_LINE`` bytes; fields are separated by one or more spaces)::

    PUT NAME SIZE [SHA256HEX]\\n  <SIZE bytes>     -> OK SHA256HEX\\n | ERR reason\\n
    STAT NAME\\n                                   -> HELD N\\n   (bytes of an unfinished upload)
    RESUME NAME SIZE OFFSET [SHA256HEX]\\n <SIZE-OFFSET bytes>   -> OK ... | ERR ...
    GET NAME\\n                                    -> OK SIZE\\n <SIZE bytes> | ERR reason\\n
    LIST\\n                                        -> OK N\\n then N lines "NAME SIZE"

Example: ``{ printf 'PUT a.txt 6\\n'; echo hello; } | nc -N 127.0.0.1 9094``.

An upload's bytes go to ``.partial/NAME.tcp``; if the connection drops, the file
stays there, ``STAT`` says how much arrived and ``RESUME`` appends the rest (the
hash is recomputed over the bytes kept). Only a whole upload with the right
digest is renamed into place. After an ``ERR`` that leaves the byte stream
unframed (a bad header, disk full, mid-upload failure) the server half-closes
and drops what else arrives: it cannot tell commands from payload any more.

This is a ``Session`` (netlib.shell's synchronous shape): bytes are written to
the file and hashed inside ``data_received``, no task per chunk; the shell's
read high-water mark is never reached, so memory stays one socket read.
"""

from __future__ import annotations

import asyncio
import logging
import os

from netlib.shell import Connection, Session

from .store import DigestMismatch, NameError_, StorageFull, Store, Upload

log = logging.getLogger("servers.files.tcp")

# A command line: a 255-byte name, two sizes and a 64-digit hex digest fit easily.
MAX_LINE = 1024
# Seconds a refused client's remaining bytes are read and dropped before we close.
LINGER_SECONDS = 2.0


class Refused(Exception):
    """A command the server answers with ERR."""


def _size(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise Refused(f"bad size {text[:32]!r}")
    return int(text)


def _hexdigest(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise Refused("digest must be 64 hex digits of sha-256")
    return raw


class TCPSession(Session):
    """One raw TCP connection: a command line, then maybe the upload's bytes."""

    def __init__(self, conn: Connection, store: Store, max_size: int) -> None:
        super().__init__(conn)
        self.store, self.max_size = store, max_size
        self.buf = bytearray()
        self.up: Upload | None = None
        self.left = 0  # payload bytes still to come for ``up``
        self.digest: bytes | None = None
        self.dead = False  # answered ERR mid-stream: drop input until the peer goes
        self.sending: asyncio.Task[None] | None = None

    # -- shell hooks -----------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.dead:
            return
        view = memoryview(data)
        if self.up is not None:
            view = self._payload(view)
        while view and not self.dead and self.sending is None:
            self.buf += view
            view = memoryview(b"")
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > MAX_LINE:
                    self._fail(f"command line longer than {MAX_LINE} bytes")
                return
            line = bytes(self.buf[:nl]).rstrip(b"\r")
            rest = memoryview(bytes(self.buf[nl + 1 :]))
            self.buf.clear()
            self._command(line)
            view = self._payload(rest) if self.up is not None else rest
        if view and not self.dead:  # arrived during a GET: keep it for afterwards
            self.buf += view

    def eof_received(self) -> bool:
        if self.up is not None:
            self._drop_upload("the client closed before the end of the upload")
        return self.sending is not None  # finish a GET to a half-closed client

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.up is not None:
            self._drop_upload("the connection was lost during the upload")
        if self.sending is not None:
            self.sending.cancel()

    def shutdown(self) -> None:
        if self.up is None and self.sending is None:
            self.conn.close()  # else: the upload finishes (within the grace period)

    def busy(self) -> bool:
        return self.sending is not None

    # -- commands ----------------------------------------------------------------
    def _command(self, line: bytes) -> None:
        try:
            words = line.decode("utf-8").split()
        except UnicodeDecodeError:
            self._fail("command line is not UTF-8")
            return
        if not words:
            return  # an empty line (nc's trailing newline): nothing asked
        verb, args = words[0].upper(), words[1:]
        handler = _COMMANDS.get(verb)
        try:
            if handler is None:
                raise Refused(f"unknown command {verb[:16]!r}")
            arity = _ARITY[verb]
            if not arity[0] <= len(args) <= arity[1]:
                raise Refused(f"usage: {_USAGE[verb]}")
            handler(self, args)
        except (Refused, NameError_, ValueError) as e:
            if verb in _NO_PAYLOAD:  # nothing follows the line: the stream is still framed
                self.conn.log.info("refused: %s", e)
                self.conn.write(f"ERR {e}\n".encode())
            else:
                self._fail(str(e) or "refused")

    def _put(self, args: list[str]) -> None:
        name, size = args[0], _size(args[1])
        self._start(name, size, 0, _hexdigest(args[2] if len(args) > 2 else None))

    def _resume(self, args: list[str]) -> None:
        name, size, offset = args[0], _size(args[1]), _size(args[2])
        if offset > size:
            raise Refused("offset past the size")
        self._start(name, size, offset, _hexdigest(args[3] if len(args) > 3 else None))

    def _start(self, name: str, size: int, offset: int, digest: bytes | None) -> None:
        self.store.path(name)  # NameError_ for a bad one
        if size > self.max_size:
            raise Refused(f"size over the limit of {self.max_size} bytes")
        if name in self.store.resuming:
            raise Refused(f"an upload of {name} is in progress on another connection")
        try:
            self.up = self.store.begin_resumable(name, size, offset)
        except OSError as e:
            raise Refused(f"cannot start the upload: {e.strerror}") from None
        self.store.resuming.add(name)
        self.left, self.digest = size - offset, digest
        self.conn.log.info("upload of %s: %d bytes from offset %d", name, size, offset)
        if not self.left:
            self._finish()

    def _stat(self, args: list[str]) -> None:
        self.conn.write(b"HELD %d\n" % self.store.held(args[0]))

    def _list(self, args: list[str]) -> None:
        rows = self.store.listing()
        lines = [f"{r['name']} {r['size']}\n".encode() for r in rows]
        self.conn.writelines([b"OK %d\n" % len(rows), *lines])

    def _get(self, args: list[str]) -> None:
        path = self.store.path(args[0])
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            raise Refused(f"no such file {args[0]}") from None
        size = os.fstat(fd).st_size
        self.conn.write(b"OK %d\n" % size)
        self.conn.pause_reading()
        self.sending = asyncio.get_running_loop().create_task(self._send(fd, size))

    async def _send(self, fd: int, size: int) -> None:
        try:
            await self.conn.sendfile(fd, 0, size)
        except Exception as e:  # the peer left mid-file
            self.conn.log.info("GET broken off: %r", e)
            self.conn.abort()
            return
        finally:
            os.close(fd)
            self.sending = None
        self.conn.resume_reading()
        if self.buf and not self.conn.closed:
            pending, self.buf = bytes(self.buf), bytearray()
            self.data_received(pending)

    # -- the payload ---------------------------------------------------------------
    def _payload(self, view: memoryview) -> memoryview:
        """Write what belongs to the upload; return what comes after it."""
        assert self.up is not None
        n = min(len(view), self.left)
        try:
            self.up.write(view[:n])
        except StorageFull as e:
            self._drop_upload(str(e), keep=False)
            self._fail(str(e))
            return memoryview(b"")
        except OSError as e:
            self._drop_upload(f"write failed: {e}", keep=False)
            self._fail(f"write failed: {e.strerror}")
            return memoryview(b"")
        self.left -= n
        if not self.left:
            self._finish()
        return view[n:]

    def _finish(self) -> None:
        up, self.up = self.up, None
        assert up is not None
        self.store.resuming.discard(up.name)
        try:
            stored = up.finish(self.digest)
        except DigestMismatch as e:
            self.conn.write(f"ERR digest mismatch: {e}\n".encode())
            return
        except OSError as e:
            up.discard()
            self.conn.write(f"ERR cannot store the file: {e.strerror}\n".encode())
            return
        self.conn.log.info("stored %s: %d bytes, sha256 %s", stored.name, stored.size, stored.sha256)
        self.conn.write(f"OK {stored.sha256}\n".encode())

    def _drop_upload(self, why: str, keep: bool = True) -> None:
        up, self.up = self.up, None
        assert up is not None
        self.store.resuming.discard(up.name)
        if keep:
            up.close()
            self.conn.log.info("%s: %d bytes of %s kept for RESUME", why, up.size, up.name)
        else:
            up.discard()

    def _fail(self, reason: str) -> None:
        """Answer ERR. Mid-stream (an upload's bytes may follow) the stream is lost:
        half-close and drop input for a while, so the answer is not destroyed by an RST."""
        self.conn.log.info("refused: %s", reason)
        self.conn.write(f"ERR {reason}\n".encode())
        self.dead = True
        self.buf.clear()
        self.conn.write_eof()
        self.conn.set_deadline(LINGER_SECONDS)


_COMMANDS = {"PUT": TCPSession._put, "RESUME": TCPSession._resume, "STAT": TCPSession._stat,
             "GET": TCPSession._get, "LIST": TCPSession._list}  # fmt: skip
_NO_PAYLOAD = frozenset(("STAT", "GET", "LIST"))
_ARITY = {"PUT": (2, 3), "RESUME": (3, 4), "STAT": (1, 1), "GET": (1, 1), "LIST": (0, 0)}
_USAGE = {"PUT": "PUT NAME SIZE [SHA256HEX]", "RESUME": "RESUME NAME SIZE OFFSET [SHA256HEX]",
          "STAT": "STAT NAME", "GET": "GET NAME", "LIST": "LIST"}  # fmt: skip
