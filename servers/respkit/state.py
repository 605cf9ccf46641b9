"""What every session of one RESP server shares: its registry, its clients, its counters.

A server subclasses ``ServerState`` (the cache adds its keyspace, pub/sub hub
and blocking lists; Bitcask its engine) and overrides the few hooks the
session loop calls:

* ``database(index)``: what SELECT switches a session to (``databases`` of them);
* ``admit_write()``: called before a ``denyoom`` command while
  ``admits_writes`` (the cache: while a maxmemory is set); an error reply
  (``-OOM ...``) refuses it, None lets it run;
* ``errors`` / ``error_reply(exc)``: the server's own exceptions (a type
  mismatch, a storage failure) turned into a reply on the connection that
  hit them, never a crash;
* ``wakeups`` / ``serve_wakeups()``: a non-empty ``wakeups`` after a command
  means blocked sessions may be answerable now (Redis's ready keys);
* ``observe(session, cmd, args, reply, seconds)``: after a command that needs
  looking at on its own (the cache's SLOWLOG, LATENCY, MONITOR, AOF, failed
  calls), and ``count_calls(cmd, calls, seconds)`` for a run of ordinary calls
  of one command (commandstats); ``observe_every`` and ``observe_above``
  (seconds) say which calls are not ordinary; ``call_rows``: a command's name ->
  the object with ``calls`` and ``seconds`` that ``count_calls`` adds to, where
  a server keeps such rows (the cache's commandstats), so that an unpipelined
  call is counted without a Python call (empty: ``count_calls`` every time);
* ``policy()`` / ``policy_changed()``: the three above in one tuple, and a
  ``RunLog`` (or None), which a session reads once per batch, and for an
  unpipelined command from ``policy_now``, kept until ``policy_changed()``: a
  server whose policy can change (the cache: MONITOR, CONFIG SET, maxmemory,
  the AOF) calls it when it does;
* ``RunLog``: when the only reason to observe every call is a log of the
  writes (the cache's AOF), the log itself, which takes a run of calls at once
  (``log_calls``, ``log_wire``): the session then still takes runs of the
  commands it names (``runs``) and hands it what they ran;
* ``unsynced`` / ``sync()``: set by a server that logs writes (the cache's
  AOF); the session calls ``sync`` before writing a batch's replies;
* ``info_server()``: the ``# Server`` fields INFO reports.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol

from netlib import resp

from .errors import WRONGTYPE

if TYPE_CHECKING:
    from .registry import Command, Registry
    from .session import Session

log = logging.getLogger("servers.respkit")

# The Redis version whose replies and error wording the kit follows (Debian
# 12's redis-server); HELLO reports it, and clients only check it is 6 or more.
VERSION = "7.0.15"


class WrongType(Exception):
    """A command met a key holding another kind of value (answered WRONGTYPE)."""


class RunLog(Protocol):
    """A log of the writes that can take a run of calls at once (the cache's AOF).

    ``policy()`` names one while the log is the only reason to see every call on
    its own: the session takes runs of the commands in ``runs`` (commands whose
    calls are logged as they were sent, or not at all) and passes what they ran,
    in order, before it writes their replies: as argument lists (``log_calls``, a
    run inside a mixed pipeline) or as the calls' canonical RESP bytes, exactly as
    they arrived (``log_wire``, a grid: ``RequestParser.take_grid``)."""

    @property
    def runs(self) -> Collection[str]:
        """The full names of the commands whose runs may be taken while it logs."""
        ...

    def log_calls(self, session: Session, cmd: Command, calls: list[list[bytes]]) -> None: ...

    def log_wire(self, session: Session, cmd: Command, wire: bytes) -> None: ...


# What ``policy()`` answers: (observe_every, observe_above, admits_writes, run_log).
Policy = tuple[bool, float, bool, RunLog | None]


class ServerState:
    """Shared state of one RESP server; subclass it for the server's own data."""

    # The server's name in INFO's ``implementation`` line.
    implementation = "syslab RESP server (Python)"
    errors: tuple[type[BaseException], ...] = (WrongType,)
    observe_every = False  # ``observe`` sees every command (not only the unusual ones)
    # ``admit_write`` has a say (read once per batch, and after CONFIG): a server whose
    # limit is off most of the time (the cache without maxmemory) answers False then.
    admits_writes = True
    observe_above = float("inf")  # seconds: a call this slow goes to ``observe``

    def __init__(self, registry: Registry, databases: int = 1) -> None:
        self.registry = registry
        self.databases = databases
        self.clients: dict[int, Session] = {}
        self.wakeups: Collection[Any] = ()
        self.port = 0
        self.shell: Any = None  # the netlib shell Server once listening (its config: maxclients)
        self.started = time.time()
        self.commands_processed = 0
        self.unsynced = False  # ``sync`` has writes to make durable before replies go out
        # A command's name -> its statistics row (``calls``, ``seconds``), if the server
        # keeps them where the session may add to them (see ``count_calls``).
        self.call_rows: dict[str, Any] = {}
        # ``policy()``'s answer until ``policy_changed()`` (None: read it again)
        self.policy_now: Policy | None = None
        self.connections_received = 0
        self._ids = itertools.count(1)

    def new_client_id(self) -> int:
        self.connections_received += 1
        return next(self._ids)

    # -- hooks the session loop calls ------------------------------------------------
    def database(self, index: int) -> Any:
        """The database SELECT ``index`` switches to (0 <= index < ``databases``)."""
        return None

    def policy(self) -> Policy:
        """``(observe_every, observe_above, admits_writes, run_log)`` in one call: what the
        session loop reads once per batch (and after a command that may change it: CONFIG
        SET). ``run_log``: a ``RunLog`` when ``observe_every`` is only its doing, else None."""
        return self.observe_every, self.observe_above, self.admits_writes, None

    def policy_changed(self) -> None:
        """What ``policy()`` answers may have changed: read it again before the next call."""
        self.policy_now = None

    def admit_write(self) -> bytes | None:
        """Before a ``denyoom`` command: an error reply to refuse it, or None."""
        return None

    def error_reply(self, exc: BaseException, args: list[bytes]) -> bytes:
        """The reply for one of ``errors`` raised by a command."""
        return WRONGTYPE

    def observe(
        self, session: Session, cmd: Any, args: list[bytes], reply: bytes | None, seconds: float
    ) -> None:
        """After every command ran (``reply`` None: it will answer later): statistics,
        the slow log, MONITOR. See ``observe_every``/``observe_above`` for when."""

    def count_calls(self, cmd: Any, calls: int, seconds: float) -> None:
        """``calls`` ordinary calls of ``cmd`` (a reply, no error, not slow) took ``seconds``."""

    def sync(self, session: Session) -> None:
        """Before a batch's replies are written, when ``unsynced``: the server's log first.
        A server may set ``session.held = []`` to keep the replies until ``session.release()``
        (after one fsync for all the sessions of a loop turn: a group commit)."""
        self.unsynced = False

    def serve_wakeups(self) -> None:
        """Answer the blocked sessions ``wakeups`` says may be served."""

    def command_categories(self, cmd: Any, parent: Any = None) -> frozenset[str]:
        """The ACL categories COMMAND INFO and COMMAND LIST FILTERBY ACLCAT report for a
        command (``parent``: the container of a subcommand). A server with ACLs knows
        them; by default a command's group."""
        return frozenset({cmd.group})

    # COMMAND INFO lists a command's categories in this order (Redis's: its category table,
    # @admin before @slow before @dangerous); categories not named here come last, by name.
    category_order: tuple[str, ...] = ()

    def info_server(self) -> dict[str, Any]:
        return {
            "redis_version": VERSION,
            "redis_mode": "standalone",
            "implementation": self.implementation,
            "os": os.uname().sysname,
            "arch_bits": 64,
            "process_id": os.getpid(),
            "tcp_port": self.port,
            "uptime_in_seconds": int(time.time() - self.started),
        }


class EngineState(ServerState):
    """One storage engine shared by every connection, as one database (SELECT 0 only).

    What a server over an engine on files needs (Bitcask, an LSM tree, a B+
    tree): ``s.db`` is the engine, and the engine's ``errors`` (a corrupt
    record, a full disk) answer ``-ERR storage error: ...`` on the command
    that hit them, logged; never a crash, never a wrong value.
    """

    def __init__(
        self,
        engine: Any,
        registry: Registry,
        errors: tuple[type[BaseException], ...] = (OSError,),
        implementation: str = "syslab RESP server (Python)",
    ) -> None:
        self.engine = engine
        self.errors = errors
        self.implementation = implementation
        super().__init__(registry, databases=1)

    def database(self, index: int) -> Any:
        return self.engine

    def error_reply(self, exc: BaseException, args: list[bytes]) -> bytes:
        name = args[0].decode(errors="replace") if args else "command"
        log.error("%s failed: %s", name, exc)
        return resp.error(f"storage error: {exc}")
