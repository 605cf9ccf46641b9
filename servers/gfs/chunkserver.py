"""A GFS chunkserver: stores chunks (``chunkstore``), takes pushed data, and, as the
primary of a leased chunk, orders the mutations every replica applies.

The write path, as in the paper's Figure 2:

1. the client pushes the bytes to every replica along a chain (``push``: each
   stores them in its buffer under the client's data id, then forwards them
   to the next in the chain) -- data flow is separate from control flow;
2. the client asks the primary to ``write`` (or ``append``) that data id;
3. the primary, holding the chunk's lease, takes the chunk's lock, gives the
   mutation the next serial number, applies it, and sends ``apply`` (the
   serial, the offset, the data id) to every secondary; they apply it in that
   order because the primary sends the next only after the last was answered;
4. any secondary failing makes the primary answer ``ReplicaFailed``: the
   region is inconsistent and the client retries.

Record append: the primary picks the offset (the chunk's current end). If the
record does not fit, it pads the chunk to its full size everywhere and answers
``ChunkFull``, and the client appends to the next chunk. The master never
sees the data.

Heartbeats (every ``heartbeat`` seconds) report every chunk and its version;
the master answers with chunks to delete (stale or orphaned) and the leases it
extended (asked for chunks mutated since the last heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netlib.rpc import Peers, RpcError, serve_methods
from netlib.shell import Server, ShellConfig, start
from storage.bitcask.lock import DirLock

from .chunkstore import ChunkStore
from .errors import (
    ChunkFull,
    Corrupt,
    NoData,
    NoSpace,
    NotPrimary,
    ReplicaFailed,
    StaleVersion,
    TooLarge,
)

log = logging.getLogger("servers.gfs.chunkserver")

PIECE = 1024 * 1024  # bytes per read when copying a chunk from another replica
MAX_CHUNK = 1 << 30  # the master's largest --chunk-size


@contextlib.contextmanager
def disk() -> Iterator[None]:
    """A full disk is the caller's typed ``NoSpace`` (the master places the chunk
    elsewhere), not a crash with a traceback; other OS errors go on as they were."""
    try:
        yield
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise NoSpace(f"disk full: {e.strerror}") from None


@dataclass(frozen=True)
class ChunkServerConfig:
    dir: Path
    master: str  # host:port
    heartbeat: float = 5.0
    buffer_bytes: int = 256 * 1024 * 1024  # pushed data held, oldest dropped past it
    buffer_ttl: float = 60.0  # seconds pushed data waits for its write
    rpc_timeout: float = 10.0


class ChunkServer:
    def __init__(self, config: ChunkServerConfig) -> None:
        self.config = config
        Path(config.dir).mkdir(parents=True, exist_ok=True)
        # Two chunkservers on one directory would count as two replicas of one copy
        # (and delete each other's temporary files): the second refuses to start.
        self.dir_lock = DirLock(str(config.dir), "GFS chunkserver")
        self.store = ChunkStore(config.dir)
        self.addr = ""  # host:port, known once listening
        self.peers = Peers(config.rpc_timeout)
        self.leases: dict[int, float] = {}  # handle -> monotonic expiry (we are primary)
        self.mutated: set[int] = set()  # leased chunks written since the last heartbeat
        self.locks: dict[int, asyncio.Lock] = {}
        self.serials: dict[int, int] = {}
        self.buffer: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self.buffered = 0
        self.cloning: set[int] = set()
        self.withdrawn: set[int] = set()  # a write hit a full disk: no longer reported or written
        self.lease_seconds = 60.0
        self.chunk_size = 0  # the cell's, from the master's heartbeat replies (0: not yet told)

    def methods(self) -> dict[str, Any]:
        return {
            "push": self.push, "write": self.write, "append": self.append, "apply": self.apply,
            "read": self.read, "length": self.length, "create_chunk": self.create_chunk,
            "set_version": self.set_version, "grant_lease": self.grant_lease,
            "revoke_lease": self.revoke_lease, "copy_chunk": self.copy_chunk, "replicate": self.replicate, "info": self.info,
        }  # fmt: skip

    def lock(self, handle: int) -> asyncio.Lock:
        return self.locks.setdefault(handle, asyncio.Lock())

    # -- data flow ---------------------------------------------------------------------
    async def push(self, data_id: str, data: bytes, chain: list[str] | None = None) -> bool:
        """Hold ``data`` under ``data_id``, then pass it on to the rest of the chain."""
        if not isinstance(data, bytes) or not isinstance(data_id, str):
            raise RpcError("data must be bytes, data_id a string", type="BadParams")
        self._hold(data_id, data)
        if chain:
            await self.peers.call(chain[0], "push", data_id=data_id, data=data, chain=chain[1:])
        return True

    def _hold(self, data_id: str, data: bytes) -> None:
        now = time.monotonic()
        old = self.buffer.pop(data_id, None)
        if old is not None:
            self.buffered -= len(old[0])
        self.buffer[data_id] = (data, now)
        self.buffered += len(data)
        while self.buffer and (self.buffered > self.config.buffer_bytes
                               or now - next(iter(self.buffer.values()))[1] > self.config.buffer_ttl):  # fmt: skip
            _, (dropped, _) = self.buffer.popitem(last=False)
            self.buffered -= len(dropped)

    def _data(self, data_id: str) -> bytes:
        got = self.buffer.get(data_id)
        if got is None:
            raise NoData(f"no pushed data {data_id!r} here (never pushed, or dropped)")
        return got[0]

    def _release(self, data_id: str) -> None:
        got = self.buffer.pop(data_id, None)
        if got is not None:
            self.buffered -= len(got[0])

    # -- control flow: the primary -------------------------------------------------------
    def _check(self, handle: int, version: int) -> None:
        have = self.store.versions.get(handle)
        if have is None or handle in self.withdrawn:
            raise StaleVersion(f"chunk {handle} is not here")
        if have != version:
            raise StaleVersion(f"chunk {handle} is at version {have}, not {version}")

    def _check_size(self, chunk_size: Any) -> None:
        """The chunk size a mutation names is the cell's, never a caller's wish: a claimed
        1 TB chunk would let one write make a huge sparse file and a CRC per block of it."""
        if not isinstance(chunk_size, int) or not 0 < chunk_size <= MAX_CHUNK or (
                self.chunk_size and chunk_size != self.chunk_size):  # fmt: skip
            raise RpcError(f"chunk_size {chunk_size!r} is not this cell's ({self.chunk_size or '?'})", type="BadParams")

    def _check_primary(self, handle: int, version: int) -> None:
        self._check(handle, version)
        if self.leases.get(handle, 0.0) <= time.monotonic():
            raise NotPrimary(f"no valid lease on chunk {handle} here")

    async def write(self, handle: int, version: int, offset: int, data_id: str,
                    secondaries: list[str], chunk_size: int) -> bool:  # fmt: skip
        self._check_size(chunk_size)
        async with self.lock(handle):
            self._check_primary(handle, version)
            data = self._data(data_id)
            if offset < 0 or offset + len(data) > chunk_size:
                raise TooLarge(f"write of {len(data)} at {offset} passes the chunk size {chunk_size}")
            await self._mutate(handle, version, secondaries, offset=offset, data_id=data_id, limit=chunk_size)
        self._release(data_id)
        return True

    async def append(self, handle: int, version: int, data_id: str, secondaries: list[str], chunk_size: int) -> int:
        """Record append: the offset is ours to choose. Returns it, or ``ChunkFull`` after padding."""
        self._check_size(chunk_size)
        async with self.lock(handle):
            self._check_primary(handle, version)
            data = self._data(data_id)
            if len(data) > chunk_size // 4:
                raise TooLarge(f"a record is at most a quarter chunk ({chunk_size // 4} bytes)")
            offset = self.store.length(handle)
            if offset + len(data) > chunk_size:
                await self._mutate(handle, version, secondaries, pad_to=chunk_size, limit=chunk_size)
                raise ChunkFull(f"chunk {handle} is padded to {chunk_size}: append to the next chunk")
            await self._mutate(handle, version, secondaries, offset=offset, data_id=data_id, limit=chunk_size)
        self._release(data_id)
        return offset

    async def _mutate(self, handle: int, version: int, secondaries: list[str], **m: Any) -> None:
        """Under the chunk's lock: serial number, apply here, then at every secondary."""
        serial = self.serials.get(handle, 0) + 1
        self.serials[handle] = serial
        try:
            self._apply_local(handle, **m)
        except NoSpace:
            await self._withdraw(handle)
            raise ReplicaFailed(f"chunk {handle}: disk full at the primary {self.addr}") from None
        self.mutated.add(handle)
        results = await asyncio.gather(*(self.peers.call(s, "apply", handle=handle, version=version,
                                                          serial=serial, **m) for s in secondaries),
                                       return_exceptions=True)  # fmt: skip
        failed = [f"{s}: {r}" for s, r in zip(secondaries, results, strict=True) if isinstance(r, BaseException)]
        if failed:
            raise ReplicaFailed(f"chunk {handle} serial {serial}: " + "; ".join(failed))

    def _apply_local(self, handle: int, offset: int = 0, data_id: str | None = None,
                     pad_to: int | None = None, limit: int = 0) -> None:  # fmt: skip
        with disk():
            if pad_to is not None:
                self.store.pad(handle, pad_to)
            else:
                assert data_id is not None
                self.store.write(handle, offset, self._data(data_id), limit)

    async def _withdraw(self, handle: int) -> None:
        """A mutation of ``handle`` hit a full disk, so this replica misses it: stop
        reporting and accepting writes for it, and tell the master at once, which drops
        it (the client's retry gets a new lease without it; a copy goes elsewhere). The
        bytes stay on disk, so an older read is not lost; a restart reports them stale."""
        log.warning("disk full writing chunk %d: withdrawing this replica", handle)
        self.withdrawn.add(handle)
        self.leases.pop(handle, None)
        with contextlib.suppress(RpcError):
            await self.peers.call(self.config.master, "report_corrupt", addr=self.addr, handle=handle)

    # -- control flow: a secondary -------------------------------------------------------
    async def apply(self, handle: int, version: int, serial: int, offset: int = 0, data_id: str | None = None,
                    pad_to: int | None = None, limit: int = 0) -> bool:  # fmt: skip
        self._check_size(limit)
        if pad_to is not None and not (isinstance(pad_to, int) and 0 <= pad_to <= limit):
            raise RpcError(f"pad_to {pad_to!r} is not within the chunk", type="BadParams")
        async with self.lock(handle):
            self._check(handle, version)
            try:
                self._apply_local(handle, offset, data_id, pad_to, limit)
            except NoSpace:
                await self._withdraw(handle)
                raise
            self.serials[handle] = serial
        if data_id is not None:
            self._release(data_id)
        return True

    # -- reads -------------------------------------------------------------------------
    async def read(self, handle: int, version: int, offset: int, length: int) -> bytes:
        if not all(isinstance(x, int) and x >= 0 for x in (offset, length)):
            raise RpcError(f"offset {offset!r} and length {length!r} must be non-negative integers", type="BadParams")
        have = self.store.versions.get(handle)
        if have is None or have < version or handle in self.cloning:
            raise StaleVersion(f"chunk {handle}: version {have} here, {version} wanted")
        try:
            return self.store.read(handle, offset, min(length, 16 * PIECE))
        except Corrupt:
            log.warning("chunk %d is corrupt: reporting it and dropping this replica", handle)
            self.store.delete(handle)
            self._spawn(self.peers.call(self.config.master, "report_corrupt", addr=self.addr, handle=handle))
            raise

    async def length(self, handle: int, version: int) -> int:
        have = self.store.versions.get(handle)
        if have is None or have < version or handle in self.cloning:
            raise StaleVersion(f"chunk {handle}: version {have} here, {version} wanted")
        return self.store.length(handle)

    # -- orders from the master ----------------------------------------------------------
    async def create_chunk(self, handle: int, version: int) -> bool:
        with disk():
            self.store.create(handle, version)
        self.withdrawn.discard(handle)
        return True

    async def copy_chunk(self, handle: int, new_handle: int, version: int) -> bool:
        """A snapshot's copy on write: a local copy of our replica under a new handle."""
        async with self.lock(handle):
            self._check(handle, version)
            with disk():
                self.store.copy(handle, new_handle)
        return True

    async def set_version(self, handle: int, version: int) -> bool:
        async with self.lock(handle):  # after the mutation in flight, if any
            with disk():  # the master drops a replica that did not take the new version
                self.store.set_version(handle, version)
            self.leases.pop(handle, None)
        return True

    async def grant_lease(self, handle: int, version: int, seconds: float) -> bool:
        self._check(handle, version)
        self.leases[handle] = time.monotonic() + seconds
        self.lease_seconds = seconds
        return True

    async def revoke_lease(self, handle: int) -> bool:
        async with self.lock(handle):  # the mutation in flight finishes first
            self.leases.pop(handle, None)
        return True

    async def replicate(self, handle: int, version: int, source: str) -> bool:
        """Copy a chunk from ``source`` (verified there block by block), install it at ``version``."""
        self.cloning.add(handle)
        try:
            async with self.lock(handle):
                with disk():
                    self.store.create(handle, 0)
                offset = 0
                while True:
                    piece = await self.peers.call(source, "read", handle=handle, version=version,
                                                  offset=offset, length=PIECE)  # fmt: skip
                    if not piece:
                        break
                    with disk():
                        self.store.write(handle, offset, piece, offset + len(piece))
                    offset += len(piece)
                with disk():
                    self.store.set_version(handle, version)
                self.withdrawn.discard(handle)
        except BaseException:
            self.store.delete(handle)
            raise
        finally:
            self.cloning.discard(handle)
        return True

    async def info(self) -> dict[str, Any]:
        return {"addr": self.addr, "chunks": len(self.store.versions), "buffered": self.buffered,
                "leases": sorted(h for h, t in self.leases.items() if t > time.monotonic())}  # fmt: skip

    # -- heartbeats --------------------------------------------------------------------
    async def heartbeat_forever(self) -> None:
        while True:
            with contextlib.suppress(RpcError):
                await self.heartbeat()
            await asyncio.sleep(self.config.heartbeat)

    async def heartbeat(self) -> None:
        sent = time.monotonic()
        chunks = [c for c in self.store.chunks() if c[0] not in self.cloning and c[0] not in self.withdrawn]
        extend = [h for h in self.mutated if self.leases.get(h, 0.0) > sent]
        self.mutated.clear()
        free = shutil.disk_usage(self.config.dir).free  # a full disk gets no new chunks
        reply = await self.peers.call(self.config.master, "heartbeat", addr=self.addr, chunks=chunks,
                                      extend=extend, free=free)  # fmt: skip
        for h, current in reply["delete"]:
            have = self.store.versions.get(h)
            if h not in self.cloning and have is not None and (current == 0 or have < current):
                log.info("master says chunk %d is stale or orphaned: deleting it", h)
                self.store.delete(h)
                self.leases.pop(h, None)
        for h in reply.get("drop", []):
            if h not in self.cloning:
                log.info("master moves chunk %d elsewhere (over-replicated): deleting it here", h)
                self.store.delete(h)
                self.leases.pop(h, None)
        for h in reply["extended"]:
            if h in self.leases:
                self.leases[h] = sent + reply["lease"]
        self.chunk_size = int(reply.get("chunk_size", 0))

    def _spawn(self, coro: Any) -> None:
        async def quiet() -> None:
            with contextlib.suppress(Exception):
                await coro

        asyncio.ensure_future(quiet())

    async def close(self) -> None:
        await self.peers.close()
        self.dir_lock.release()


async def serve(shell: ShellConfig, config: ChunkServerConfig) -> tuple[Server, ChunkServer]:
    cs = ChunkServer(config)
    server = await start(serve_methods(cs.methods()), shell)
    cs.addr = f"{server.host}:{server.port}"
    server.background(cs.heartbeat_forever(), "gfs-heartbeat")
    return server, cs
