"""The cache server: shared state, the periodic cron (active expiry, eviction), ``serve``.

One event loop serves every client (like Redis's single thread): the state is
touched only from loop callbacks, so no locks. ``serve`` starts the netlib
shell with ``Client`` as its session factory and schedules ``cron`` ``hz``
times a second, as Redis's serverCron does, for the active expiry cycle, for
eviction when memory grew without a write (CONFIG SET maxmemory lower) and for
the instantaneous ops/sec figure INFO reports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netlib.shell import Server, ShellConfig
from servers.respkit import ServerState, Session, WrongType, shell_config
from servers.respkit import serve as serve_resp
from servers.respkit.state import Policy

from . import (
    commands,  # noqa: F401  (registers every command in the table)
    runs,  # noqa: F401  (SET, GET, INCR, LPUSH run pipelined runs at once)
)
from .acl import CATEGORIES, Acl
from .acl import categories as acl_categories
from .blocking import Blocking
from .client import Client
from .commands import acl as acl_commands
from .eviction import DEFAULT_SAMPLES, OOM_ERROR, Evictor
from .hub import Hub
from .keyspace import DEFAULT_DATABASES, EXPIRE_TIME_PERC, Database, Keyspace, wall_clock_ms
from .memory import Memory
from .observe import Observer
from .saving import Persistence
from .shutdown import Flags as ShutdownFlags
from .table import REGISTRY

log = logging.getLogger("servers.cache")

__all__ = ["CacheSettings", "State", "serve", "shell_config"]

DEFAULT_HZ = 10  # Redis's hz default
# Unsent bytes a subscriber may accumulate before it is disconnected: Redis's
# "client-output-buffer-limit pubsub 32mb" hard limit.
PUBSUB_OUTPUT_LIMIT = 32 * 1024 * 1024
MAX_HZ = 500  # Redis clamps hz to 1..500


@dataclass(frozen=True)
class CacheSettings:
    """The cache's own settings (CONFIG SET changes the live values in State)."""

    databases: int = DEFAULT_DATABASES
    hz: int = DEFAULT_HZ
    maxmemory: int = 0
    maxmemory_policy: str = "noeviction"
    maxmemory_samples: int = DEFAULT_SAMPLES
    requirepass: str = ""
    aclfile: str = ""  # users loaded at start (ACL LOAD/SAVE use it)
    dir: str = ""  # where the AOF and snapshots live ("" : no persistence at all)
    appendonly: bool = False
    appendfsync: str = "everysec"
    appenddirname: str = "appendonlydir"
    dbfilename: str = "dump.sdb"


NOREPLICAS = b"-NOREPLICAS Not enough good replicas to write.\r\n"


class State(ServerState):
    """Everything the commands share: keyspace, pub/sub, blocking, settings, counters."""

    implementation = "syslab servers.cache (Python)"
    category_order = CATEGORIES  # (COMMAND INFO's order of a command's ACL categories)
    errors = (WrongType,)
    clients: dict[int, Client]  # type: ignore[assignment]

    def __init__(
        self, settings: CacheSettings | None = None, clock: Callable[[], int] = wall_clock_ms
    ) -> None:
        settings = settings or CacheSettings()
        self.keyspace = Keyspace(settings.databases, clock)
        super().__init__(REGISTRY, settings.databases)
        self.evictor = Evictor(self.keyspace)
        self.evictor.samples = settings.maxmemory_samples
        self.evictor.configure(settings.maxmemory, settings.maxmemory_policy)
        self.memory = Memory(self)  # used_memory: overhead + dataset, what maxmemory limits
        self.evictor.measure = self.memory.for_eviction
        self.hub = Hub()
        self.blocking = Blocking(self.keyspace)
        self.wakeups = self.blocking.ready  # keys pushed to while clients wait on them
        self.hz = settings.hz
        self.over_soft: set[Client] = set()  # clients over their soft output limit (cron)
        # client-output-buffer-limit: class -> (hard, soft bytes, soft seconds), Redis's defaults
        self.output_limits = {"normal": (0, 0, 0), "replica": (256 << 20, 64 << 20, 60),
                              "pubsub": (PUBSUB_OUTPUT_LIMIT, 8 << 20, 60)}  # fmt: skip
        # The normal class has a limit (not Redis's default "0 0 0"): each session asks
        # ``Client.output_over`` before each batch it writes (the kit's ``limit_output``).
        self.limits_output = False
        self.observer = Observer()  # commandstats, errorstats, SLOWLOG, LATENCY, MONITOR
        self.observer.changed = self.evictor.changed = self.policy_changed
        self.observe = self.observer.observe  # type: ignore[method-assign,assignment]
        self.count_calls = self.observer.count  # type: ignore[method-assign,assignment]
        self.call_rows = self.observer.commands  # (cleared in place by CONFIG RESETSTAT)
        self.pause: tuple[float, str] | None = None  # CLIENT PAUSE: (until, "all"|"write")
        self.pause_timer: asyncio.TimerHandle | None = None
        self.hub_dropped = 0  # subscribers disconnected for not reading
        self.ops_per_sec = 0
        self.scripting: Any = None  # scripting.Engine, created by the first scripting command
        self.busy_script: Any = None  # a script past busy-reply-threshold: others get -BUSY
        # min-replicas-to-write / -max-lag: this cache has no replicas, so a non-zero
        # minimum (with a non-zero lag) refuses every write with -NOREPLICAS, as Redis.
        self.min_replicas_to_write = 0
        self.min_replicas_max_lag = 10
        # Set while the AOF cannot be written or fsynced (saving.Persistence): the
        # -MISCONF error that refuses write commands and PING, as Redis does.
        self.misconf: bytes | None = None
        self._ops_sample = (time.monotonic(), 0)
        self.acl = Acl(REGISTRY)
        self.aclfile = settings.aclfile
        self.replid = os.urandom(20).hex()  # INFO replication's master_replid
        self.requirepass = ""
        if settings.aclfile:
            acl_commands.load_aclfile(self, settings.aclfile)
        if settings.requirepass:
            acl_commands.set_requirepass(self, settings.requirepass)
        self.extra_config: dict[str, str] = {
            "save": "",
            "appendonly": "no",
            "databases": str(settings.databases),
            "lfu-log-factor": "10",
            "lfu-decay-time": "1",
        }
        # SIGTERM/SIGINT do what SHUTDOWN with these flags does (Redis 7.0's
        # shutdown-on-sigterm/-sigint, "default": save if there are save points);
        # shutdown-timeout is kept for CONFIG only (no replicas to wait for).
        self.shutdown_on = {"sigterm": ShutdownFlags(), "sigint": ShutdownFlags()}
        self.shutdown_timeout = 10
        self.shut_down = False  # SHUTDOWN or a signal saved what it had to: serving stops
        self.persistence: Persistence | None = None
        if settings.dir:  # load what was saved, then log every write from here on
            p = Persistence(self, Path(settings.dir), settings.appendonly, settings.appendfsync,
                            settings.appenddirname, settings.dbfilename)  # fmt: skip
            # Loading ignores maxmemory, as Redis's: what was acknowledged comes back, and
            # -OOM (or eviction) applies to the writes that follow.
            limit, self.evictor.maxmemory = self.evictor.maxmemory, 0
            try:
                p.load()  # (then has the observer call p.write_log while there is an AOF)
            finally:
                self.evictor.configure(limit)
            self.persistence = p
            self.evictor.on_evict = p.evicted

    # -- the kit's hooks -------------------------------------------------------------
    @property
    def observe_every(self) -> bool:  # type: ignore[override]
        """MONITOR and the AOF look at every command (the session loop reads this per batch;
        runs of calls the AOF logs as sent are still taken: ``policy``)."""
        return bool(self.observer.monitors) or self.observer.write_log is not None

    @property
    def admits_writes(self) -> bool:  # type: ignore[override]
        """A maxmemory is set: ``admit_write`` may evict or refuse."""
        return bool(self.evictor.maxmemory)

    @property
    def observe_above(self) -> float:  # type: ignore[override]
        """Seconds: a call this slow may go to SLOWLOG or LATENCY."""
        return min(self.observer.slower_than, self.observer.latency_threshold)

    def policy(self) -> Policy:
        """The three above in one call (the session loop reads them once per batch; an
        unpipelined command reads ``policy_now``: the observer and the evictor call
        ``policy_changed`` when a monitor comes or goes, a threshold or maxmemory is set,
        the AOF is turned on or off), and the AOF as the ``RunLog`` while it is the only
        reason to see every call: runs are still taken then, and logged in one go."""
        ob = self.observer
        logs = self.persistence if ob.write_log is not None and not ob.monitors else None
        return (
            bool(ob.monitors) or ob.write_log is not None,
            min(ob.slower_than, ob.latency_threshold),
            bool(self.evictor.maxmemory),
            logs,
        )

    def database(self, index: int) -> Database:
        return self.keyspace.dbs[index]

    def command_categories(self, cmd: Any, parent: Any = None) -> frozenset[str]:
        return acl_categories(cmd, parent)

    def authenticate(
        self, client: Client, user: bytes | None, password: bytes, via: bytes = b"AUTH"
    ) -> bytes | None:
        """AUTH and HELLO AUTH against the ACL users (the kit's hook)."""
        return acl_commands.login(client, user, password, via)

    def admit_replicated_write(self) -> bytes | None:
        """A script's write: -MISCONF while the AOF cannot be written; -NOREPLICAS while
        fewer good replicas than min-replicas-to-write are connected: always the case here
        (no replication), so any non-zero minimum refuses. (Clients: ``Client.guard``.)"""
        if self.misconf is not None:
            return self.misconf
        if self.min_replicas_to_write and self.min_replicas_max_lag:
            return NOREPLICAS
        return None

    def admit_write(self) -> bytes | None:
        """maxmemory: evict what the policy allows, or refuse the write with -OOM."""
        ev = self.evictor
        return OOM_ERROR if ev.maxmemory and not ev.make_room() else None

    def serve_wakeups(self) -> None:
        p = self.persistence
        if p is None or p.aof is None:
            self.blocking.serve_ready()
            return
        waiting = {id(c): c for q in self.blocking.waiters.values() for c in q}
        self.blocking.serve_ready()
        for c in waiting.values():
            if c.blocked is None:  # served by the write that just ran: log what it popped
                p.served(c, getattr(c, "blocked_args", []))

    def sync(self, session: Session) -> None:
        if self.persistence is not None:
            self.persistence.sync(session)
        self.unsynced = False

    def cron(self) -> None:
        """One tick: active expiry within its time budget, eviction, ops/sec."""
        if self.persistence is not None:
            self.persistence.poll()  # a forked child's end; evictions logged since the last batch
        for client in list(self.over_soft):  # the soft output limit's time may be up
            client.check_output()
        if self.busy_script is not None:
            return  # a script holds the keyspace (its worker thread runs the commands)
        if not self.keyspace.expire_paused:  # (CLIENT PAUSE: no key expires meanwhile)
            self.keyspace.active_expire(EXPIRE_TIME_PERC / 100 / self.hz)
        if self.evictor.maxmemory:
            self.memory.sample()  # client buffers, scripts: what eviction sees, fresh each tick
            if self.evictor.over():
                self.evictor.make_room()
        else:
            self.memory.track_peak()
        now = time.monotonic()
        t0, n0 = self._ops_sample
        if now - t0 >= 1.0:
            self.ops_per_sec = int((self.commands_processed - n0) / (now - t0))
            self._ops_sample = (now, self.commands_processed)

    def extra_sections(self) -> dict[str, dict[str, Any]]:
        """INFO's persistence, commandstats and errorstats sections."""
        p = self.persistence
        if p is not None:
            persistence = p.info()
        else:  # nothing is saved: every change since start is unsaved (keyspace.dirty)
            persistence = {"loading": 0, "aof_enabled": 0,
                           "rdb_changes_since_last_save": self.keyspace.dirty}  # fmt: skip
        return {"persistence": persistence, **self.observer.sections()}

    def info_server(self) -> dict[str, Any]:
        return {**super().info_server(), "hz": self.hz}


async def serve(config: ShellConfig, state: State | None = None) -> tuple[Server, State]:
    """Start the cache; returns once listening, with its state (tests inspect it)."""
    state = state or State()

    async def cron() -> None:
        while True:
            await asyncio.sleep(1 / state.hz)
            try:
                state.cron()
            except Exception:  # one failed tick must not end expiry, child polling, retries
                log.exception("cron tick failed")

    server = await serve_resp(config, state, Client, tasks=[cron])
    return server, state
