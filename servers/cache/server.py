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
import itertools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netlib.shell import Connection, Server, ShellConfig, start

from . import commands  # noqa: F401  (registers every command in the table)
from .blocking import Blocking
from .client import Client
from .eviction import DEFAULT_SAMPLES, Evictor
from .hub import Hub
from .keyspace import DEFAULT_DATABASES, EXPIRE_TIME_PERC, Keyspace, wall_clock_ms
from .table import VERSION

DEFAULT_HZ = 10  # Redis's hz default
# Unsent bytes a subscriber may accumulate before it is disconnected: Redis's
# "client-output-buffer-limit pubsub 32mb" hard limit.
PUBSUB_OUTPUT_LIMIT = 32 * 1024 * 1024
# What a client past the connection cap reads before being closed (Redis's wording).
MAX_CLIENTS_ERROR = b"-ERR max number of clients reached\r\n"
MAX_CLIENTS = 10_000  # Redis's maxclients default
MAX_HZ = 500  # Redis clamps hz to 1..500


@dataclass(frozen=True)
class CacheSettings:
    """The cache's own settings (CONFIG SET changes the live values in State)."""

    databases: int = DEFAULT_DATABASES
    hz: int = DEFAULT_HZ
    maxmemory: int = 0
    maxmemory_policy: str = "noeviction"
    maxmemory_samples: int = DEFAULT_SAMPLES


class State:
    """Everything the commands share: keyspace, pub/sub, blocking, settings, counters."""

    def __init__(
        self, settings: CacheSettings | None = None, clock: Callable[[], int] = wall_clock_ms
    ) -> None:
        settings = settings or CacheSettings()
        self.keyspace = Keyspace(settings.databases, clock)
        self.evictor = Evictor(self.keyspace)
        self.evictor.samples = settings.maxmemory_samples
        self.evictor.configure(settings.maxmemory, settings.maxmemory_policy)
        self.hub = Hub()
        self.blocking = Blocking(self.keyspace)
        self.clients: dict[int, Client] = {}
        self.hz = settings.hz
        self.port = 0
        self.started = time.time()
        self.commands_processed = 0
        self.connections_received = 0
        self.pubsub_output_limit = PUBSUB_OUTPUT_LIMIT
        self.hub_dropped = 0  # subscribers disconnected for not reading
        self.ops_per_sec = 0
        self._ids = itertools.count(1)
        self._ops_sample = (time.monotonic(), 0)
        self.extra_config: dict[str, str] = {
            "save": "",
            "appendonly": "no",
            "databases": str(settings.databases),
            "lfu-log-factor": "10",
            "lfu-decay-time": "1",
        }

    def new_client_id(self) -> int:
        self.connections_received += 1
        return next(self._ids)

    def cron(self) -> None:
        """One tick: active expiry within its time budget, eviction, ops/sec."""
        budget = EXPIRE_TIME_PERC / 100 / self.hz
        self.keyspace.active_expire(budget)
        if self.evictor.over():
            self.evictor.make_room()
        now = time.monotonic()
        t0, n0 = self._ops_sample
        if now - t0 >= 1.0:
            self.ops_per_sec = int((self.commands_processed - n0) / (now - t0))
            self._ops_sample = (now, self.commands_processed)

    def info_server(self) -> dict[str, Any]:
        return {
            "redis_version": VERSION,
            "redis_mode": "standalone",
            "implementation": "syslab servers.cache (Python)",
            "os": os.uname().sysname,
            "arch_bits": 64,
            "process_id": os.getpid(),
            "tcp_port": self.port,
            "uptime_in_seconds": int(time.time() - self.started),
            "hz": self.hz,
        }


async def _cron_loop(state: State) -> None:
    while True:
        await asyncio.sleep(1 / state.hz)
        state.cron()


def shell_config(host: str, port: int, timeout: float = 0) -> ShellConfig:
    """The shell settings a cache wants: Redis's maxclients, its refusal, its ``timeout``.

    ``timeout`` 0 means never close an idle client, as Redis's default: a
    subscriber or a BLPOP may legitimately wait for hours. (Redis also exempts
    blocked and subscribed clients from a non-zero timeout; the shell's idle
    sweep does not know about them.)
    """
    return ShellConfig(
        host=host,
        port=port,
        max_connections=MAX_CLIENTS,
        refuse_message=MAX_CLIENTS_ERROR,
        idle_timeout=timeout if timeout > 0 else math.inf,
    )


async def serve(config: ShellConfig, state: State | None = None) -> tuple[Server, State]:
    """Start the cache; returns once listening, with its state (tests inspect it)."""
    state = state or State()

    def factory(conn: Connection) -> Client:
        return Client(state, conn)

    server = await start(config=config, session_factory=factory)
    state.port = server.port
    server.background(_cron_loop(state), "cron")  # stops with the server
    return server, state
