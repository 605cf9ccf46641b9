"""One connection: parse every complete command, dispatch through the table, one write.

Strategy. This is the hot path, written the way Redis's own event loop works:
``data_received`` is called synchronously by the transport, feeds the RESP
parser, runs every complete command (pipelining), appends each reply to a
list, and hands the whole batch to the transport in *one* write. No task and
no await per command; the per-command work is one dict lookup, one arity
test and the handler call.

Replies for *this* client produced while it runs (a pub/sub message it
published to itself, a BLPOP answer) go through ``send``, which appends to the
current batch so bytes leave in order; outside a batch ``send`` writes at once.

A client that blocks (BLPOP) keeps its later commands in ``pending`` and
resumes them when unblocked. So does a client whose replies pile up unread:
a batch stops once it has produced ``OUTPUT_HIGH_WATER`` bytes, and while the
transport holds more than its high-water mark of unsent output the session
stops reading (the shell's ``pause_writing``/``resume_writing``), so a peer
that pipelines without reading costs bounded memory. (Redis keeps reading and
lets a normal client's output buffer grow without limit by default; we prefer
TCP's own backpressure.) A protocol error answers ``-ERR Protocol error``
after the replies to the commands before it, and closes only this connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from netlib.resp import ProtocolError, RequestParser
from netlib.shell import Connection, Session

from .blocking import Parked
from .eviction import OOM_ERROR
from .keyspace import WrongType
from .table import TABLE, WRONGTYPE, Command, CommandError, arity_error, unknown_command

if TYPE_CHECKING:
    from .server import State

log = logging.getLogger("servers.cache")

QUEUED = b"+QUEUED\r\n"
# Commands that run at once inside MULTI instead of being queued (Redis's list).
RUN_INSIDE_MULTI = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})
# Reply bytes one batch may produce before the rest of the pipeline waits for
# the next loop turn (or for the peer to read): a few MB, so 16k pipelined GETs
# of a 512 MB value cannot be answered into memory at once, yet typical
# pipelines (redis-benchmark -P 16, --pipe) still finish in one batch.
OUTPUT_HIGH_WATER = 1024 * 1024
SUBSCRIBE_MODE_ERROR = (
    "-ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
    "are allowed in this context\r\n"
)


class Client(Session):
    """A connected client's state and its session (the shell's synchronous handler)."""

    def __init__(self, state: State, conn: Connection) -> None:
        self.state = state
        self.conn = conn
        self.parser = RequestParser()
        self.db = state.keyspace.dbs[0]
        self.proto = 2
        self.id = state.new_client_id()
        self.name = b""
        self.lib: dict[str, bytes] = {}
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.subscribed = False  # RESP2 subscribe mode: only pub/sub commands allowed
        self.multi: list[list[bytes]] | None = None  # commands queued since MULTI
        self.multi_failed = False
        self.guarded = False  # subscribed or in MULTI: commands take the slow path
        self.in_exec = False  # inside EXEC blocking commands must not block
        self.watching: list[tuple[Any, bytes]] = []  # (database, key) pairs under WATCH
        self.watch_dirty = False  # one of them was written since WATCH: EXEC fails
        self.blocked: Parked | None = None
        self.pending: deque[list[bytes]] = deque()
        self.out: list[bytes] | None = None  # the reply batch while running commands
        self.write_paused = False  # the peer is not reading: run nothing more until it does
        self.closing = False
        state.clients[self.id] = self

    # -- the shell's Session protocol -------------------------------------------
    def data_received(self, data: bytes) -> None:
        p = self.parser
        p.feed(data)
        try:
            cmds = p.commands()
        except ProtocolError as e:
            self._protocol_error(e)
            return
        if self.blocked is not None or self.pending or self.write_paused:
            self.pending.extend(cmds)
        elif cmds:
            self.run(cmds)
        self._raise_parse_error()

    def pause_writing(self) -> None:
        """The transport holds more unsent output than its high-water mark (the shell
        has stopped reading): run nothing more until the peer drains it."""
        self.write_paused = True

    def resume_writing(self) -> None:
        """The peer drained our output: run what waited."""
        self.write_paused = False
        self._resume()

    def eof_received(self) -> None:
        pass  # the transport closes itself; connection_lost cleans up

    def connection_lost(self, exc: BaseException | None) -> None:
        st = self.state
        st.blocking.unpark(self)
        for ch in self.channels:
            st.hub.unsubscribe(self, ch)
        for pat in self.patterns:
            st.hub.punsubscribe(self, pat)
        self.channels.clear()
        self.patterns.clear()
        self.multi = None
        self.unwatch()
        st.clients.pop(self.id, None)

    def shutdown(self) -> None:
        """The server stops: an idle client is closed now (nothing is in flight)."""
        self.conn.close()

    # -- dispatch ------------------------------------------------------------------
    def run(self, cmds: list[list[bytes]]) -> None:
        """Execute commands in order, answering them all in one write."""
        out: list[bytes] = []
        self.out = out
        state = self.state
        evictor = state.evictor
        blocking = state.blocking
        done = 0
        size = 0
        for args in cmds:
            done += 1
            cmd = TABLE.get(args[0])
            if cmd is None:
                cmd = TABLE.get(args[0].lower())
                if cmd is None:
                    out.append(self._refuse(unknown_command(args)))
                    continue
            a = cmd.arity
            if (len(args) != a) if a > 0 else (len(args) < -a):
                out.append(self._refuse(arity_error(cmd.name)))
                continue
            if self.guarded:  # subscribe mode or MULTI: the slow path
                r = self._guard(cmd, args)
                if r is not None:
                    out.append(r)
                    continue
            if cmd.denyoom and evictor.maxmemory and not evictor.make_room():
                out.append(OOM_ERROR)
                continue
            try:
                r = cmd.fn(self, args)
            except CommandError as e:
                r = e.reply
            except WrongType:
                r = WRONGTYPE
            if r is not None:
                out.append(r)
                size += len(r)
                if size > OUTPUT_HIGH_WATER and done < len(cmds):
                    self._defer(cmds[done:])
                    break
            elif self.blocked is not None:
                self.pending.extend(cmds[done:])
                break
            if self.closing:
                break
            if blocking.ready:
                blocking.serve_ready()
        state.commands_processed += done
        self.out = None
        if out:
            self.conn.write(out[0] if len(out) == 1 else b"".join(out))
        if self.closing:
            self.conn.close()

    def _defer(self, rest: list[list[bytes]]) -> None:
        """Keep the rest of a pipeline for later: the next loop turn, unless the peer
        stops reading first (then ``resume_writing`` picks it up)."""
        self.pending.extendleft(reversed(rest))
        asyncio.get_running_loop().call_soon(self._resume)

    def _refuse(self, reply: bytes) -> bytes:
        if self.multi is not None:
            self.multi_failed = True  # EXEC will answer EXECABORT, as Redis does
        return reply

    def _guard(self, cmd: Command, args: list[bytes]) -> bytes | None:
        """The reply that replaces running ``cmd`` now (an error, +QUEUED), or None to run it."""
        if self.subscribed and not cmd.pubsub_ok:
            return SUBSCRIBE_MODE_ERROR.encode() % cmd.name.encode()
        if self.multi is not None and cmd.name not in RUN_INSIDE_MULTI:
            self.multi.append(args)
            return QUEUED
        return None

    def execute(self, args: list[bytes]) -> bytes:
        """Run one already-validated command outside the hot loop (EXEC)."""
        cmd = TABLE[args[0].lower()]
        if cmd.denyoom and self.state.evictor.maxmemory and not self.state.evictor.make_room():
            return OOM_ERROR
        try:
            r = cmd.fn(self, args)
        except CommandError as e:
            return e.reply
        except WrongType:
            return WRONGTYPE
        return r if r is not None else b"*-1\r\n"

    def watch(self, key: bytes) -> None:
        self.db.watchers.setdefault(key, set()).add(self)
        self.watching.append((self.db, key))

    def unwatch(self) -> None:
        for db, key in self.watching:
            clients = db.watchers.get(key)
            if clients is not None:
                clients.discard(self)
                if not clients:
                    del db.watchers[key]
        self.watching.clear()
        self.watch_dirty = False

    def update_guard(self) -> None:
        self.subscribed = self.proto == 2 and bool(self.channels or self.patterns)
        self.guarded = self.subscribed or self.multi is not None

    def send(self, data: bytes) -> None:
        """Bytes for this client from anywhere (pub/sub, unblocking), kept in order."""
        if self.out is not None:
            self.out.append(data)
        else:
            self.conn.write(data)

    def deliver(self, data: bytes) -> None:
        """A pub/sub message: sent, unless the subscriber stopped reading (then dropped).

        Redis's client-output-buffer-limit for pubsub clients: past the hard
        limit of unsent bytes the subscriber is disconnected, so one stalled
        reader cannot make the server buffer every message forever.
        """
        self.send(data)
        if self.conn.write_buffer_size() > self.state.pubsub_output_limit:
            self.conn.log.warning("closing: pub/sub output buffer over the limit")
            self.state.hub_dropped += 1
            self.conn.abort()

    # -- blocking ------------------------------------------------------------------
    def park(self, keys: list[bytes], left: bool, timeout: float) -> None:
        parked = Parked(self.db.index, keys, left)
        if timeout > 0:
            loop = asyncio.get_running_loop()
            parked.timer = loop.call_later(timeout, self._timed_out)
        self.state.blocking.park(self, parked)

    def unblock(self, reply: bytes) -> None:
        """Answer the blocked command and resume the commands that queued behind it."""
        self.send(reply)
        self._resume()

    def _timed_out(self) -> None:
        if self.blocked is not None:
            self.state.blocking.unpark(self)
            self.send(b"_\r\n" if self.proto == 3 else b"*-1\r\n")
            self._resume()

    def _resume(self) -> None:
        if self.pending and self.blocked is None and not self.write_paused and not self.conn.closed:
            cmds = list(self.pending)
            self.pending.clear()
            self.run(cmds)
        self._raise_parse_error()

    def _raise_parse_error(self) -> None:
        """Answer a parse error once every command before it has been answered."""
        if self.parser.error is None or self.pending or self.blocked is not None:
            return
        if self.conn.closed:
            return
        try:
            self.parser.commands()
        except ProtocolError as e:
            self._protocol_error(e)

    # -- errors --------------------------------------------------------------------
    def _protocol_error(self, e: ProtocolError) -> None:
        self.conn.log.info("protocol error: %s", e.message)
        self.send(e.reply)
        self.conn.close()

    def info_line(self) -> str:
        """One CLIENT LIST line."""
        return (
            f"id={self.id} addr={self.conn.peer} name={self.name.decode(errors='replace')} "
            f"db={self.db.index} sub={len(self.channels)} psub={len(self.patterns)} "
            f"resp={self.proto} flags={'b' if self.blocked else 'N'}"
        )
