"""GFS (N18) under faults, with real processes and SIGKILL: a chunkserver killed in
the middle of a write, re-replication back to the goal, stale replicas dropped
when their server returns, and a flipped byte caught by the block checksum and
repaired from a good replica."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from servers.gfs.chunkstore import read_meta
from servers.gfs.master import Master, MasterConfig
from tests.gfs_support import CHUNK, Cell, until

pytestmark = pytest.mark.exercise("N18")


def chunk_versions(cell: Cell, i: int) -> dict[int, int]:
    """The versions chunkserver ``i`` has on disk (its meta files, read as they are)."""
    out = {}
    for p in (cell.cs_dir(i) / "chunks").glob("*.meta"):
        with contextlib.suppress(OSError, ValueError):  # deleted or being compacted meanwhile
            out[int(p.stem, 16)] = read_meta(p)[0]
    return out


async def test_a_chunkserver_killed_mid_write_then_rereplication_and_stale_copies(tmp_path: Path) -> None:
    cell = Cell(tmp_path, 4).start()
    try:
        await cell.wait_live()
        data = os.urandom(48 * CHUNK + 1000)
        async with cell.client() as c:
            put = asyncio.ensure_future(c.put("/big", data))

            async def some_written() -> bool:
                try:
                    return len((await c.stat("/big"))["chunks"]) >= 3
                except Exception:
                    return False

            await until(some_written, 10, "the put under way")
            before = await c.stat("/big")
            victim = next(i for i in range(4) if cell.cs_addr(i) in before["chunks"][0]["replicas"])
            dead = cell.cs_addr(victim)
            assert not put.done()
            cell.kill_cs(victim)  # SIGKILL while the put is writing
            t0 = time.monotonic()
            await put  # retried through the failure: it succeeds, or this raises
            assert not put.exception()  # succeeded (retrying where the dead server was in the way)
            assert await c.get("/big") == data
            await c.write("/big", 10, b"rewritten")  # chunk 0 again: a new lease, a new version
            data = data[:10] + b"rewritten" + data[19:]

            async def at_goal() -> bool:
                st = await c.stat("/big")
                return all(len(ch["replicas"]) == 3 and dead not in ch["replicas"] for ch in st["chunks"])

            await until(at_goal, 15, "every chunk back to 3 live replicas")
            healed = time.monotonic() - t0
            st = await c.stat("/big")
            assert st["chunks"][0]["version"] > before["chunks"][0]["version"]
            assert (await cell.info())["stats"]["rereplicated"] >= 1 and healed < 15
            stale = {ch["handle"]: ch["version"] for ch in st["chunks"] if ch["handle"] in chunk_versions(cell, victim)}
            assert any(chunk_versions(cell, victim)[h] < v for h, v in stale.items())

            cell.start_cs(victim)  # back, with old versions on its disk

            async def stale_dropped() -> bool:
                on_disk = chunk_versions(cell, victim)
                return all(on_disk.get(h, v) == v for h, v in stale.items())

            await until(stale_dropped, 10, "the returning chunkserver's stale chunks deleted")
            assert (await cell.info())["stats"]["stale_dropped"] >= 1
            assert await c.get("/big") == data
    finally:
        cell.stop()


def test_rereplication_serves_the_chunks_furthest_below_goal_first(tmp_path: Path) -> None:
    async def go() -> None:
        m = Master(MasterConfig(dir=tmp_path, replication=3))
        now = time.monotonic()
        from servers.gfs.master import ChunkServerInfo

        m.servers = {a: ChunkServerInfo(now) for a in ("a:1", "b:1", "c:1")}
        for h, holders in {1: {"a:1", "b:1"}, 2: {"a:1"}, 3: {"a:1", "b:1", "c:1"}, 4: {"c:1"}, 5: set()}.items():
            m.meta.versions[h] = 1
            m.locations[h] = holders
        assert m.under_replicated() == [(2, 4), (2, 2), (1, 1)]  # 5 has no source left
        await m.close()

    asyncio.run(go())


async def test_appends_survive_a_chunkserver_killed_under_eight_appenders(tmp_path: Path) -> None:
    """Record append is at least once: an append that failed part-way is retried, so a
    record may be in the file twice (or half there); the reader returns it once."""
    from clients.gfs import records

    cell = Cell(tmp_path, 4).start()
    try:
        await cell.wait_live()
        acked: list[bytes] = []
        killed = asyncio.Event()

        async def appender(k: int) -> None:
            async with cell.client() as c:
                for j in range(20):
                    payload = f"writer {k} record {j} ".encode() * (1 + j % 5)
                    await c.append_record("/logs/kill", payload)
                    acked.append(payload)
                    if len(acked) == 40:
                        killed.set()

        async def killer() -> None:
            await killed.wait()
            async with cell.client() as c:
                holders = (await c.stat("/logs/kill"))["chunks"][-1]["replicas"]
            cell.kill_cs(next(i for i in range(4) if cell.cs_addr(i) in holders))  # SIGKILL mid-append

        await asyncio.gather(killer(), *(appender(k) for k in range(8)))
        async with cell.client() as c:
            got = await c.read_records("/logs/kill")
            st = await c.stat("/logs/kill")
            raw = []
            for ch in st["chunks"]:
                raw += list(records.scan(await c.read("/logs/kill", ch["index"] * CHUNK, CHUNK)))
        assert len(acked) == 160 and sorted(got) == sorted(acked)  # every acked record, each once
        assert len(raw) >= len(got)  # what the file holds may repeat records: the reader drops copies
    finally:
        cell.stop()


async def test_a_full_disk_is_a_typed_error_and_new_chunks_go_elsewhere(tmp_path: Path) -> None:
    """One chunkserver's directory is a 48 KB tmpfs that fills up: its creates and copies
    answer ``NoSpace`` (no traceback), the master stops placing chunks there, and every
    chunk still reaches its goal of two replicas on the servers with room."""
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI and the dev machines run as root)")
    cell = Cell(tmp_path, 3, master_args=("--replication", "2"))
    full = cell.cs_dir(2)
    full.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(full)], check=True)
    try:
        cell.start()
        await cell.wait_live()
        files = {f"/f{i}": os.urandom(3 * CHUNK - 100) for i in range(12)}  # 36 chunks: 144 KB per replica
        async with cell.client() as c:
            for path, data in files.items():
                await c.put(path, data)

            async def at_goal() -> bool:
                for path in files:
                    if any(len(ch["replicas"]) < 2 for ch in (await c.stat(path))["chunks"]):
                        return False
                return True

            await until(at_goal, 20, "every chunk on two replicas, none waiting on the full disk")
            for path, data in files.items():
                assert await c.get(path) == data
        log = cell.cs[2].output() if cell.cs[2] is not None else ""
        assert "Traceback" not in log  # a typed error to the caller, not a crash of the method
    finally:
        cell.stop()
        subprocess.run(["umount", str(full)], check=False)


async def test_a_second_server_on_a_directory_in_use_refuses_to_start(tmp_path: Path) -> None:
    """Two chunkservers on one directory would be counted as two replicas of one copy;
    two masters would interleave one op log. The second process exits at once with
    one line naming who holds the directory; the first serves on."""
    import subprocess
    import sys

    cell = Cell(tmp_path, 1).start()
    try:
        await cell.wait_live()
        for argv in (["chunkserver", "--dir", str(cell.cs_dir(0)), "--master", cell.addr],
                     ["master", "--dir", str(tmp_path / "master")]):  # fmt: skip
            r = subprocess.run([sys.executable, "-m", "servers.gfs", *argv, "--port", "0"],
                               capture_output=True, text=True, timeout=30)  # fmt: skip
            assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
            assert "already open" in r.stderr and "Traceback" not in r.stderr, r.stderr
        async with cell.client() as c:
            await c.put("/still", b"serving")
            assert await c.get("/still") == b"serving"
    finally:
        cell.stop()
