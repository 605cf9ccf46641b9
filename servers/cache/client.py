"""One cache connection: the respkit session plus what only the cache has.

The loop itself (parse every complete command, dispatch, one write per
batch, backpressure, answering later) is ``servers.respkit.session``. This
subclass adds the cache's per-connection state and its two slow paths,
taken only while ``guarded`` is set:

* MULTI: every command but EXEC/DISCARD/MULTI/WATCH/QUIT/RESET is queued and
  answered ``+QUEUED``; an unknown command or a wrong arity while queueing
  makes EXEC answer EXECABORT, as Redis does. Over maxmemory nothing is
  queued (-OOM) and an EXEC holding a write that may grow memory is aborted.
* RESP2 subscribe mode: only the commands flagged ``pubsub`` run.

It also owns blocking (a BLPOP parks the client with a timer; a push or the
timeout unblocks it) and the client-output-buffer-limit of its class (normal or pubsub).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from netlib.resp import ProtocolError
from netlib.shell import Connection
from servers.respkit import Command, Session

from .blocking import Parked
from .commands import acl, ops
from .memory import CLIENT_BYTES, client_buffers

if TYPE_CHECKING:
    from .server import State

QUEUED = b"+QUEUED\r\n"
# Unsent reply bytes a client that has not authenticated may have: past this it is
# disconnected (Redis's checkClientOutputBufferLimits), so that a client without the
# password cannot make the server buffer -NOAUTH replies it never reads. Redis counts
# its reply list, not its 16 kB static buffer: the replies of the batch being answered
# count past that much (a pipeline of a few hundred refusals is still answered).
UNAUTH_OUTPUT_LIMIT = 1024
REPLY_CHUNK = 16 * 1024
NOT_IN_MULTI = b"-ERR Command not allowed inside a transaction\r\n"  # Redis's no_multi flag
# Commands that run at once inside MULTI instead of being queued (Redis's list).
RUN_INSIDE_MULTI = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})
# Their confirmations are pushes: sent under CLIENT REPLY OFF or SKIP, in RESP2 too.
SUBSCRIBING = frozenset({"subscribe", "psubscribe", "ssubscribe", "unsubscribe",
                         "punsubscribe", "sunsubscribe"})  # fmt: skip
SUBSCRIBE_MODE_ERROR = (
    "-ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
    "are allowed in this context\r\n"
)


class Client(Session):
    """A connected cache client."""

    state: State

    def __init__(self, state: State, conn: Connection) -> None:
        super().__init__(state, conn)
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_channels: set[bytes] = set()  # SSUBSCRIBE
        self.multi: list[list[bytes]] | None = None  # commands queued since MULTI
        self.multi_failed = False
        self.in_exec = False  # inside EXEC blocking commands must not block
        self.exec_size = 0  # inside EXEC: how many commands it runs (CLIENT LIST's multi=)
        self.watching: list[tuple[Any, bytes]] = []  # (database, key) pairs under WATCH
        self.watch_dirty = False  # one of them was written since WATCH: EXEC fails
        self.user: Any = None  # the ACL user (servers.cache.acl.User) set by fresh_login
        self.monitoring = False  # MONITOR
        self.no_evict = False  # CLIENT NO-EVICT (recorded; the cache never evicts clients)
        self.reply_mode = b"ON"  # CLIENT REPLY: ON, OFF (no replies) or SKIP (not the next one)
        self.silencing = False  # ``_silenced`` is running a command whose reply it drops
        self.soft_since: float | None = None  # over its class's soft output limit since
        self.restricted = False  # not logged in, or a user with limits: ACL checks each command
        self.in_script = False  # True only on scripting.ScriptClient (redis.call's client)
        # ``logged_in`` (the kit's): AUTH, HELLO AUTH, or the default user had no password
        # at connection: Redis's c->authenticated. ``authenticated`` says whether it may run
        # commands now (``acl.open_door``).
        self.logged_in = False
        # The reply about to be observed is a script's error already counted in errorstats
        # where redis.call met it (set by scripting.Engine, cleared by the Observer).
        self.error_counted = False
        acl.fresh_login(self)
        if state.limits_output:  # the normal class's limit, not TCP backpressure, bounds it
            self.limit_output(True)
            conn.set_write_high_water(max(state.output_limits["normal"][:2]))

    # -- the kit's hooks -------------------------------------------------------------
    def guard(self, cmd: Command, args: list[bytes]) -> bytes | None:
        """The reply that replaces running ``cmd`` now (an error, +QUEUED), or None to run it."""
        if self.reply_mode == b"ON":
            return self._guard(cmd, args)
        return self._silenced(cmd, args)

    def _unauth_output_over(self, refused: bytes) -> bool:
        """Unsent bytes (the transport's, and this batch's replies so far, each about as
        long as this refusal) past what Redis lets an unauthenticated client have."""
        batch = len(self.out) * len(refused) if self.out else 0
        unsent = self.conn.write_buffer_size() + max(0, batch - REPLY_CHUNK)
        return unsent > UNAUTH_OUTPUT_LIMIT

    def _silenced(self, cmd: Command, args: list[bytes]) -> bytes | None:
        """CLIENT REPLY OFF or SKIP: ``cmd`` runs here and its reply is dropped (SKIP: this
        once). Pushes (subscribe confirmations, in RESP2 too) still go out, as in Redis; CLIENT REPLY
        itself and a command that may block run in the loop (a blocked reply is sent later).
        RESET turns replies on before it answers (Redis clears the OFF flag, not the skip of
        the current command): under OFF it runs in the loop and its +RESET goes out."""
        if (
            "blocking" in cmd.flags
            or (cmd.name == "client" and len(args) > 1 and args[1].lower() == b"reply")
            or (cmd.name == "reset" and self.reply_mode == b"OFF")
        ):
            return self._guard(cmd, args)
        self.silencing = True
        try:
            r = self._guard(cmd, args)
            if r is None:
                r = self.call(args)
        finally:
            self.silencing = False
        self._skipped()
        if r and (r[:1] == b">" or (cmd.name in SUBSCRIBING and r[:1] == b"*")):
            return r  # (RESP2's confirmations are pushes too: Redis's CLIENT_PUSHING)
        return b""

    def _skipped(self) -> None:
        if self.reply_mode == b"SKIP":
            self.reply_mode = b"ON"
            self.update_guard()

    def _guard(self, cmd: Command, args: list[bytes]) -> bytes | None:
        if self.restricted:
            refused = acl.permission(self, cmd, args)
            if refused is not None:
                if cmd.name == "exec":  # NOAUTH/NOPERM on EXEC itself: in MULTI or not
                    return self._abort_exec(cmd, refused)
                self.state.observer.rejected(cmd.called(args), refused)
                if not self.authenticated and self._unauth_output_over(refused):
                    self.conn.log.warning("closing: unauthenticated client not reading its replies")
                    self.conn.abort()
                return self.reject(refused)
        if self.monitoring:
            refused = ops.monitor_refusal(cmd)
            if refused is not None:
                if refused:  # (MONITOR again is not a rejected call: it answers nothing)
                    self.state.observer.rejected(cmd.called(args), refused)
                    refused = self.reject(refused)
                return refused
        busy = self.state.busy_script
        if busy is not None and busy.caller is not self:
            refused = busy.refuse(cmd, args)  # a timed-out script: -BUSY but for SCRIPT KILL & co
            if refused is not None:
                if cmd.name == "exec":
                    return self._abort_exec(cmd, refused)
                if self.multi is not None:  # refused while queueing: EXEC aborts, as Redis
                    self.multi_failed = True
                return refused
        if self.state.misconf is not None:
            refused = self._misconf(cmd, args, self.state.misconf)
            if refused is not None:
                return refused
        if self.state.min_replicas_to_write and "write" in cmd.called(args).flags:
            refused = self.state.admit_replicated_write()
            if refused is not None:
                return self.reject(refused)
        if self.state.pause is not None:
            hold = ops.held(self, cmd, args)
            if hold is not None:
                return hold
        if self.subscribed and not cmd.pubsub_ok:
            refused = SUBSCRIBE_MODE_ERROR.encode() % cmd.name.encode()
            return self._abort_exec(cmd, refused) if cmd.name == "exec" else refused
        if self.multi is not None:
            if self.state.evictor.maxmemory:
                refused = self._multi_oom(cmd, args)
                if refused is not None:
                    return refused
            if "no_multi" in cmd.flags:
                return self.refused(cmd, NOT_IN_MULTI)
            if cmd.name not in RUN_INSIDE_MULTI:
                self.multi.append(args)
                return QUEUED
        return None

    def _misconf(self, cmd: Command, args: list[bytes], misconf: bytes) -> bytes | None:
        """The AOF cannot be written: a write command, PING, or an EXEC of writes is
        refused with -MISCONF (EXEC discards its transaction: EXECABORT), as Redis does."""
        if cmd.name == "exec" and self.multi is not None:  # writes queued before the error
            if not any(self._writes(q) for q in self.multi):
                return None
            return self._abort_exec(cmd, misconf)
        if "write" in cmd.called(args).flags or cmd.name == "ping":
            self.state.observer.rejected(cmd.called(args), misconf)
            return self.reject(misconf)
        return None

    def _writes(self, args: list[bytes]) -> bool:
        """A queued call writes (its subcommand's flags: XGROUP CREATE, FUNCTION FLUSH)."""
        cmd = self.state.registry.get(args[0])
        return cmd is not None and "write" in cmd.called(args).flags

    def _multi_oom(self, cmd: Command, args: list[bytes]) -> bytes | None:
        """Over maxmemory Redis queues nothing (a queue may grow without bound) and aborts
        an EXEC whose queue holds a command that may grow memory; DISCARD, QUIT and RESET
        always run."""
        if cmd.name in ("discard", "quit", "reset"):
            return None
        assert self.multi is not None
        if cmd.name == "exec" and not any(map(self._denyoom, self.multi)):
            return None
        refused = self.state.admit_write()
        if refused is None:
            return None
        if cmd.name != "exec":
            return self.refused(cmd.called(args), refused)  # (xgroup|create's row)
        return self._abort_exec(cmd, refused)

    def _abort_exec(self, cmd: Command, refused: bytes) -> bytes:
        """EXEC refused before it ran: Redis (rejectCommand -> execCommandAbort) discards the
        transaction and unwatches, and the error is EXECABORT's "because of: <refused>"
        (a refusal Redis formats itself, arity or subscribe mode, carries no ERR code)."""
        self.multi = None
        self.unwatch()
        self.update_guard()
        self.state.observer.rejected(cmd, refused)
        why = refused[5:] if refused.startswith(b"-ERR ") else refused[1:]
        return self.reject(b"-EXECABORT Transaction discarded because of: " + why)

    def _denyoom(self, args: list[bytes]) -> bool:
        cmd = self.state.registry.get(args[0])
        if cmd is None:
            return False
        return bool(cmd.called(args).denyoom)

    def _protocol_error(self, e: ProtocolError) -> None:
        """Redis answers a protocol error by addReplyError too: counted in errorstats."""
        self.state.observer.count_error(e.reply)
        super()._protocol_error(e)

    def reject(self, reply: bytes) -> bytes:
        if reply is not QUEUED:
            self.state.observer.count_error(reply)
        if self.multi is not None:
            self.multi_failed = True  # EXEC will answer EXECABORT, as Redis does
        if self.reply_mode != b"ON" and not self.silencing:
            # Refused before the guard (an unknown command, a wrong arity): under CLIENT
            # REPLY OFF or SKIP Redis drops that error as any reply (still counted).
            self._skipped()
            return b""
        return reply

    def reject_arity(self, cmd: Command, reply: bytes) -> bytes:
        if cmd.name == "exec":  # EXEC with arguments: aborted like any EXEC refused
            return self._abort_exec(cmd, reply)
        return self.refused(cmd, reply)

    def refused(self, cmd: Command, reply: bytes) -> bytes:
        """-OOM or a wrong arity before ``cmd`` ran: a rejected call and an error reply, as
        Redis counts them."""
        self.state.observer.rejected(cmd, reply)
        return self.reject(reply)

    def on_reset(self) -> None:
        ops.forget(self)
        self.reply_mode = b"ON"  # (before fresh_login's update_guard)
        acl.fresh_login(self)
        self._leave_pubsub()
        self.multi = None
        self.unwatch()

    def protocol_changed(self) -> None:
        self.update_guard()

    def closed(self) -> None:
        self.state.over_soft.discard(self)
        ops.forget(self)
        self.state.blocking.unpark(self)
        self._leave_pubsub()
        self.multi = None
        self.unwatch()

    def info_fields(self, running: list[bytes] | None = None) -> dict[str, Any]:
        """Redis 7.0's CLIENT LIST fields in its order (7.2's lib-name/lib-ver last). While a
        command runs Redis still holds it in the query buffer: ``running`` counts there."""
        base = super().info_fields(running)
        query = self.parser.buffered() + self.queued
        argv = 0
        if running is not None:
            argv = sum(len(x) for x in running)
            query += len(b"*%d\r\n" % len(running)) + sum(
                len(b"$%d\r\n" % len(x)) + len(x) + 2 for x in running
            )
        multi = len(self.multi) if self.multi is not None else -1
        if self.in_exec:  # (Redis's CLIENT_MULTI lasts until EXEC has run the queue)
            multi = self.exec_size
        flags = "".join(
            f
            for f, on in (
                ("O", self.monitoring),
                ("P", self.channels or self.patterns or self.shard_channels),  # RESP3 too
                ("x", multi >= 0),
                ("b", self.blocked is not None),
                ("d", self.watch_dirty),
                ("e", self.no_evict),
            )
            if on
        )  # (each flag Redis's catClientInfoString would show, in its order)
        omem = client_buffers(self) - self.parser.buffered() - self.queued
        fields: dict[str, Any] = {
            "id": base["id"], "addr": base["addr"], "laddr": base["laddr"],
            "fd": -1,  # (netlib's Connection does not expose its socket)
            "name": base["name"], "age": base["age"], "idle": base["idle"], "flags": flags or "N",
            "db": base["db"], "sub": len(self.channels), "psub": len(self.patterns),
            "ssub": len(self.shard_channels),
            "multi": multi, "qbuf": query, "qbuf-free": 0, "argv-mem": argv,
            "multi-mem": sum(sum(len(x) for x in q) for q in self.multi or ()),
            "rbs": 1024, "rbp": 0, "obl": 0, "oll": 0, "omem": omem,
            "tot-mem": CLIENT_BYTES + client_buffers(self),  # its share of used_memory
            "events": "r", "cmd": base["cmd"], "user": base["user"], "redir": -1,
            "resp": base["resp"], "lib-name": base["lib-name"], "lib-ver": base["lib-ver"],
        }  # fmt: skip
        return fields

    def client_type(self) -> bytes:
        return b"pubsub" if self.channels or self.patterns or self.shard_channels else b"normal"

    def _leave_pubsub(self) -> None:
        hub = self.state.hub
        for ch in self.channels:
            hub.unsubscribe(self, ch)
        for pat in self.patterns:
            hub.punsubscribe(self, pat)
        for ch in self.shard_channels:
            hub.sunsubscribe(self, ch)
        self.channels.clear()
        self.patterns.clear()
        self.shard_channels.clear()
        self.update_guard()

    # -- transactions ---------------------------------------------------------------
    def execute(self, args: list[bytes]) -> bytes:
        """Run one queued command inside EXEC (a blocking one answers as if timed out).
        The user's permissions are asked again: they may have changed since it was queued
        (Redis's execCommand re-checks each command, refusing it alone)."""
        if self.restricted:
            refused = acl.recheck(self, args)
            if refused is not None:
                return refused
        r = self.call(args)
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
        self.subscribed = self.proto == 2 and bool(
            self.channels or self.patterns or self.shard_channels
        )
        self.restricted = not self.authenticated or not self.user.unrestricted
        self.guarded = (
            self.subscribed
            or self.monitoring
            or self.reply_mode != b"ON"
            or self.multi is not None
            or self.restricted
            or self.state.pause is not None
            or self.state.busy_script is not None
            or self.state.min_replicas_to_write > 0
            or self.state.misconf is not None
        )

    def resume(self) -> None:
        """Run what waited in ``pending`` (CLIENT UNPAUSE)."""
        self._resume()

    # -- output buffer limits ----------------------------------------------------------
    def deliver(self, data: bytes) -> None:
        """A pub/sub message: sent, unless the subscriber stopped reading (then dropped).

        Redis's client-output-buffer-limit for pubsub clients: past the hard
        limit of unsent bytes the subscriber is disconnected, so one stalled
        reader cannot make the server buffer every message forever.
        """
        self.send(data)
        self.check_output()

    def output_over(self, size: int) -> bool:
        """The kit asks before each batch while a limit for normal clients is set
        (``limit_output``, ``State.limits_output``): disconnected, nothing of the batch written, when it
        would take the client past its class's limit, as Redis closes a client whose
        replies pile up (a single huge reply, or a pipeline whose replies go unread)."""
        return self.check_output(size)

    def output_room(self) -> int | None:
        """Bytes this client may still be sent before its class's hard output limit (None:
        it has none): a command whose reply could be huge looks at it as it goes."""
        hard = self.state.output_limits[self.client_type().decode()][0]
        return hard - self.conn.write_buffer_size() if hard else None

    def check_output(self, adding: int = 0) -> bool:
        """Redis's client-output-buffer-limit of this client's class (normal or pubsub) on
        what is unsent now plus ``adding`` bytes about to be written: past the hard limit,
        or past the soft one for longer than its seconds, the client is disconnected
        (True). A client over the soft limit is also checked by the cron
        (``State.over_soft``), as Redis's clientsCron does: it is cut when its time is up
        even if nothing more is written to it."""
        if self.conn.closed:
            return True
        unsent = self.conn.write_buffer_size() + adding
        kind = self.client_type().decode()
        hard, soft, seconds = self.state.output_limits[kind]
        over = 0 < hard <= unsent
        if soft and unsent >= soft and not over:
            now = time.monotonic()
            if self.soft_since is None:
                self.soft_since = now
                self.state.over_soft.add(self)
            over = now - self.soft_since > seconds
        elif unsent < soft or not soft:
            self.soft_since = None
            self.state.over_soft.discard(self)
        if over:
            self.state.over_soft.discard(self)
            self.conn.log.warning(
                "closing: %s output buffer over the limit (%d bytes)", kind, unsent
            )
            if kind == "pubsub":
                self.state.hub_dropped += 1
            self.closing = True  # nothing more is run or written for it
            self.pending.clear()
            self.conn.abort()
        return over

    # -- blocking ------------------------------------------------------------------
    def park(self, keys: list[bytes], left: bool, timeout: float, serve: Any = None) -> None:
        """Block on ``keys``; ``serve`` (blocking.Parked.serve) answers when one has data."""
        parked = Parked(self.db.index, keys, left, serve=serve)
        if timeout > 0:
            loop = asyncio.get_running_loop()
            parked.timer = loop.call_later(timeout, self._timed_out)
        self.state.blocking.park(self, parked)

    def unblock(self, reply: bytes) -> None:
        """A blocked command's late answer; an error counts as its failure (INFO
        commandstats/errorstats), as Redis's updateStatsOnUnblock does."""
        if reply[:1] == b"-":
            observer = self.state.observer
            st = observer.commands.get(self.last_command)
            if st is not None:
                st.failed += 1
            if self.error_counted:
                self.error_counted = False
            else:
                observer.count_error(reply)
        self.state.observer.unblocked(self, getattr(self, "blocked_args", None))
        super().unblock(reply)

    def _timed_out(self) -> None:
        if self.blocked is not None:
            self.state.blocking.unpark(self)
            self.unblock(b"_\r\n" if self.proto == 3 else b"*-1\r\n")
