"""A GFS cell of real processes (one master, N chunkservers) on port 0, for the tests
(small chunks, short heartbeats, leases and timeouts: faults play out in about a
second) and bench/gfs (its own flags)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from clients.gfs import GfsClient
from harness.procs import Child, python_module
from netlib.rpc import RpcClient

CHUNK = 4096
# Heartbeats every 0.2 s: a lease (2 s) or a liveness verdict (2 s) survives a stall of
# more than a second on a loaded 2-core machine, while faults still play out in seconds.
LEASE = 2.0
MASTER_FLAGS = ("--chunk-size", str(CHUNK), "--lease", str(LEASE), "--dead-after", "2.0", "--tick", "0.2")


class Cell:
    def __init__(self, root: Path, chunkservers: int = 3, master_args: tuple[str, ...] = (),
                 flags: tuple[str, ...] = MASTER_FLAGS, log_level: str = "info") -> None:  # fmt: skip
        self.root = root
        self.n = chunkservers
        self.log_level = log_level
        self.master_args = flags + master_args
        self.master: Child | None = None
        self.cs: list[Child | None] = [None] * chunkservers
        self.cs_ports: list[int] = [0] * chunkservers

    @property
    def addr(self) -> str:
        assert self.master is not None
        return f"127.0.0.1:{self.master.port}"

    def start(self) -> Cell:
        """The master, then every chunkserver at once (started together, waited for in turn)."""
        self.start_master()
        children = [self._cs_child(i).spawn() for i in range(self.n)]
        for i, child in enumerate(children):
            self.cs[i] = child
            child.wait_ready()
            self.cs_ports[i] = child.port or 0
        return self

    def start_master(self, port: int = 0) -> None:
        self.master = python_module("servers.gfs", "master", "--dir", str(self.root / "master"),
                                    "--log-level", self.log_level, *self.master_args, port=port).start()  # fmt: skip

    def start_cs(self, i: int) -> None:
        child = self._cs_child(i).start()
        self.cs[i] = child
        self.cs_ports[i] = child.port or 0

    def _cs_child(self, i: int) -> Child:
        return python_module("servers.gfs", "chunkserver", "--dir", str(self.cs_dir(i)), "--master", self.addr,
                              "--heartbeat", "0.2", "--log-level", self.log_level, port=self.cs_ports[i])  # fmt: skip

    def cs_dir(self, i: int) -> Path:
        return self.root / f"cs{i}"

    def cs_addr(self, i: int) -> str:
        return f"127.0.0.1:{self.cs_ports[i]}"

    def kill_cs(self, i: int) -> None:
        c = self.cs[i]
        assert c is not None
        c.kill()
        c.close()
        self.cs[i] = None

    def kill_master(self) -> int:
        assert self.master is not None
        port = self.master.port or 0
        self.master.kill()
        self.master.close()
        self.master = None
        return port

    def stop(self) -> None:
        for c in [*self.cs, self.master]:
            if c is not None:
                c.stop()
                c.close()

    def chunk_files(self, i: int) -> dict[int, Path]:
        return {int(p.stem, 16): p for p in (self.cs_dir(i) / "chunks").glob("*.chunk")}

    def client(self, retry_for: float = 20.0) -> GfsClient:
        return GfsClient(self.addr, retry_for=retry_for)

    async def info(self) -> dict[str, Any]:
        host, _, port = self.addr.rpartition(":")
        c = await RpcClient(host, int(port)).connect()
        try:
            return dict(await c.call("info"))
        finally:
            await c.close()

    async def wait_live(self, n: int | None = None, timeout: float = 10.0) -> None:
        want = self.n if n is None else n

        async def ok() -> bool:
            servers = (await self.info())["servers"].values()
            return sum(1 for s in servers if s["alive"]) == want

        await until(ok, timeout, f"{want} live chunkservers")


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll ``check`` until it holds (with a short back-off) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
