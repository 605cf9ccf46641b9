"""The GFS master: the namespace, chunk versions and leases, and the cluster's housekeeping.

One process, one event loop. Every mutation of metadata (``meta.Meta``) is
first appended to the operation log and fsynced (``oplog``), then applied,
then acknowledged: SIGKILL at any point loses nothing that was acknowledged.
Mutations of one path are serialised by per-path read/write locks
(``meta.PathLocks``) while they wait on chunkservers.

What lives only in memory, rebuilt after a restart:

* **locations** (handle -> chunkservers), from heartbeats, as in the paper;
* **leases** (handle -> primary, expiry). A lease is granted to one replica for
  ``lease`` seconds; before it, the chunk's version is bumped (logged) and sent
  to every live replica, so a replica that missed the mutation era is
  recognisably *stale* when it comes back and is told to delete its copy. The
  primary asks for extensions in its heartbeats while it is being written. A
  master that restarts waits one lease period before granting new leases
  (an old primary may still believe in its lease);
* **liveness**: a chunkserver silent for ``dead_after`` seconds is dead: its
  replicas no longer count, a lease it held as secondary is revoked at its
  primary (so the next mutation runs at a new version without it), and
  re-replication starts, most-endangered chunks first (a chunk with one live
  replica before one with two).

Garbage collection is lazy as in the paper: ``delete`` renames the file to a
hidden name with the deletion time; after ``gc_delay`` seconds the hidden file
is purged (logged), its chunks become orphans, and a chunkserver reporting a
handle the master does not know is told to delete it in the heartbeat reply.

Snapshots (section 3.4, ``snapshot``): leases on the source's chunks are
revoked, the op is logged, and the copy names the same chunk handles; a chunk
named by two files is copied on its next write, by each replica locally
(``_copy_on_write``), before a lease is granted on it.

Rebalancing: a chunk above its goal loses the replica on the fullest server;
when nothing is below goal and one server holds clearly more chunks than
another (a new one joined), chunks are copied to the emptier one, and the
first rule then removes the extra copy.

What a production master does differently: shadow masters reading the log,
log replication to remote machines before acknowledging, rack-aware placement,
rebalancing by disk use, and a checkpoint built in a thread beside new ops.
It also authenticates its peers. This cell, like the paper's, trusts its
network: any process that reaches the master's port may call any method, so a
heartbeat forged in a chunkserver's name (reporting no chunks) takes that
server's replicas out of the chunk map until its next real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netlib.rpc import AppError, Peers, RpcError, serve_methods
from netlib.shell import Server, ShellConfig, start
from storage.bitcask.lock import DirLock

from .errors import BadPath, Exists, LeaseBusy, NoReplica, NoSuchFile
from .meta import HIDDEN, PathError, PathLocks, check_path, parent
from .oplog import OpLog

log = logging.getLogger("servers.gfs.master")

# One ``chunk(create=True)`` fills a hole before its index with new chunks, at most this
# many (64 GB of 64 MB chunks): a write at offset 2**60 is an error, not weeks of allocations.
MAX_NEW_CHUNKS = 1024


@dataclass(frozen=True)
class MasterConfig:
    dir: Path
    replication: int = 3
    chunk_size: int = 64 * 1024 * 1024
    lease: float = 60.0
    dead_after: float = 15.0  # seconds without a heartbeat before a chunkserver is dead
    gc_delay: float = 3 * 24 * 3600.0  # the paper's default: three days
    checkpoint_every: int = 1000
    tick: float = 1.0  # housekeeping period (liveness, re-replication, GC, checkpoints)
    clone_parallelism: int = 4
    rpc_timeout: float = 10.0


@dataclass
class ChunkServerInfo:
    last_seen: float
    chunks: set[int] = field(default_factory=set)
    free: int | None = None  # disk bytes free at its last heartbeat (None: not told)


@dataclass
class Lease:
    primary: str
    expiry: float
    replicas: frozenset[str] = frozenset()  # who took the lease's version


class Master:
    def __init__(self, config: MasterConfig) -> None:
        self.config = config
        config.dir.mkdir(parents=True, exist_ok=True)
        # Two masters on one directory would interleave their op logs: the second refuses.
        self.dir_lock = DirLock(str(config.dir), "GFS master")
        self.oplog = OpLog(config.dir, config.checkpoint_every)
        self.meta = self.oplog.recover()
        self.servers: dict[str, ChunkServerInfo] = {}
        self.locations: dict[int, set[str]] = {}
        self.leases: dict[int, Lease] = {}
        self.locks = PathLocks()
        self._lock_changed = asyncio.Condition()
        self._chunk_locks: dict[int, asyncio.Lock] = {}
        self.peers = Peers(config.rpc_timeout)
        self.cloning: set[int] = set()
        self.allocating: set[int] = set()  # created on chunkservers, not yet logged
        self.dropping: dict[str, set[int]] = {}  # server -> replicas to delete (over-replicated)
        self.placed: dict[tuple[str, int], float] = {}  # (server, handle) -> when we put it there
        self.started = time.monotonic()
        # After a restart, leases granted before the crash may still be running.
        self.no_leases_before = self.started + (config.lease if self.meta.files else 0.0)
        self.stats = {"rereplicated": 0, "stale_dropped": 0, "orphans_dropped": 0, "purged": 0,
                      "rebalanced": 0}  # fmt: skip

    # -- plumbing ------------------------------------------------------------------
    def methods(self) -> dict[str, Any]:
        return {
            "mkdir": self.mkdir, "create": self.create, "ls": self.ls, "stat": self.stat,
            "delete": self.delete, "chunk": self.chunk, "last_chunk": self.last_chunk,
            "snapshot": self.snapshot, "heartbeat": self.heartbeat, "report_corrupt": self.report_corrupt, "info": self.info,
        }  # fmt: skip

    def log_op(self, op: list[Any]) -> None:
        """Durable, then applied (blocking the loop for one fsync, shared by group commit)."""
        self.oplog.append(op)
        self.meta.apply(op)

    @contextlib.asynccontextmanager
    async def locked(self, path: str, write: bool) -> AsyncIterator[None]:
        plan = PathLocks.plan(path, write)
        async with self._lock_changed:
            await self._lock_changed.wait_for(lambda: self.locks.try_acquire(plan))
        try:
            yield
        finally:
            async with self._lock_changed:
                self.locks.release(plan)
                self._lock_changed.notify_all()

    def alive(self, addr: str) -> bool:
        info = self.servers.get(addr)
        return info is not None and time.monotonic() - info.last_seen <= self.config.dead_after

    def placeable(self) -> list[str]:
        """Live chunkservers with room for a whole chunk: where new chunks and copies go.
        One that answered ``NoSpace`` stays out until a heartbeat reports room again."""
        return [a for a, i in self.servers.items()
                if self.alive(a) and (i.free is None or i.free >= self.config.chunk_size)]  # fmt: skip

    def _no_space(self, addr: str, e: BaseException) -> None:
        if isinstance(e, RpcError) and e.type == "NoSpace" and addr in self.servers:
            self.servers[addr].free = 0

    def live_replicas(self, handle: int) -> list[str]:
        return sorted(a for a in self.locations.get(handle, ()) if self.alive(a))

    @staticmethod
    def _path(path: Any) -> str:
        try:
            return check_path(path)
        except PathError as e:
            raise BadPath(str(e)) from None

    # -- namespace -----------------------------------------------------------------
    async def mkdir(self, path: str) -> bool:
        p = self._path(path)
        async with self.locked(p, write=True):
            if p in self.meta.files:
                raise Exists(f"{p} is a file")
            self._mkdirs(p)
        return True

    def _mkdirs(self, p: str) -> None:
        """Create ``p`` and its missing parents (under the caller's lock on ``p``)."""
        missing = []
        d = p
        while d not in self.meta.dirs:
            if d in self.meta.files:
                raise BadPath(f"{d} is a file")
            missing.append(d)
            d = parent(d)
        for d in reversed(missing):
            self.log_op(["mkdir", d])

    async def create(self, path: str, exist_ok: bool = False) -> bool:
        p = self._path(path)
        if p == "/":
            raise BadPath("/ is a directory")
        async with self.locked(p, write=True):
            if p in self.meta.dirs:
                raise Exists(f"{p} is a directory")
            if p in self.meta.files:
                if exist_ok:
                    return False
                raise Exists(f"{p} exists")
            self._mkdirs(parent(p))
            self.log_op(["create", p])
        return True

    async def ls(self, path: str = "/") -> list[dict[str, Any]]:
        p = self._path(path)
        async with self.locked(p, write=False):
            if p in self.meta.files:
                return [{"name": p.rsplit("/", 1)[1], "dir": False, "chunks": len(self.meta.files[p])}]
            if p not in self.meta.dirs:
                raise NoSuchFile(p)
            return self.meta.listing(p)

    async def stat(self, path: str) -> dict[str, Any]:
        p = self._path(path)
        async with self.locked(p, write=False):
            handles = self._file(p)
            return {"path": p, "chunk_size": self.config.chunk_size,
                    "chunks": [self._chunk_info(h, i) for i, h in enumerate(handles)]}  # fmt: skip

    def _file(self, p: str) -> list[int]:
        if p not in self.meta.files:
            raise NoSuchFile(p)
        return self.meta.files[p]

    def _chunk_info(self, handle: int, index: int) -> dict[str, Any]:
        lease = self.leases.get(handle)
        primary = lease.primary if lease and lease.expiry > time.monotonic() else None
        return {"index": index, "handle": handle, "version": self.meta.versions[handle],
                "primary": primary, "replicas": self.live_replicas(handle),
                "chunk_size": self.config.chunk_size}  # fmt: skip

    async def delete(self, path: str) -> bool:
        p = self._path(path)
        async with self.locked(p, write=True):
            if p in self.meta.dirs:
                if p == "/" or any(f.startswith(p + "/") for f in (*self.meta.files, *self.meta.dirs)):
                    raise BadPath(f"{p} is a directory that is not empty")
                raise BadPath(f"{p} is a directory")
            self._file(p)
            ts = time.time()
            self.log_op(["delete", p, self.meta.hidden_name(p, ts), ts])
        return True

    # -- chunks and leases -----------------------------------------------------------
    async def chunk(self, path: str, index: int, create: bool = False, lease: bool = False) -> dict[str, Any]:
        """Chunk ``index`` of a file: handle, version, replicas; ``create`` allocates it
        when it is the next one; ``lease`` makes sure a primary holds a lease."""
        p = self._path(path)
        if not isinstance(index, int) or index < 0:
            raise AppError("index must be a non-negative integer", type="BadParams")
        async with self.locked(p, write=create or lease):
            handles = self._file(p)
            if create and index - len(handles) >= MAX_NEW_CHUNKS:
                raise AppError(f"chunk {index} is more than {MAX_NEW_CHUNKS} chunks past the end of {p} "
                               f"({len(handles)} chunks): one call allocates at most that many", type="BadParams")  # fmt: skip
            while create and index >= len(handles):
                await self._allocate(p)
            if index >= len(handles):
                raise NoSuchFile(f"{p} has no chunk {index}")
            if lease and self.meta.refs.get(handles[index], 1) > 1:
                await self._copy_on_write(p, index)
            handle = handles[index]
        if lease:
            await self._ensure_lease(handle)
        return self._chunk_info(handle, index)

    async def last_chunk(self, path: str, after: int | None = None) -> dict[str, Any]:
        """Record append's chunk: the file's last one, leased. ``after`` = the handle the
        client found full: a new chunk is added unless another client did it already."""
        p = self._path(path)
        async with self.locked(p, write=True):
            handles = self._file(p)
            if not handles or (after is not None and handles[-1] == after):
                await self._allocate(p)
            if self.meta.refs.get(handles[-1], 1) > 1:
                await self._copy_on_write(p, len(handles) - 1)
            handle, index = handles[-1], len(handles) - 1
        await self._ensure_lease(handle)
        return self._chunk_info(handle, index)

    async def snapshot(self, src: str, dst: str) -> int:
        """Copy a file or a directory tree at once, no data moved (section 3.4): leases on
        the source's chunks are revoked first, so the next write to any of them asks the
        master, which copies the chunk before handing out a lease. Returns the files copied."""
        s, d = self._path(src), self._path(dst)
        if d == s or d.startswith(s.rstrip("/") + "/"):
            raise BadPath(f"cannot snapshot {s} into itself")
        plan = sorted(set(PathLocks.plan(s, True)) | set(PathLocks.plan(d, True)))
        plan = [(p, w) for p, w in plan if not (not w and (p, True) in plan)]
        async with self._lock_changed:
            await self._lock_changed.wait_for(lambda: self.locks.try_acquire(plan))
        try:
            if not self.meta.exists(s):
                raise NoSuchFile(s)
            if self.meta.exists(d):
                raise Exists(f"{d} exists")
            pairs = self.meta.snapshot_pairs(s, d)
            for h in {h for f, _ in pairs for h in self.meta.files[f]}:
                lease = self.leases.get(h)
                if lease is None or lease.expiry <= time.monotonic():
                    continue
                if not self.alive(lease.primary):
                    raise LeaseBusy(f"chunk {h}: the lease of dead {lease.primary} has not run out")
                await self.peers.call(lease.primary, "revoke_lease", handle=h)
                self.leases.pop(h, None)
            self.log_op(["snapshot", s, d])
            return len(pairs)
        finally:
            async with self._lock_changed:
                self.locks.release(plan)
                self._lock_changed.notify_all()

    async def _copy_on_write(self, p: str, index: int) -> None:
        """Chunk ``index`` of ``p`` is shared with a snapshot: give ``p`` its own copy,
        made by every live replica from its local one (no data crosses the network)."""
        old = self.meta.files[p][index]
        version = self.meta.versions[old]
        live = self.live_replicas(old)
        if not live:
            raise NoReplica(f"chunk {old} has no live replica to copy")
        new = self.meta.next_handle
        self.meta.next_handle += 1
        self.allocating.add(new)
        try:
            got = await self._each(live, "copy_chunk", handle=old, new_handle=new, version=version)
        finally:
            self.allocating.discard(new)
        if not got:
            raise NoReplica(f"no replica of chunk {old} could copy it")
        self.log_op(["cow", p, index, new, version])
        self.locations[new] = set(got)
        for a in got:
            self._place(a, new)
        log.info("chunk %d of %s copied on write: %d -> %d", index, p, old, new)

    async def _allocate(self, p: str) -> None:
        """A new chunk at the end of ``p``, created on ``replication`` live chunkservers."""
        live = self.placeable()
        if not live:
            raise NoReplica("no live chunkserver with room for a chunk")
        random.shuffle(live)
        live.sort(key=lambda a: len(self.servers[a].chunks))  # the least loaded first
        handle = self.meta.next_handle
        self.meta.next_handle += 1  # reserved now: a concurrent allocation takes the next
        self.allocating.add(handle)
        try:
            got = await self._each(live[: self.config.replication], "create_chunk", handle=handle, version=1)
        finally:
            self.allocating.discard(handle)
        if not got:
            raise NoReplica(f"no chunkserver could create chunk {handle}")
        self.log_op(["add_chunk", p, handle])
        self.locations[handle] = set(got)
        for a in got:
            self._place(a, handle)

    async def _each(self, addrs: list[str], method: str, **params: Any) -> list[str]:
        """Call ``method`` on every address at once; the addresses that answered without error."""
        results = await asyncio.gather(*(self.peers.call(a, method, **params) for a in addrs),
                                       return_exceptions=True)  # fmt: skip
        for a, r in zip(addrs, results, strict=True):
            if isinstance(r, BaseException):
                log.info("%s on %s failed: %s", method, a, r)
                self._no_space(a, r)
        return [a for a, r in zip(addrs, results, strict=True) if not isinstance(r, BaseException)]

    async def _ensure_lease(self, handle: int) -> Lease:
        lock = self._chunk_locks.setdefault(handle, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            live = self.live_replicas(handle)
            lease = self.leases.get(handle)
            if lease is not None and lease.expiry > now:
                if lease.primary in live and lease.replicas <= set(live):
                    return lease
                if lease.primary in live:
                    # A replica of this lease died: mutating without it at the same version
                    # would make its copy look current when it returns. End the lease
                    # (the primary finishes the mutation in flight), then bump.
                    try:
                        await self.peers.call(lease.primary, "revoke_lease", handle=handle)
                    except RpcError as e:
                        raise LeaseBusy(f"chunk {handle}: cannot revoke {lease.primary}'s lease: {e}") from None
                    self.leases.pop(handle, None)
                    lease = None
            if lease is not None and lease.expiry > now:
                raise LeaseBusy(f"chunk {handle}: the lease of {lease.primary} runs {lease.expiry - now:.1f}s more")
            if now < self.no_leases_before:
                raise LeaseBusy(f"master restarted: no new lease for {self.no_leases_before - now:.1f}s")
            if not live:
                raise NoReplica(f"chunk {handle} has no live replica")
            version = self.meta.versions[handle] + 1
            self.log_op(["version", handle, version])
            got = await self._each(live, "set_version", handle=handle, version=version)
            for a in set(live) - set(got):
                self._drop_location(handle, a)  # it missed the new version: stale from now on
            if not got:
                raise NoReplica(f"chunk {handle}: no replica took version {version}")
            primary = random.choice(got)
            try:
                await self.peers.call(primary, "grant_lease", handle=handle, version=version,
                                      seconds=self.config.lease)  # fmt: skip
            except RpcError as e:
                raise NoReplica(f"chunk {handle}: primary {primary} refused the lease: {e}") from None
            lease = Lease(primary, time.monotonic() + self.config.lease, frozenset(got))
            self.leases[handle] = lease
            return lease

    def _place(self, addr: str, handle: int) -> None:
        self.servers[addr].chunks.add(handle)
        self.placed[(addr, handle)] = time.monotonic()
        if len(self.placed) > 100_000:  # only the recent ones matter
            cutoff = time.monotonic() - self.config.dead_after
            self.placed = {k: t for k, t in self.placed.items() if t > cutoff}

    def _drop_location(self, handle: int, addr: str) -> None:
        self.locations.get(handle, set()).discard(addr)
        info = self.servers.get(addr)
        if info is not None:
            info.chunks.discard(handle)

    # -- chunkservers ----------------------------------------------------------------
    async def heartbeat(self, addr: str, chunks: list[list[int]], extend: list[int] | None = None,
                        free: int | None = None) -> dict[str, Any]:  # fmt: skip
        """A chunkserver's report: every chunk it holds (handle, version) and the leases it
        wants extended. Answers which chunks to delete (orphans, stale) and which
        leases were extended."""
        now = time.monotonic()
        info = self.servers.get(addr)
        if info is None or not self.alive(addr):
            log.info("chunkserver %s is up with %d chunk(s)", addr, len(chunks))
            info = self.servers[addr] = ChunkServerInfo(now)
        info.last_seen = now
        info.free = free if isinstance(free, int) else None
        delete, held = [], set()
        drop = self.dropping.pop(addr, set())
        for handle, version in chunks:
            if handle in drop:
                continue
            current = self.meta.versions.get(handle)
            if current is None:
                if handle not in self.allocating:  # an orphan: its file was purged (or never logged)
                    delete.append([handle, 0])
                    self.stats["orphans_dropped"] += 1
            elif version < current:
                # The chunkserver checks the version again: this report may predate a bump it got since.
                log.info("chunk %d on %s is stale (v%d < v%d): deleting it", handle, addr, version, current)
                delete.append([handle, current])
                self.stats["stale_dropped"] += 1
            else:
                if version > current:  # a bump we logged... never acknowledged? take the higher
                    self.log_op(["version", handle, version])
                held.add(handle)
        for h in info.chunks - held - drop:
            # Not reported: gone from that server -- unless it was placed there after the
            # report was taken (a report in flight does not yet list a brand-new chunk).
            if now - self.placed.get((addr, h), 0.0) > self.config.dead_after:
                self.locations.get(h, set()).discard(addr)
            else:
                held.add(h)
        for h in held:
            self.locations.setdefault(h, set()).add(addr)
        info.chunks = held
        extended = []
        for h in extend or []:
            lease = self.leases.get(h)
            if lease is not None and lease.primary == addr and lease.expiry > now:
                lease.expiry = now + self.config.lease
                extended.append(h)
        return {"delete": delete, "drop": sorted(drop), "extended": extended, "lease": self.config.lease,
                "chunk_size": self.config.chunk_size}  # fmt: skip

    async def report_corrupt(self, addr: str, handle: int) -> bool:
        """A replica that failed its checksum, or missed a write on a full disk: dropped
        (re-replication copies a good one). If that server held the lease, it gave it up."""
        log.warning("chunk %d on %s is corrupt or withdrawn: dropping that replica", handle, addr)
        self._drop_location(handle, addr)
        lease = self.leases.get(handle)
        if lease is not None and lease.primary == addr:
            self.leases.pop(handle, None)
        return True

    async def info(self) -> dict[str, Any]:
        return {"servers": {a: {"alive": self.alive(a), "chunks": len(i.chunks)} for a, i in self.servers.items()},
                "files": len(self.meta.files), "chunks": len(self.meta.versions), "stats": self.stats,
                "under_replicated": len(self.under_replicated())}  # fmt: skip

    # -- housekeeping ------------------------------------------------------------------
    async def run_background(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick)
            try:
                await self.housekeeping()
            except Exception:
                log.exception("housekeeping failed")

    async def housekeeping(self) -> None:
        self._detect_dead()
        self._collect_garbage()
        await self._rereplicate()
        self._rebalance()
        if self.oplog.since_checkpoint >= self.config.checkpoint_every:
            self.oplog.checkpoint(self.meta)
            log.info("checkpoint written")

    def _detect_dead(self) -> None:
        for addr in [a for a in self.servers if not self.alive(a)]:
            info = self.servers.pop(addr)
            log.warning("chunkserver %s is dead: %d chunk(s) lose a replica", addr, len(info.chunks))
            for h in info.chunks:
                self.locations.get(h, set()).discard(addr)
                lease = self.leases.get(h)
                if lease is not None and lease.primary != addr and self.alive(lease.primary):
                    self.leases.pop(h)  # the next mutation bumps the version without the dead one
                    self._spawn(self.peers.call(lease.primary, "revoke_lease", handle=h))

    def _spawn(self, coro: Any) -> None:
        async def quiet() -> None:
            with contextlib.suppress(Exception):
                await coro

        asyncio.ensure_future(quiet())

    def _collect_garbage(self) -> None:
        now = time.time()
        for hidden, ts in list(self.meta.trash.items()):
            if now - ts >= self.config.gc_delay:
                self.log_op(["purge", hidden])
                self.stats["purged"] += 1

    def under_replicated(self) -> list[tuple[int, int]]:
        """(missing replicas, handle) of every chunk below its goal that still has a source."""
        out = []
        for h in self.meta.versions:
            n = len(self.live_replicas(h))
            if 0 < n < self.config.replication:
                out.append((self.config.replication - n, h))
        return sorted(out, reverse=True)  # the furthest below its goal first

    async def _rereplicate(self) -> None:
        todo = [(m, h) for m, h in self.under_replicated() if h not in self.cloning]
        slots = self.config.clone_parallelism - len(self.cloning)
        for _missing, h in todo[: max(0, slots)]:
            sources = self.live_replicas(h)
            targets = [a for a in self.placeable() if a not in self.locations.get(h, ())]
            if not targets:
                continue
            target = min(targets, key=lambda a: len(self.servers[a].chunks))
            self.cloning.add(h)
            self._spawn(self._clone(h, random.choice(sources), target))

    def _rebalance(self) -> None:
        """An over-replicated chunk loses its replica on the fullest server (told in that
        server's next heartbeat reply). When nothing is below its goal and the fullest
        server holds clearly more than the emptiest (a new or returning one), chunks are
        copied from the one to the other: over-replicated, they lose the full server's copy."""
        now = time.monotonic()
        for h in list(self.meta.versions):
            reps = self.live_replicas(h)
            lease = self.leases.get(h)
            if len(reps) <= self.config.replication or h in self.cloning or (lease and lease.expiry > now):
                continue  # a leased chunk is being written to the replicas its lease names
            victim = max(reps, key=lambda a: (len(self.servers[a].chunks), a))
            self._drop_location(h, victim)
            self.dropping.setdefault(victim, set()).add(h)
            self.stats["rebalanced"] += 1
        live, room = [a for a in self.servers if self.alive(a)], self.placeable()
        if len(live) < 2 or not room or self.cloning or self.under_replicated():
            return
        load = {a: len(self.servers[a].chunks) for a in live}
        full, empty = max(live, key=lambda a: load[a]), min(room, key=lambda a: load[a])
        if load[full] - load[empty] <= max(1, load[full] // 10):
            return
        movable = [h for h in self.servers[full].chunks if h in self.meta.versions and empty not in self.locations.get(h, ())]
        for h in movable[: min(self.config.clone_parallelism, (load[full] - load[empty]) // 2)]:
            self.cloning.add(h)
            self._spawn(self._clone(h, full, empty))

    async def _clone(self, handle: int, source: str, target: str) -> None:
        try:
            version = self.meta.versions.get(handle)
            if version is None:
                return
            # No mutation may run while the copy is taken (it could miss it at the same
            # version): the lease is revoked at its primary, which waits for the one in
            # flight. A new lease bumps the version, and a copy at the old one is stale.
            lease = self.leases.pop(handle, None)
            if lease is not None and lease.expiry > time.monotonic():
                if not self.alive(lease.primary):
                    self.leases[handle] = lease  # it cannot mutate anything; wait for expiry
                    return
                await self.peers.call(lease.primary, "revoke_lease", handle=handle)
            await self.peers.call(target, "replicate", handle=handle, version=version, source=source,
                                  timeout=max(self.config.rpc_timeout, 60.0))  # fmt: skip
            if self.meta.versions.get(handle) == version and target in self.servers:
                self.locations.setdefault(handle, set()).add(target)
                self._place(target, handle)
                self.stats["rereplicated"] += 1
                log.info("chunk %d copied %s -> %s", handle, source, target)
        except RpcError as e:
            log.info("cloning chunk %d %s -> %s failed: %s", handle, source, target, e)
            self._no_space(target, e)
        finally:
            self.cloning.discard(handle)

    async def close(self) -> None:
        await self.peers.close()
        self.oplog.close()
        self.dir_lock.release()


async def serve(shell: ShellConfig, config: MasterConfig) -> tuple[Server, Master]:
    master = Master(config)
    server = await start(serve_methods(master.methods()), shell)
    server.background(master.run_background(), "gfs-housekeeping")
    return server, master


__all__ = ["HIDDEN", "Master", "MasterConfig", "serve"]
