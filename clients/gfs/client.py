"""The GFS client library: namespace calls to the master, data straight to chunkservers.

What it does, as in the paper:

* **location cache**: the master is asked once for a chunk's handle, version
  and replicas (and, to mutate, its primary); later calls go to the
  chunkservers directly until one answers that the cache is wrong
  (``StaleVersion``, ``NotPrimary``, a dead server...), which drops the entry;
* **push, then write**: the bytes go to every replica along a chain
  (``push``), then one small control message asks the primary to ``write``
  them; the primary orders the mutation and forwards it to the secondaries;
* **retries**: an error a retry can cure (a dead replica, an expired lease, a
  version bump) is retried with backoff and fresh locations, for up to
  ``retry_for`` seconds; an error in the request itself (``NoSuchFile``,
  ``TooLarge``...) is raised at once;
* **record append** (``append_record``): the primary chooses the offset; a
  full chunk is padded and the append goes to the next chunk; a failure is
  retried, so a record may land twice: ``read_records`` returns each once,
  skipping padding and fragments by the checksum and id in every record
  (``records``).

Reads go to a replica (the cache's order, shuffled once), and to the next one
when a replica fails a checksum or is unreachable. ``snapshot`` is one master
call: the chunks are copied later, on their next write, by the chunkservers.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

from netlib.rpc import ConnectionLost, Peers, RemoteError, RpcClient, RpcError

from . import records

# Pieces of data pushed or read in one RPC (well under the frame limit).
PIECE = 1024 * 1024
RETRYABLE = {"NotPrimary", "StaleVersion", "NoData", "ReplicaFailed", "LeaseBusy", "NoReplica",
             "Corrupt", "NoSuchChunk", "ConnectionLost", "InternalError", "MasterUnreachable"}  # fmt: skip
# Seconds a master that refuses connections is waited for (a restart), at most.
MASTER_DOWN_FOR = 5.0


class GfsError(Exception):
    """A call that failed for good (after retries, or at once for a request error)."""


class GfsClient:
    def __init__(self, master: str, timeout: float = 10.0, retry_for: float = 75.0) -> None:
        host, _, port = master.rpartition(":")
        self.master_addr = master
        self.master = RpcClient(host, int(port), timeout)
        self.peers = Peers(timeout)
        self.retry_for = retry_for
        self.cache: dict[tuple[str, int], dict[str, Any]] = {}
        self.appending: dict[str, dict[str, Any]] = {}  # path -> the last chunk's lease info
        self.retries = 0

    async def __aenter__(self) -> GfsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.master.close()
        await self.peers.close()

    async def _master(self, method: str, **params: Any) -> Any:
        if self.master.closed or self.master._writer is None:
            self.master = RpcClient(self.master.host, self.master.port, self.master.timeout)
            try:
                await self.master.connect()
            except ConnectionLost as e:
                raise RemoteError(e.message, type="MasterUnreachable") from None
        return await self.master.call(method, **params)

    async def _retry(self, what: str, attempt: Any, *args: Any, **kw: Any) -> Any:
        """Retry what a retry can cure for ``retry_for`` seconds (a master nobody answers
        at for only ``MASTER_DOWN_FOR``: a restart is quick, a typo in --master is not)."""
        start = time.monotonic()
        delay = 0.05
        while True:
            try:
                return await attempt(*args, **kw)
            except RpcError as e:
                patience = min(self.retry_for, MASTER_DOWN_FOR) if e.type == "MasterUnreachable" else self.retry_for
                if e.type not in RETRYABLE or time.monotonic() + delay > start + patience:
                    raise GfsError(f"{what}: {e}") from None
                self.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    # -- namespace ----------------------------------------------------------------------
    async def mkdir(self, path: str) -> None:
        await self._call_master("mkdir", path=path)

    async def create(self, path: str, exist_ok: bool = False) -> bool:
        return bool(await self._call_master("create", path=path, exist_ok=exist_ok))

    async def ls(self, path: str = "/") -> list[dict[str, Any]]:
        return list(await self._call_master("ls", path=path))

    async def delete(self, path: str) -> None:
        await self._call_master("delete", path=path)
        for key in [k for k in self.cache if k[0] == path]:
            del self.cache[key]
        self.appending.pop(path, None)

    async def snapshot(self, src: str, dst: str) -> int:
        """Copy a file or directory tree at once (copy-on-write chunks); the files copied."""
        return int(await self._call_master("snapshot", src=src, dst=dst))

    async def stat(self, path: str) -> dict[str, Any]:
        """The master's view (handles, versions, primaries, replicas) plus the file's size."""
        st = dict(await self._call_master("stat", path=path))
        st["size"] = await self._size(st)
        return st

    async def _call_master(self, method: str, **params: Any) -> Any:
        return await self._retry(f"{method} {params.get('path', params.get('src', ''))}", self._master, method, **params)

    async def _size(self, st: dict[str, Any]) -> int:
        chunks = st["chunks"]
        if not chunks:
            return 0
        last = chunks[-1]
        return (len(chunks) - 1) * st["chunk_size"] + await self._replica_call(last, "length")

    async def _replica_call(self, info: dict[str, Any], method: str, **params: Any) -> Any:
        """Ask the replicas in turn; the first answer wins."""
        errors = []
        for addr in info["replicas"]:
            try:
                return await self.peers.call(addr, method, handle=info["handle"], version=info["version"], **params)
            except RpcError as e:
                errors.append(e)
        if errors:
            raise errors[-1]
        raise RemoteError(f"chunk {info['handle']} has no live replica", type="NoReplica")

    # -- locations ----------------------------------------------------------------------
    async def _chunk(self, path: str, index: int, mutate: bool) -> dict[str, Any]:
        key = (path, index)
        info = self.cache.get(key)
        if info is None or (mutate and info["primary"] is None):
            info = dict(await self._master("chunk", path=path, index=index, create=mutate, lease=mutate))
            random.shuffle(info["replicas"])
            self.cache[key] = info
        return info

    def _forget(self, path: str, index: int) -> None:
        self.cache.pop((path, index), None)

    # -- writing ------------------------------------------------------------------------
    async def write(self, path: str, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset``, split at chunk boundaries and into pieces."""
        st = await self._call_master("stat", path=path)
        size = st["chunk_size"]
        pos = 0
        while pos < len(data):
            at = offset + pos
            index, within = divmod(at, size)
            n = min(len(data) - pos, size - within, PIECE)
            piece = data[pos : pos + n]
            await self._retry(f"write {path} at {at}", self._write_piece, path, index, within, piece)
            pos += n

    async def _push(self, info: dict[str, Any], data: bytes) -> str:
        data_id = uuid.uuid4().hex
        chain = list(info["replicas"])
        await self.peers.call(chain[0], "push", data_id=data_id, data=data, chain=chain[1:])
        return data_id

    async def _write_piece(self, path: str, index: int, offset: int, data: bytes) -> None:
        info = await self._chunk(path, index, mutate=True)
        try:
            data_id = await self._push(info, data)
            secondaries = [a for a in info["replicas"] if a != info["primary"]]
            await self.peers.call(info["primary"], "write", handle=info["handle"], version=info["version"],
                                  offset=offset, data_id=data_id, secondaries=secondaries,
                                  chunk_size=info["chunk_size"])  # fmt: skip
        except RpcError:
            self._forget(path, index)
            raise

    async def put(self, path: str, data: bytes) -> None:
        """Create ``path`` and write ``data`` into it."""
        await self.create(path)
        if data:
            await self.write(path, 0, data)

    # -- reading ------------------------------------------------------------------------
    async def read(self, path: str, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer at the end of the file)."""
        st = await self._call_master("stat", path=path)
        size = st["chunk_size"]
        out = bytearray()
        while n > 0:
            index, within = divmod(offset, size)
            if index >= len(st["chunks"]):
                break
            want = min(n, size - within, PIECE)
            piece = await self._retry(f"read {path} at {offset}", self._read_piece, path, index, within, want)
            if len(piece) < want:
                if index == len(st["chunks"]) - 1:
                    out += piece
                    break  # the end of the last chunk's data: the end of the file
                piece += bytes(want - len(piece))  # a hole (a write past the end) reads as zeros
            out += piece
            offset += len(piece)
            n -= len(piece)
        return bytes(out)

    async def _read_piece(self, path: str, index: int, offset: int, n: int) -> bytes:
        info = await self._chunk(path, index, mutate=False)
        try:
            return bytes(await self._replica_call(info, "read", offset=offset, length=n))
        except RpcError:
            self._forget(path, index)
            raise

    async def get(self, path: str) -> bytes:
        st = await self.stat(path)
        return await self.read(path, 0, st["size"]) if st["size"] else b""

    # -- record append ------------------------------------------------------------------
    async def append(self, path: str, data: bytes, create: bool = True) -> int:
        """Record append of raw bytes: atomic, at least once; returns the file offset chosen.
        The file is created first if it does not exist (unless ``create`` is False)."""
        if create and path not in self.appending:
            await self.create(path, exist_ok=True)
        return int(await self._retry(f"append to {path}", self._append_once, path, data))

    async def _append_once(self, path: str, data: bytes) -> int:
        full: int | None = None
        while True:
            info = self.appending.get(path)
            if info is None or full is not None:
                info = dict(await self._master("last_chunk", path=path, after=full))
                self.appending[path] = info
            try:
                data_id = await self._push(info, data)
                secondaries = [a for a in info["replicas"] if a != info["primary"]]
                offset = await self.peers.call(info["primary"], "append", handle=info["handle"],
                                               version=info["version"], data_id=data_id,
                                               secondaries=secondaries, chunk_size=info["chunk_size"])  # fmt: skip
                return int(info["index"]) * int(info["chunk_size"]) + int(offset)
            except RemoteError as e:
                if e.type == "ChunkFull":
                    full = info["handle"]
                    continue
                self.appending.pop(path, None)
                raise
            except ConnectionLost:
                self.appending.pop(path, None)
                raise

    async def append_record(self, path: str, payload: bytes, record_id: bytes | None = None) -> int:
        """Append one self-describing record (checksum and id: see ``records``)."""
        return await self.append(path, records.encode(payload, record_id))

    async def read_records(self, path: str) -> list[bytes]:
        """Every record of a file written by ``append_record``, each once, in file order."""
        st = await self._call_master("stat", path=path)
        found: list[tuple[int, bytes, bytes]] = []
        for index in range(len(st["chunks"])):
            data = await self.read(path, index * st["chunk_size"], st["chunk_size"])
            found.extend(records.scan(data))
        return list(records.unique(found))
