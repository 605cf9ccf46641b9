"""One connection of a RESP server: parse every complete command, dispatch, one write.

Strategy. This is the hot path, written the way Redis's own event loop works:
``data_received`` is called synchronously by the netlib shell, feeds the RESP
parser, runs every complete command (pipelining), appends each reply to a
list, and hands the whole batch to the transport in *one* write. No task and
no await per command; the per-command work is one dict lookup, one arity
test and the handler call.

A read that is exactly one command (an unpipelined client: one request per
round trip, the commonest read of all) is recognised first, by the parser's
``take_one`` (no grid probe, no list of commands), and takes ``run_one``: the
same steps for one call without the batch's bookkeeping (no reply list, no
run of calls to count, the reply written as it is), with the policy read from
``state.policy_now`` (kept until the server says it changed) rather than
asked for, one clock reading shared by ``last_active`` and the start of the
call, and the call added to its statistics row (``state.call_rows``) in place.
In Python the fixed cost of a request, not the command, is most of it: per
unpipelined SET about 25.6k instructions (callgrind, the server process under
redis-benchmark -c 50; 32.5k before ``take_one`` and the in-place count;
redis-server 5.6k), of which the handler and ``Database.put`` are about 5k;
the rest is uvloop's callback and the shell, the parse (one ``split``), the
dispatch, the clock and the write.

Replies for *this* session produced while it runs (a pub/sub message it
published to itself, a BLPOP answer) go through ``send``, which appends to
the current batch so bytes leave in order; outside a batch ``send`` writes.

A handler that returns None has arranged to answer later (``blocked`` is
set: a BLPOP waiting for a push, ``answer_in_thread`` running a merge); the
session keeps its later commands in ``pending`` and runs them after
``unblock``. So does a session whose replies pile up unread: a batch stops
once it has produced ``OUTPUT_HIGH_WATER`` bytes (the rest runs in the next
loop turn, and nothing more is read before it), and while the transport
holds more than its high-water mark of unsent output the session stops
reading (the shell's ``pause_writing``/``resume_writing``), so a peer that
pipelines without reading costs bounded memory. (Redis keeps reading and lets
a normal client's output buffer grow without limit by default; we prefer
TCP's own backpressure.) A server may bound that output itself instead
(``limit_output``: the cache's client-output-buffer-limit for normal clients,
which disconnects as Redis does): then ``output_over`` is asked once per
batch, before it is written, never per command. A protocol error answers
``-ERR Protocol error`` after the replies to the commands before it and closes
only this connection;
QUIT answers +OK and nothing after it runs. Until a client has authenticated
(``set_authenticated``, on a server with users) its parser applies Redis's
stricter limits; an AUTH followed by a big command in the same read parks the
parser at the refused header, and once the AUTH succeeded the rest is parsed
under the normal limits (``_raise_parse_error``), so the order is Redis's.

Hooks for a server's own session (subclass ``Session``): ``guard`` (runs
before every command while ``guarded`` is true: MULTI queueing, subscribe
mode, ACL checks; returning ``HOLD`` keeps that command and the rest of the
pipeline in ``pending`` until ``unblock``: CLIENT PAUSE), ``reject`` (an
unknown command: MULTI marks the transaction failed), ``refused`` (a known
command refused before it ran: a wrong arity, a write refused by the state's
``admit_write``: out of memory), ``on_reset`` (RESET), ``protocol_changed``
(HELLO), ``info_fields`` (CLIENT LIST), ``closed`` (the connection is gone).

A command may also have a ``many`` handler (``registry.RunHandler``): while
nothing needs to see single calls, a run of plain calls of it in a pipeline
(SET after SET) is executed by one call of it and counted once. A read that is
nothing but calls of one layout (``redis-benchmark -P 16``: 16 SETs with keys
and values of the same lengths) does not even become argument lists: the
parser's ``take_grid`` cuts its arguments into columns (one ``Struct``
unpack) and checks the read is theirs (packed back with the framing), and ``run_grid`` hands them to the command's ``columns`` handler
(servers/cache/runs.py), one call for the whole read (RUN_MAX rows at a time,
each timed as a run is). Per pipelined SET the server process runs about 4.7k
instructions this way against 13.8k through the batch loop (callgrind under
redis-benchmark -P 16; redis-server: 4.65k).

A log of the writes (the cache's AOF) is the one observer that does not need
single calls: ``policy()`` names it as the ``RunLog`` while nothing else looks
(no MONITOR, no threshold under 1 ms, no maxmemory), and runs and grids of the
commands it lists (``RunLog.runs``: those it logs as sent) are still taken;
what they ran is handed to it in one go right after, before the next call runs
(``log_calls``; a grid's rows as they arrived, ``log_wire``), and the replies
wait for ``sync`` as any batch's (``held`` under appendfsync always).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from time import monotonic, perf_counter
from typing import TYPE_CHECKING, Any

from netlib import resp
from netlib.resp import ProtocolError, RequestParser, encode_command, unauthenticated_refusal
from netlib.shell import Connection
from netlib.shell import Session as ShellSession

from .errors import CommandError, Refused, arity_error, unknown_command

if TYPE_CHECKING:
    from .registry import Command
    from .state import ServerState

# Reply bytes one batch may produce before the rest of the pipeline waits for
# the next loop turn (or for the peer to read): a few MB, so 16k pipelined GETs
# of a 512 MB value cannot be answered into memory at once, yet typical
# pipelines (redis-benchmark -P 16, --pipe) still finish in one batch.
OUTPUT_HIGH_WATER = 1024 * 1024
# A run of calls (``Command.many``) is timed as a whole, so runs are taken only while
# no threshold a single call could cross (slow log, latency monitor) is below 1 ms, and
# a run is at most RUN_MAX calls: a few hundred microseconds at worst, so a run slower
# than the threshold means the process was stalled (then its last call is charged). A
# grid (``run_grid``) is cut so too: a read of 32 KB holds up to 1900 calls.
RUN_MIN_ABOVE = 0.001
RUN_MAX = 256
# After a run stopped at a call of its command it could not take (an error to answer:
# INCR of a string, GET of a list), the next RUN_CALM calls go one by one: a run handler
# looks at up to RUN_MAX calls before it finds where it stops, so a pipeline of such
# calls tried as runs call after call would cost ten times the ordinary path.
RUN_CALM = 32
# Seconds a peer refused for a protocol error may go on sending before we close.
# Closing with its bytes still unread would make the kernel send a reset, and the
# peer would lose our error reply with it; so we half-close (FIN after the
# error) and discard what still arrives, for at most this long.
LINGER = 5.0
# Bytes of commands a session may queue while it waits (blocked, or answering
# from a thread) before it is disconnected, as Redis closes a client past its
# client-query-buffer-limit (1 GB there). Lower here: a parsed command costs a
# Python list and bytes objects, several times its wire size.
MAX_QUEUED = 128 * 1024 * 1024
# What ``guard`` returns to hold a command and everything after it until ``unblock``
# (CLIENT PAUSE): a unique object, compared by identity.
HOLD = bytes(bytearray(b"hold"))
# ``blocked`` while a RESET that logged the client out ends its batch (``end_batch_after_logout``).
LOGGED_OUT = "logged out"


class Session(ShellSession):
    """A connected client's state and its session (the shell's synchronous handler)."""

    linger = LINGER  # seconds a peer refused for a protocol error may go on sending
    max_queued = MAX_QUEUED  # bytes of commands queued while waiting, before disconnecting

    def __init__(self, state: ServerState, conn: Connection) -> None:
        super().__init__(conn)
        self.state = state
        self.table = state.registry.table
        self.parser = RequestParser()
        self.db: Any = state.database(0)
        self.db_index = 0
        self.proto = 2
        self.id = state.new_client_id()
        self.name = b""
        self.lib: dict[str, bytes] = {}
        self.subscribed = False  # RESP2 subscribe mode (PING answers an array)
        self.guarded = False  # ``guard`` runs before every command
        self.blocked: Any = None  # why this session waits for an answer (None: it does not)
        self.working = False  # a reply is being computed off the loop: shutdown waits for it
        self.pending: deque[list[bytes]] = deque()
        self.queued = 0  # bytes received into ``pending`` since it was last run
        self.out: list[bytes] | None = None  # the reply batch while running commands
        # Replies waiting for the server's log to be durable (``release`` writes them):
        # the cache's appendfsync always, one fsync for every session of a loop turn.
        self.held: list[bytes] | None = None
        self.write_paused = False  # the peer is not reading: run nothing more until it does
        self.closing = False  # QUIT: close once the batch is written
        self.write_out = conn.write  # where a batch's bytes go (``limit_output`` swaps it)
        self.created = time.monotonic()
        self.last_active = self.created
        self.last_command = ""
        self.authenticated = True  # a server with users starts it False (the cache's ACL)
        self.logged_in = True  # authenticated by a login, not only let in (HELLO asks this)
        # Commands at the head of ``pending`` parsed under the normal limits although the
        # client has logged out since (``end_batch_after_logout``).
        self.parsed_ahead = 0
        self.pipelining = False  # the last read was a grid (``data_received`` tries it first)
        self.calling = False  # ``call`` is running a command (not the loop)
        self.user_name = "default"
        state.clients[self.id] = self

    # -- the shell's Session protocol -------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # after QUIT or a protocol error nothing more is read
        if not (self.guarded or self.pending or self.write_paused or self.blocked is not None):
            # A client pipelines or it does not, read after read: the way its last read
            # went is tried first (a pipeline's read refused by ``take_one`` costs a
            # third of a 16-call grid's parse; a lone call refused by ``take_grid``, a
            # sixth of its own).
            grid = self.parser.take_grid(data) if self.pipelining else None
            if grid is None:
                args = self.parser.take_one(data)  # a read of one command (unpipelined)
                if args is not None:
                    self.pipelining = False
                    self.run_one(args)
                    if self.parser.error is not None:  # (a login's parser swap may carry one)
                        self._raise_parse_error()
                    return
                if not self.pipelining:
                    grid = self.parser.take_grid(data)  # a read of calls of one layout (-P 16)
                    self.pipelining = grid is not None
            if grid is not None:
                self.last_active = monotonic()
                self.run_grid(*grid, data)
                if self.closing or not self.parser.buffered():
                    return  # (QUIT in the grid: what followed it is not run)
                data = b""  # what followed the grid is buffered: parsed below, in order
        try:
            cmds = self.parser.take(data)
        except ProtocolError as e:
            if self.parser.error is e and (self.pending or self.blocked is not None):
                return  # answered once the commands before it are (``_raise_parse_error``)
            self._protocol_error(e)
            return
        if self.blocked is not None or self.pending or self.write_paused:
            self.last_active = monotonic()
            self.pending.extend(cmds)
            self.queued += len(data)
            if self.queued > self.max_queued:
                self.conn.log.warning(
                    "closing: %d bytes of commands queued while waiting", self.queued
                )
                self.conn.abort()
                return
        elif len(cmds) == 1 and not self.guarded:
            self.run_one(cmds[0])  # (it reads the clock: ``last_active`` and the call's start)
        else:
            self.last_active = monotonic()
            if cmds:
                self._run(cmds)
        if self.parser.error is not None:
            self._raise_parse_error()

    def pause_writing(self) -> None:
        """The transport holds more unsent output than its high-water mark: stop reading."""
        self.write_paused = True  # the shell has paused reading already

    def resume_writing(self) -> None:
        """The peer drained our output: read again and run what waited."""
        self.write_paused = False
        self._resume()

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost cleans up

    def busy(self) -> bool:
        return self.working

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed()
        self.state.clients.pop(self.id, None)

    def shutdown(self) -> None:
        """The server stops: close now unless a reply is being computed (then after it)."""
        if not self.working:
            self.conn.close()

    # -- dispatch ------------------------------------------------------------------
    def run(self, cmds: list[list[bytes]]) -> None:
        """Execute commands in order, answering them all in one write.

        The per-command work is kept to a table lookup by the raw name (both
        spellings are keys), the arity test, the handler and one clock reading
        (each command's time runs from the previous reading). Statistics are
        counted per run of one command (``state.count_calls`` when the command
        changes and at the end); ``state.observe`` sees a command on its own
        when it needs to: ``observe_every`` (MONITOR, the AOF), a call slower
        than ``observe_above``, an error, no reply yet, or a command that is not
        ``bulk_stats`` (INFO must see the counts of the commands before it).
        While nothing needs to see single calls (``runs``), a command with a
        ``many`` handler runs the plain calls of it that follow at once.
        """
        out: list[bytes] = []
        self.out = out
        state = self.state
        table = self.table
        errors = state.errors
        every, above, admits, logs = state.policy()
        runs = not admits and above >= RUN_MIN_ABOVE and (not every or logs is not None)
        done = size = calm = 0
        n = len(cmds)
        cmd: Command | None = None
        counting: Command | None = None  # the command whose run of calls is being counted
        calls, seconds = 0, 0.0
        t = perf_counter()
        while done < n:
            args = cmds[done]
            done += 1
            cmd = table.get(args[0])
            if cmd is None:
                cmd = table.get(args[0].lower())
                if cmd is None:
                    out.append(self.reject(unknown_command(args)))
                    continue
            a = cmd.arity
            if (len(args) != a) if a > 0 else (len(args) < -a):
                out.append(self.reject_arity(cmd, arity_error(cmd.name)))
                continue
            if self.guarded:  # a server's slow path (MULTI, subscribe mode, ACL, pause)
                if cmd.subcommands:  # (refused before any guard, as an unknown command)
                    refused = cmd.refusal(args)
                    if refused is not None:
                        out.append(self._refuse(refused))
                        continue
                r = self.guard(cmd, args)
                if r is not None:
                    if r is HOLD:
                        done -= 1
                        self.pending.extend(cmds[done:])
                        break
                    out.append(r)
                    continue
            elif (
                cmd.many is not None
                and runs
                and done < n
                and done > calm
                and cmds[done][0] == args[0]  # (a run is calls spelled alike: not SET GET SET)
                and not state.wakeups
                and (logs is None or cmd.name in logs.runs)
            ):
                end = min(n, done - 1 + RUN_MAX)
                ran, grew = cmd.many(self, cmds, done - 1, end, out, OUTPUT_HIGH_WATER - size)
                stop = done - 1 + ran  # the first call the run did not take
                if stop < end and cmds[stop][0] == args[0]:
                    calm = stop + RUN_CALM  # cut short by a call it could not take (see RUN_CALM)
                if ran:
                    if cmd is not counting:
                        if calls:
                            state.count_calls(counting, calls, seconds)
                        counting, calls, seconds = cmd, 0, 0.0
                    t0, t = t, perf_counter()
                    if t - t0 < above:
                        calls += ran
                        seconds += t - t0
                        if logs is not None:  # (the AOF: what the run wrote, in one go)
                            logs.log_calls(self, cmd, cmds[done - 1 : stop])
                    else:  # a pause in the run: charged to its last call, which is slow
                        calls += ran - 1
                        if logs is not None and ran > 1:  # (``observe`` logs the last)
                            logs.log_calls(self, cmd, cmds[done - 1 : stop - 1])
                        state.observe(self, cmd, cmds[stop - 1], out[-1], t - t0)
                    done += ran - 1
                    size += grew
                    if size > OUTPUT_HIGH_WATER and done < n:
                        self._defer(cmds[done:])
                        break
                    continue
            if cmd.denyoom and admits:  # (a container's: one of its subcommands may grow memory)
                target = cmd.called(args) if cmd.subcommands else cmd
                r = state.admit_write() if target.denyoom else None
                if r is not None:
                    out.append(self.refused(target, r))
                    continue
            if cmd is not counting:
                if calls:
                    state.count_calls(counting, calls, seconds)
                counting, calls, seconds = cmd, 0, 0.0
            try:
                r = cmd.fn(self, args)
            except Refused as e:  # a container's unknown subcommand or wrong arity
                out.append(self._refuse(e))
                t = perf_counter()
                continue
            except CommandError as e:
                r = e.reply
            except errors as e:
                r = state.error_reply(e, args)
            t0, t = t, perf_counter()
            if every or r is None or t - t0 >= above or r[0] == 45 or not cmd.bulk_stats:  # '-'
                state.observe(self, cmd, args, r, t - t0)
                if not cmd.bulk_stats:  # (CONFIG SET may have changed what these say)
                    every, above, admits, logs = state.policy()
                    runs = not admits and above >= RUN_MIN_ABOVE and (not every or logs is not None)
            else:
                calls += 1
                seconds += t - t0
            if r is not None:
                out.append(r)
                size += len(r)
                if size > OUTPUT_HIGH_WATER and done < n:
                    self._defer(cmds[done:])
                    break
            elif self.blocked is not None:
                self.pending.extend(cmds[done:])
                break
            if self.closing:
                break
            if state.wakeups:
                state.serve_wakeups()
                t = perf_counter()  # (the next command's time starts here)
        if calls:
            state.count_calls(counting, calls, seconds)
        state.commands_processed += done
        if n:  # CLIENT LIST's cmd=: the last command's full name, NULL after an unknown one
            self.last_command = "" if cmd is None else cmd.called(args).name
        self.out = None
        if state.unsynced:  # a log to write (the cache's AOF) before the replies go out
            state.sync(self)
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            if self.held is None:
                self.write_out(data)
            else:
                self.held.append(data)
        if self.closing:
            self.pending.clear()
            if self.held is None:
                self.conn.close()

    def run_grid(
        self,
        name: bytes,
        columns: list[tuple[bytes, ...]],
        data: bytes,
        room: int = OUTPUT_HIGH_WATER,
    ) -> None:
        """Execute a read that is a grid of calls of one command (``take_grid``: its
        arguments by columns, from the start of ``data``): its ``columns`` handler runs
        them at once (RUN_MAX at a time) when ``run`` would take them as a run (see
        ``Command.many``); otherwise, and for the calls it leaves, ``run``. A
        ``RunLog`` (the AOF) is given the rows that ran as they arrived: a grid's rows
        are canonical RESP (``take_grid`` checks every header), each as long as its first.
        ``room``: reply bytes the batch may still produce (``OUTPUT_HIGH_WATER``)."""
        state = self.state
        cmd = self.table.get(name)
        if cmd is None:
            cmd = self.table.get(name.lower())
        policy = state.policy_now
        if policy is None:
            policy = state.policy_now = state.policy()
        every, above, admits, logs = policy
        words = 1 + len(columns)
        if (
            cmd is None
            or cmd.columns is None
            or ((words != cmd.arity) if cmd.arity > 0 else (words < -cmd.arity))
            or (every and (logs is None or cmd.name not in logs.runs))
            or admits
            or above < RUN_MIN_ABOVE
            or state.wakeups
        ):
            self._run(_calls(name, columns))
            return
        out: list[bytes] = []
        self.out = out
        head = columns  # (timed as one call: at most RUN_MAX rows, as a run; then the next)
        if len(columns[0]) > RUN_MAX:
            head = [column[:RUN_MAX] for column in columns]
        t0 = perf_counter()
        ran, grew = cmd.columns(self, name, head, out, room)
        seconds = perf_counter() - t0
        self.out = None
        if ran:
            slow = seconds >= above
            if logs is not None and ran > slow:  # (a slow grid's last call: ``observe`` logs it)
                row = len(encode_command(name, *(column[0] for column in columns)))
                logs.log_wire(self, cmd, data[: (ran - slow) * row])
            if not slow:
                state.count_calls(cmd, ran, seconds)
            else:  # a pause in the run: charged to its last call, which is slow
                if ran > 1:
                    state.count_calls(cmd, ran - 1, 0.0)
                last = [name, *(column[ran - 1] for column in columns)]
                state.observe(self, cmd, last, out[-1], seconds)
            state.commands_processed += ran
            self.last_command = cmd.name
            if state.unsynced:
                state.sync(self)
            replies = out[0] if len(out) == 1 else b"".join(out)
            if self.held is None:
                self.write_out(replies)
            else:
                self.held.append(replies)
        if ran < len(columns[0]):
            if ran == RUN_MAX and grew <= room:  # (cut at RUN_MAX) the next rows, in what is left
                row = len(encode_command(name, *(column[0] for column in columns)))
                rest_columns = [column[ran:] for column in columns]
                self.run_grid(name, rest_columns, data[ran * row :], room - grew)
                return
            rest = _calls(name, [column[ran:] for column in columns])
            if grew > room:  # (big GET replies) the rest in the next turn, as ``run``
                self._defer(rest)
            else:
                self._run(rest)

    def run_one(self, args: list[bytes]) -> None:
        """``run([args])`` for a read that held one command (an unpipelined client), doing
        only what one call needs: no batch to gather, no run of calls, one write.

        For an ordinary call of a command that names keys (``bulk_stats``, never a
        container); anything else (unknown, a wrong arity, a write ``admit_write``
        may refuse) goes to ``_run``. One clock reading, ``time.monotonic`` (on Linux
        the clock ``perf_counter`` reads too), is both ``last_active`` and where the
        call's time starts. The policy is ``state.policy_now``, not a fresh
        ``policy()``: the state keeps it current. The call is counted straight into
        its row of ``state.call_rows`` when it has one (else ``count_calls``, which
        makes it). No reply list: what the command sends this session itself
        (``send``, with ``out`` None) is written at once, so before its reply, as a
        batch would order them; only wakeups to serve make one.
        """
        self.last_active = t0 = monotonic()
        cmd = self.table.get(args[0])
        if cmd is None or not cmd.bulk_stats:
            self._run([args])
            return
        a = cmd.arity
        if (len(args) != a) if a > 0 else (len(args) < -a):
            self._run([args])
            return
        state = self.state
        policy = state.policy_now
        if policy is None:
            policy = state.policy_now = state.policy()
        every, above, admits, _ = policy
        if admits and cmd.denyoom:
            self._run([args])
            return
        r: bytes | None
        try:
            r = cmd.fn(self, args)
        except CommandError as e:
            r = e.reply
        except state.errors as e:
            r = state.error_reply(e, args)
        t = monotonic() - t0
        if every or r is None or t >= above or r[0] == 45:  # '-'
            state.observe(self, cmd, args, r, t)
        else:
            row = state.call_rows.get(cmd.name)
            if row is None:
                state.count_calls(cmd, 1, t)
            else:
                row.calls += 1
                row.seconds += t
        state.commands_processed += 1
        self.last_command = cmd.name
        if state.wakeups and self.blocked is None:
            out = self.out = [] if r is None else [r]  # (what the wakeups send us follows r)
            state.serve_wakeups()
            self.out = None
            r = b"".join(out) if out else None
        if state.unsynced:  # a log to write (the cache's AOF) before the reply goes out
            state.sync(self)
        if r is not None:
            if self.held is not None:
                self.held.append(r)
            else:
                self.write_out(r)
        if self.closing:
            self.pending.clear()
            if self.held is None:
                self.conn.close()

    def release(self) -> None:
        """The log is durable (a group fsync): write the held replies, close if QUIT."""
        held, self.held = self.held, None
        if held and not self.conn.closed:
            self.write_out(b"".join(held))
        if self.closing:
            self.conn.close()

    def call(self, args: list[bytes]) -> bytes | None:
        """Run one already-validated command outside the loop (EXEC); None if it would block."""
        cmd = self.state.registry.get(args[0])
        assert cmd is not None
        if cmd.denyoom and (target := cmd.called(args)).denyoom:
            refused = self.state.admit_write()
            if refused is not None:
                return self.refused(target, refused)
        t0 = perf_counter()
        r: bytes | None
        self.calling = True
        try:
            r = cmd.fn(self, args)
        except CommandError as e:
            r = e.reply
        except self.state.errors as e:
            r = self.state.error_reply(e, args)
        finally:
            self.calling = False
        self.state.observe(self, cmd, args, r, perf_counter() - t0)
        return r

    def _refuse(self, e: Refused) -> bytes:
        """A call refused before it ran: counted as an unknown command (``reject``) or, for
        a subcommand's wrong arity, as a rejected call of it (``reject_arity``)."""
        return self.reject(e.reply) if e.cmd is None else self.reject_arity(e.cmd, e.reply)

    def _defer(self, rest: list[list[bytes]]) -> None:
        """Keep the rest of a pipeline for later: the next loop turn, unless the peer
        stops reading first (then ``resume_writing`` picks it up)."""
        self.pending.extendleft(reversed(rest))
        self.conn.pause_reading()  # what is read meanwhile would only queue behind it
        asyncio.get_running_loop().call_soon(self._resume)

    def send(self, data: bytes) -> None:
        """Bytes for this session from anywhere (pub/sub, unblocking), kept in order."""
        if self.out is not None:
            self.out.append(data)
        elif self.held is not None:
            self.held.append(data)
        else:
            self.write_out(data)

    # -- answering later -------------------------------------------------------------
    def unblock(self, reply: bytes) -> None:
        """Answer the command that blocked and resume the commands queued behind it."""
        self.blocked = None
        if self.state.unsynced:  # what the answer depends on is logged first (a script's writes)
            self.state.sync(self)
        self.send(reply)
        self._resume()

    def answer_in_thread(self, work: Callable[[], Any], encode: Callable[[Any], bytes]) -> None:
        """Run ``work`` in a worker thread; answer ``encode(result)`` when it is done.

        For a command that would stall the loop (a merge reading whole files):
        this session's later commands wait for its reply (order is kept) while
        every other connection is served. The handler returns None after it.
        """
        self.blocked = self.working = True
        future = asyncio.get_running_loop().run_in_executor(None, work)
        future.add_done_callback(lambda f: self._worked(f, encode))

    def _worked(self, future: asyncio.Future[Any], encode: Callable[[Any], bytes]) -> None:
        self.working = False
        exc = future.exception()
        if exc is None:
            reply = encode(future.result())
        else:
            self.conn.log.error("%s failed: %s", self.last_command, exc)
            reply = resp.error(f"{self.last_command} failed: {exc}")
        self.unblock(reply)
        if self.conn.stopping:
            self.conn.close()

    def _resume(self) -> None:
        self.conn.resume_reading()  # (paused by ``_defer``: its rest runs now)
        if self.pending and self.blocked is None and not self.write_paused and not self.conn.closed:
            cmds = list(self.pending)
            self.pending.clear()
            self.queued = 0
            self._run(cmds)
        self._raise_parse_error()

    # -- logging out with commands parsed ahead ----------------------------------------
    def end_batch_after_logout(self, reply: bytes) -> bytes | None:
        """The handler's return for a command that logged the client out (RESET): its reply.

        Redis parses one command, runs it, then parses the next, so what follows a
        RESET meets the unauthenticated limits; ours were parsed with the whole read,
        under the normal ones. So when the client was logged out in the middle of a
        batch, the batch ends here (the command "blocks" for one loop turn, its reply
        already in the batch): the rest waits in ``pending`` and is checked against
        those limits before it runs (``_run_parsed_ahead``). What the parser still
        holds is checked by ``RequestParser.limits`` when the session swaps parsers.
        """
        if self.authenticated or self.out is None or self.calling or self.blocked is not None:
            return reply
        self.send(reply)
        self.blocked = LOGGED_OUT
        return None  # the loop keeps the rest of the batch in ``pending``: ``_run`` goes on

    def _run(self, cmds: list[list[bytes]]) -> None:
        """``run``; then, as long as a command logged the client out and ended the batch
        (``end_batch_after_logout``), the rest of it, checked (a loop: a pipeline of
        RESETs recurses no deeper)."""
        if self.parsed_ahead:
            self._run_parsed_ahead(cmds)
        else:
            self.run(cmds)
        while self.blocked is LOGGED_OUT:
            self.blocked = None
            self.parsed_ahead = len(self.pending)
            if not self.pending or self.write_paused or self.conn.closed:
                return  # (``resume_writing`` runs them)
            cmds = list(self.pending)
            self.pending.clear()
            self.queued = 0
            self._run_parsed_ahead(cmds)

    def _run_parsed_ahead(self, cmds: list[list[bytes]]) -> None:
        """Run ``cmds``, the first ``parsed_ahead`` of them parsed before the client logged
        out: up to the first over the unauthenticated limits; if the client is still
        logged out by then, that one is the protocol error Redis would have answered."""
        ahead, self.parsed_ahead = self.parsed_ahead, 0
        while True:
            refused = None if self.authenticated else _first_refused(cmds[:ahead])
            if refused is None:
                self.run(cmds)
                return
            i, why = refused
            if i:
                self.run(cmds[:i])
            if self.closing or self.conn.closed:
                return
            if self.pending or self.blocked is not None or self.write_paused:
                self.parsed_ahead = len(self.pending) + ahead - i  # (checked again later)
                self.pending.extend(cmds[i:])
                return
            if not self.authenticated:
                self.parser.error = ProtocolError(why)  # answered by ``_raise_parse_error``
                return
            cmds, ahead = cmds[i:], ahead - i  # logged in again before it: it is fine

    def _raise_parse_error(self) -> None:
        """Answer a parse error once every command before it has been answered."""
        if self.parser.error is None or self.pending or self.blocked is not None:
            return
        if self.conn.closed or self.closing:
            return
        try:
            cmds = self.parser.commands()
        except ProtocolError as e:
            self._protocol_error(e)
            return
        # No error after all: it was an unauthenticated client's limit (``set_authenticated``)
        # and a command before it logged the client in; the rest is parsed normally now.
        if self.write_paused:
            self.pending.extend(cmds)
        elif cmds:
            self._run(cmds)
        if self.parser.error is not None:
            self._raise_parse_error()

    def _protocol_error(self, e: ProtocolError) -> None:
        """Answer the error, half-close, and discard what the peer still sends (``LINGER``)."""
        self.conn.log.info("protocol error: %s", e.message)
        self.send(e.reply)
        self.closing = True
        self.pending.clear()
        self.conn.write_eof()
        self.conn.set_deadline(self.linger)

    # -- connection state the connection commands change ------------------------------
    def set_authenticated(self, authenticated: bool) -> None:
        """Logged in or not (a server with users: the cache's ACL). Until it is, requests
        get Redis's limits for an unauthenticated client (``resp.UnauthenticatedParser``:
        10 elements, 16 KiB bulks, refused at the header); the parser is swapped, so a
        logged-in client's parsing costs nothing more. What the old parser buffered, a
        refused header included, is carried on by the new one under its limits."""
        self.authenticated = authenticated
        self.parser = self.parser.limits(not authenticated)

    def select(self, index: int) -> bool:
        """Switch to database ``index``; False when out of range."""
        if not 0 <= index < self.state.databases:
            return False
        self.db, self.db_index = self.state.database(index), index
        return True

    def reset(self) -> None:
        """RESET: back to a fresh connection's state (the server's ``on_reset`` first)."""
        self.on_reset()
        self.select(0)
        self.proto, self.name = 2, b""
        self.protocol_changed()

    def client_type(self) -> bytes:
        """CLIENT LIST TYPE's word for this session (``pubsub`` once it subscribed)."""
        return b"normal"

    def info_line(self, running: list[bytes] | None = None) -> str:
        """One CLIENT LIST line, Redis's field names; ``running``: the command this session
        is executing (CLIENT LIST/INFO describing their own caller)."""
        return " ".join(f"{k}={v}" for k, v in self.info_fields(running).items())

    def info_fields(self, running: list[bytes] | None = None) -> dict[str, Any]:
        now = time.monotonic()
        laddr = self.conn.sockname
        return {
            "id": self.id,
            "addr": self.conn.peer,
            "laddr": f"{laddr[0]}:{laddr[1]}" if len(laddr) >= 2 else "",
            "name": self.name.decode(errors="replace"),
            "age": int(now - self.created),
            "idle": int(now - self.last_active),
            "flags": "b" if self.blocked is not None else "N",
            "db": self.db_index,
            "cmd": self.last_command or "NULL",
            "user": self.user_name,
            "resp": self.proto,
            "lib-name": self.lib.get("lib-name", b"").decode(errors="replace"),
            "lib-ver": self.lib.get("lib-ver", b"").decode(errors="replace"),
        }

    # -- hooks for a server's session ----------------------------------------------
    def guard(self, cmd: Command, args: list[bytes]) -> bytes | None:
        """While ``guarded``: the reply replacing running ``cmd`` now, or None to run it."""
        return None

    def reject(self, reply: bytes) -> bytes:
        """An unknown command (or a call ``refused``) is answered with ``reply``."""
        return reply

    def reject_arity(self, cmd: Command, reply: bytes) -> bytes:
        """``cmd`` has the wrong number of arguments: a call ``refused``, answered with ``reply``."""
        return self.refused(cmd, reply)

    def refused(self, cmd: Command, reply: bytes) -> bytes:
        """``cmd`` is refused before it ran (a wrong arity, ``admit_write``: out of memory):
        answered with ``reply``, counted as a rejected call as Redis 7 does."""
        return reply

    def limit_output(self, on: bool) -> None:
        """Whether ``output_over`` is asked before each batch is written: the writer
        (``write_out``) is swapped, so a session without a limit pays nothing for it."""
        self.write_out = self._write_checked if on else self.conn.write

    def _write_checked(self, data: bytes) -> None:
        if not self.output_over(len(data)):
            self.conn.write(data)

    def output_over(self, size: int) -> bool:
        """Once ``limit_output(True)``, before ``size`` more bytes are written: True when
        they would take this session past its output limit, and it was disconnected for
        it (the server's own limits: the cache's client-output-buffer-limit)."""
        return False

    def on_reset(self) -> None:
        """RESET: drop the server's own per-connection state (subscriptions, MULTI)."""

    def protocol_changed(self) -> None:
        """HELLO or RESET changed ``proto`` (subscribe mode depends on it)."""

    def closed(self) -> None:
        """The connection is gone: release what it held (subscriptions, blocked keys)."""


def _calls(name: bytes, columns: list[tuple[bytes, ...]]) -> list[list[bytes]]:
    """A grid's columns (``take_grid``) as the calls' argument lists."""
    return [[name, *args] for args in zip(*columns, strict=True)]


def _first_refused(cmds: list[list[bytes]]) -> tuple[int, str] | None:
    """The first of ``cmds`` over an unauthenticated client's limits: (index, why)."""
    for i, args in enumerate(cmds):
        why = unauthenticated_refusal(args)
        if why is not None:
            return i, why
    return None
