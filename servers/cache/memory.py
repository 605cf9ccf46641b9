"""used_memory as Redis accounts it: the server's own overhead plus the dataset.

Strategy. Redis's ``used_memory`` is every byte its allocator handed out, so an
empty server is far from 0: the structures it builds at startup (shared
objects, the command table, the databases: ``used_memory_startup``), then each
connected client (the client struct, its 16 KB reply buffer, its query buffer
and any reply list it has not sent yet), the cached scripts and the function
libraries. ``maxmemory`` is compared with that total, so ``maxmemory 1``
refuses every write that may grow memory even on an empty server, and an
eviction policy frees keys only down to what the overhead leaves.

The dataset here is the per-key estimate ``Keyspace.used`` (modelled on
Redis's allocations, see keyspace.py), so the overhead is modelled on Redis's
too rather than measured from this Python process (whose real footprint, tens
of MB of interpreter, INFO reports apart as ``used_memory_rss``):

* startup: what redis-server 7.0.15 reports as ``used_memory_startup`` on
  x86-64 with its default 16 databases (876 144 bytes, measured);
* each client: an idle client's share of ``mem_clients_normal`` in that same
  redis-server (22 272 bytes: the struct and its static reply buffer), plus
  what it holds right now: unparsed query bytes, commands queued while it
  waits, replies written but not yet taken by the peer;
* each cached script: its body plus a fixed entry (the sha's sds, the dict
  entry, the object header); each function library likewise.

Cost. Whether a write fits must be cheap: ``used()`` is O(1), the per-client
fixed cost times ``len(clients)`` plus the dataset counter plus ``variable``,
the buffers and scripts summed by ``sample()``. The cron samples every tick
while maxmemory is set (Redis also sums client memory in its clientsCron), and
INFO samples before reporting, so a buffer is at most one tick stale for
eviction.

Not counted for eviction (Redis's ``freeMemoryGetNotCountedMemory``): the AOF
buffer, so that logging the evictions cannot itself cause more of them. There
are no replicas, so no replica output buffers and no backlog.
"""

from __future__ import annotations

import os
from typing import Any

STARTUP_BYTES = 876_144  # redis-server 7.0.15's used_memory_startup (x86-64, 16 databases)
CLIENT_BYTES = 22_272  # one idle client in that redis-server's mem_clients_normal
SCRIPT_ENTRY_BYTES = 64  # a cached script besides its body: sha sds, dict entry, object
FUNCTIONS_BASE_BYTES = 200  # Redis's used_memory_functions with no library loaded
LIBRARY_ENTRY_BYTES = 128  # a library besides its code: name, dicts, the engine's record
FUNCTION_ENTRY_BYTES = 64  # each function of a library: name, dict entry, flags


def client_buffers(c: Any) -> int:
    """Bytes a connection holds beyond its fixed cost: query buffer (unparsed bytes and
    commands queued while it waits) and replies not yet taken by the peer."""
    held = c.held
    query = c.parser.buffered() + c.queued
    return query + c.conn.write_buffer_size() + (sum(map(len, held)) if held else 0)


def process_rss() -> int:
    """This process's resident set in bytes (the real footprint, beside the accounting)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def human(n: int) -> str:
    """Redis's bytesToHuman: 1.50K, 2.00M..."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


class Memory:
    """The server's accounted memory: overhead (startup, clients, scripts) + dataset."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.startup = STARTUP_BYTES
        self.buffers = 0  # the clients' query and reply bytes at the last sample
        self.scripts_eval = 0  # the EVAL script cache at the last sample
        self.functions = FUNCTIONS_BASE_BYTES  # the function libraries at the last sample
        self.aof_buffer = 0  # not yet written to the AOF, at the last sample
        self.peak = 0

    def clients(self) -> int:
        return CLIENT_BYTES * len(self.state.clients) + self.buffers

    def overhead(self) -> int:
        return (self.startup + self.clients() + self.scripts_eval + self.functions
                + self.aof_buffer)  # fmt: skip

    def used(self) -> int:
        """Redis's used_memory (O(1): the variable parts as last sampled)."""
        return self.overhead() + self.state.keyspace.used

    def not_counted(self) -> int:
        """What eviction leaves out of used_memory: the AOF buffer."""
        return self.aof_buffer

    def for_eviction(self) -> int:
        """What maxmemory is compared with: used_memory less what is not counted."""
        return self.used() - self.not_counted()

    def sample(self) -> int:
        """Sum the variable parts now; returns used_memory (and keeps the peak)."""
        st = self.state
        self.buffers = sum(client_buffers(c) for c in list(st.clients.values()))
        eng = st.scripting
        if eng is not None:
            self.scripts_eval = sum(
                SCRIPT_ENTRY_BYTES + len(body) for _, _, body in list(eng.scripts.values())
            )
            self.functions = FUNCTIONS_BASE_BYTES + sum(
                LIBRARY_ENTRY_BYTES + len(lib.code) + FUNCTION_ENTRY_BYTES * len(lib.functions)
                for lib in list(eng.libraries.values())
            )
        p = st.persistence
        aof = p.aof if p is not None else None
        self.aof_buffer = len(aof.buf) if aof is not None else 0
        return self.track_peak()

    def track_peak(self) -> int:
        used = self.used()
        if used > self.peak:
            self.peak = used
        return used

    def info(self) -> dict[str, Any]:
        """INFO memory's accounting fields, in Redis's order and format."""
        used = self.sample()
        rss = process_rss()
        ks, ev = self.state.keyspace, self.state.evictor
        eng = self.state.scripting
        dataset = ks.used
        net = used - self.startup if used > self.startup else 1
        scripts = self.scripts_eval + self.functions
        return {
            "used_memory": used,
            "used_memory_human": human(used),
            "used_memory_rss": rss,
            "used_memory_rss_human": human(rss),
            "used_memory_peak": self.peak,
            "used_memory_peak_human": human(self.peak),
            "used_memory_peak_perc": f"{used * 100 / self.peak:.2f}%",
            "used_memory_overhead": self.overhead(),
            "used_memory_startup": self.startup,
            "used_memory_dataset": dataset,
            "used_memory_dataset_perc": f"{dataset * 100 / net:.2f}%",
            "used_memory_scripts_eval": self.scripts_eval,
            "number_of_cached_scripts": len(eng.scripts) if eng else 0,
            "number_of_functions": len(eng.functions) if eng else 0,
            "number_of_libraries": len(eng.libraries) if eng else 0,
            "used_memory_functions": self.functions,
            "used_memory_scripts": scripts,
            "used_memory_scripts_human": human(scripts),
            "maxmemory": ev.maxmemory,
            "maxmemory_human": human(ev.maxmemory),
            "maxmemory_policy": ev.policy,
            "maxmemory_samples": ev.samples,
            "mem_not_counted_for_evict": self.not_counted(),
            "mem_replication_backlog": 0,
            "mem_total_replication_buffers": 0,
            "mem_clients_slaves": 0,
            "mem_clients_normal": self.clients(),
            "mem_aof_buffer": self.aof_buffer,
        }
