"""One connection's session on the netlib shell, and ``serve``.

Strategy: the shell's synchronous session shape (as the cache uses):
``data_received`` feeds ``netlib.resp.RequestParser``, runs every complete
command (pipelining) through the table and writes the batch of replies at once.
Reads and writes run on the event loop: a Bitcask get is one dict lookup and
one pread, a put one write(2) (plus an fsync with ``--sync always``), short
enough not to need a thread. MERGE is the exception: it reads and rewrites
whole files, so it runs in a worker thread and this connection's later
commands wait for its reply (order is kept), while every other connection
goes on reading and writing; the engine's lock makes that safe.

Storage errors answer ``-ERR`` on the connection that hit them (a corrupt
record is reported, never returned); a protocol error answers and closes only
that connection.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator

from netlib import resp
from netlib.resp import NEED_DATA, ProtocolError, RequestParser
from netlib.shell import Connection, Server, ShellConfig, start
from netlib.shell import Session as ShellSession
from storage.bitcask import Bitcask, StorageError

from .commands import TABLE, arity_error, arity_ok, merge_reply, unknown

log = logging.getLogger("servers.bitcask")

_ids: Iterator[int] = itertools.count(1)


class Session(ShellSession):
    """A connected client: parser, protocol version, and the shared Bitcask."""

    def __init__(self, db: Bitcask, conn: Connection) -> None:
        self.db = db
        self.conn = conn
        self.parser = RequestParser()
        self.proto = 2
        self.id = next(_ids)
        self.name = b""
        self.closing = False
        self.waiting = False  # a MERGE of ours is running; later commands wait

    # -- netlib.shell.Session ------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        self._run()

    def eof_received(self) -> None:
        pass

    def connection_lost(self, exc: BaseException | None) -> None:
        pass

    def shutdown(self) -> None:
        """The server is stopping: close now unless a MERGE reply is still owed."""
        if not self.waiting:
            self.conn.close()

    # -- dispatch ------------------------------------------------------------------
    def _run(self) -> None:
        out: list[bytes] = []
        try:
            while not self.waiting and not self.closing:
                args = self.parser.next_command()
                if args is NEED_DATA:
                    break
                assert isinstance(args, list)
                reply = self.dispatch(args)
                if reply:
                    out.append(reply)
        except ProtocolError as e:
            out.append(e.reply)
            self.closing = True
        if out:
            self.conn.writelines(out)
        if self.closing:
            self.conn.close()

    def dispatch(self, args: list[bytes]) -> bytes:
        if not args:
            return b""
        cmd = TABLE.get(args[0].lower())
        if cmd is None:
            return unknown(args)
        if not arity_ok(cmd, len(args)):
            return arity_error(args[0].lower())
        try:
            return cmd.handler(self, args)
        except StorageError as e:
            self.conn.log.error("%s failed: %s", args[0].decode(errors="replace"), e)
            return resp.error(f"storage error: {e}")

    def start_merge(self) -> None:
        """Run the merge in a worker thread; reply and resume this connection when done."""
        self.waiting = True
        future = asyncio.get_running_loop().run_in_executor(None, self.db.merge)
        future.add_done_callback(self._merged)

    def _merged(self, future: asyncio.Future[dict[str, int]]) -> None:
        exc = future.exception()
        if exc is None:
            self.conn.write(merge_reply(future.result()))
        else:
            self.conn.log.error("merge failed: %s", exc)
            self.conn.write(resp.error(f"merge failed: {exc}"))
        self.waiting = False
        self._run()


async def serve(config: ShellConfig, db: Bitcask) -> Server:
    """Start serving ``db``; returns once listening (``server.port`` is the real port)."""
    return await start(config=config, session_factory=lambda conn: Session(db, conn))
