"""GFS (N18) with real processes: a master and chunkservers on port 0, small chunks,
short leases and heartbeats. Files across chunks, the master's namespace and
chunk map across SIGKILL, lazy garbage collection, record append from 8 clients,
the CLI, and malformed frames sent to the real master."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.gfs import GfsError
from clients.gfs.__main__ import main as cli_main
from harness.gfs import LEASE
from harness.procs import REPO_ROOT
from netlib.rpc import FrameDecoder, RemoteError, Response, RpcClient, encode_request
from tests.gfs_support import CHUNK, Cell, until

pytestmark = pytest.mark.exercise("N18")


@pytest.fixture(scope="module")
def cell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cell]:
    """One cell for the tests that kill nothing (each uses its own paths)."""
    c = Cell(tmp_path_factory.mktemp("gfs"), 3, ("--gc-delay", "0.5")).start()
    try:
        yield c
    finally:
        c.stop()


async def test_a_file_spans_chunks_each_on_three_replicas(cell: Cell) -> None:
    await cell.wait_live()
    data = os.urandom(3 * CHUNK + 123)
    async with cell.client() as c:
        await c.put("/docs/big.bin", data)
        assert await c.get("/docs/big.bin") == data
        assert await c.read("/docs/big.bin", CHUNK - 5, 10) == data[CHUNK - 5 : CHUNK + 5]
        st = await c.stat("/docs/big.bin")
        assert st["size"] == len(data) and len(st["chunks"]) == 4
        for ch in st["chunks"]:
            assert len(ch["replicas"]) == 3 and ch["primary"] in ch["replicas"] and ch["version"] >= 2
        assert {"name": "docs", "dir": True, "chunks": 0} in await c.ls("/")
        assert await c.ls("/docs") == [{"name": "big.bin", "dir": False, "chunks": 4}]
        with pytest.raises(GfsError, match="Exists"):
            await c.create("/docs/big.bin")
        with pytest.raises(GfsError, match="NoSuchFile"):
            await c.get("/docs/nothing")
        with pytest.raises(GfsError, match="BadPath"):
            await c.create("relative/path")
    for i in range(3):  # every chunkserver holds every chunk, as files on its disk
        assert {ch["handle"] for ch in st["chunks"]} <= set(cell.chunk_files(i))


async def test_deleted_files_are_hidden_then_reclaimed_with_their_chunks(cell: Cell) -> None:
    await cell.wait_live()
    async with cell.client() as c:
        await c.put("/tmp/gone", os.urandom(2 * CHUNK))
        await c.put("/tmp/kept", b"kept")
        gone = {ch["handle"] for ch in (await c.stat("/tmp/gone"))["chunks"]}
        kept = {ch["handle"] for ch in (await c.stat("/tmp/kept"))["chunks"]}
        await c.delete("/tmp/gone")
        assert [e["name"] for e in await c.ls("/tmp")] == ["kept"]

        async def reclaimed() -> bool:
            return all(not gone & set(cell.chunk_files(i)) and kept <= set(cell.chunk_files(i)) for i in range(3))

        await until(reclaimed, 10, "the deleted file's chunks deleted on every chunkserver")
        assert (await cell.info())["stats"]["purged"] >= 1
        assert await c.get("/tmp/kept") == b"kept"


async def test_master_sigkill_loses_no_acknowledged_mutation_and_relearns_locations(tmp_path: Path) -> None:
    cell = Cell(tmp_path, 3, ("--checkpoint-every", "5")).start()
    try:
        await _master_sigkill(cell)
    finally:
        cell.stop()


async def _master_sigkill(cell: Cell) -> None:
    await cell.wait_live()
    data = os.urandom(2 * CHUNK + 7)
    async with cell.client() as c:
        await c.put("/a/f", data)
        await c.create("/a/empty")
        await c.mkdir("/b/c")
        await c.create("/a/last")
    await until(lambda: _exists(cell.root / "master" / "checkpoint"), 5, "a checkpoint (every 5 ops)")
    async with cell.client() as c:
        await c.create("/a/after-checkpoint")  # only in the log
    port = cell.kill_master()  # SIGKILL right after the acknowledgements
    cell.start_master(port)
    await cell.wait_live()
    async with cell.client() as c:
        assert [e["name"] for e in await c.ls("/a")] == ["after-checkpoint", "empty", "f", "last"]
        assert await c.ls("/b") == [{"name": "c", "dir": True, "chunks": 0}]
        st = await c.stat("/a/f")
        assert all(len(ch["replicas"]) == 3 for ch in st["chunks"])  # from heartbeats, never from disk
        assert await c.get("/a/f") == data
        await c.write("/a/f", 0, b"after restart")  # a new lease once the old ones have run out
        assert (await c.get("/a/f"))[:13] == b"after restart"


async def test_a_new_chunkserver_gets_a_share_and_no_chunk_stays_over_its_goal(tmp_path: Path) -> None:
    cell = Cell(tmp_path, 4, ("--replication", "2"))
    try:
        cell.start_master()
        for i in range(3):
            cell.start_cs(i)
        await cell.wait_live(3)
        data = os.urandom(8 * CHUNK)
        async with cell.client() as c:
            await c.put("/spread", data)
            cell.start_cs(3)  # an empty chunkserver joins

            async def balanced() -> bool:
                st = await c.stat("/spread")
                load = [sum(cell.cs_addr(i) in ch["replicas"] for ch in st["chunks"]) for i in range(4)]
                return all(len(ch["replicas"]) == 2 for ch in st["chunks"]) and min(load) >= 3

            await until(balanced, 15, "chunks moved to the new server, each at 2 replicas")
            assert len(cell.chunk_files(3)) >= 3

            async def dropped_on_disk() -> bool:  # the extra copies are deleted, not just forgotten
                return sum(len(cell.chunk_files(i)) for i in range(4)) == 16

            await until(dropped_on_disk, 10, "16 chunk files in all (8 chunks x 2)")
            c.cache.clear()
            assert await c.get("/spread") == data
    finally:
        cell.stop()


async def test_a_snapshot_copies_at_once_and_chunks_are_copied_on_write(cell: Cell) -> None:
    await cell.wait_live()
    data = os.urandom(2 * CHUNK)
    async with cell.client() as c:
        await c.put("/proj/src/a", data)
        await c.write("/proj/src/a", 0, b"leased")  # a lease is running when the snapshot comes
        data = b"leased" + data[6:]
        assert await c.snapshot("/proj/src", "/proj/snap") == 1
        before = await c.stat("/proj/snap/a")
        assert [ch["handle"] for ch in before["chunks"]] == [ch["handle"] for ch in (await c.stat("/proj/src/a"))["chunks"]]
        await c.write("/proj/src/a", 1, b"changed after")  # the cached lease was revoked: asks the master
        src, snap = await c.stat("/proj/src/a"), await c.stat("/proj/snap/a")
        assert src["chunks"][0]["handle"] != snap["chunks"][0]["handle"]  # copied on write
        assert src["chunks"][1]["handle"] == snap["chunks"][1]["handle"]  # still shared
        assert len(src["chunks"][0]["replicas"]) == 3
        assert await c.get("/proj/snap/a") == data
        assert await c.get("/proj/src/a") == data[:1] + b"changed after" + data[14:]
        with pytest.raises(GfsError, match="Exists"):
            await c.snapshot("/proj/src", "/proj/snap")


async def test_a_flipped_byte_is_detected_on_read_and_repaired(cell: Cell) -> None:
    """A flipped bit in a replica's file: that replica refuses the read (its CRC), the
    client reads another, and the master has the bad copy replaced from a good one."""
    await cell.wait_live()
    data = os.urandom(2 * CHUNK)
    async with cell.client() as c:
        await c.put("/flip/f", data)
        handle = (await c.stat("/flip/f"))["chunks"][0]["handle"]
        version = (await c.stat("/flip/f"))["chunks"][0]["version"]
        path = cell.chunk_files(1)[handle]
        raw = bytearray(path.read_bytes())
        raw[100] ^= 0x40
        path.write_bytes(raw)
        host, _, port = cell.cs_addr(1).rpartition(":")
        direct = await RpcClient(host, int(port)).connect()
        with pytest.raises(RemoteError) as e:
            await direct.call("read", handle=handle, version=version, offset=0, length=CHUNK)
        assert e.value.type == "Corrupt"
        await direct.close()
        for _ in range(5):  # whichever replica a read picks, it gets the right bytes
            c.cache.clear()
            assert await c.get("/flip/f") == data

        async def repaired() -> bool:
            f = cell.chunk_files(1).get(handle)
            st = await c.stat("/flip/f")
            return f is not None and f.read_bytes() == data[:CHUNK] and len(st["chunks"][0]["replicas"]) == 3

        await until(repaired, 10, "the corrupt replica re-copied from a good one")


async def _exists(p: Path) -> bool:
    return p.exists()


async def test_a_primary_being_written_keeps_its_lease_through_heartbeats(cell: Cell) -> None:
    """Leases last LEASE (2 s) here; writing for twice that keeps one primary and one version
    (a new lease would bump the version): the extensions rode on the heartbeats."""
    await cell.wait_live()
    async with cell.client() as c:
        await c.put("/lease/f", b"first")
        first = (await c.stat("/lease/f"))["chunks"][0]
        deadline = asyncio.get_running_loop().time() + 2 * LEASE
        while asyncio.get_running_loop().time() < deadline:
            await c.write("/lease/f", 0, os.urandom(64))
            await asyncio.sleep(0.05)
        last = (await c.stat("/lease/f"))["chunks"][0]
    assert (last["primary"], last["version"]) == (first["primary"], first["version"])


async def test_eight_concurrent_appenders_every_acked_record_is_read_once(cell: Cell) -> None:
    await cell.wait_live()
    acked: list[bytes] = []

    async def appender(k: int) -> None:
        async with cell.client() as c:
            for j in range(25):
                payload = f"client {k} record {j} ".encode() * (1 + (k + j) % 7)
                await c.append_record("/logs/events", payload)
                acked.append(payload)

    await asyncio.gather(*(appender(k) for k in range(8)))
    async with cell.client() as c:
        got = await c.read_records("/logs/events")
        st = await c.stat("/logs/events")
    assert sorted(got) == sorted(acked)  # each once, exactly as written
    assert len(st["chunks"]) > 3  # records filled several chunks: padding was skipped
    for k in range(8):  # one client's records keep their order
        mine = [r for r in got if r.startswith(f"client {k} ".encode())]
        assert mine == [r for r in acked if r.startswith(f"client {k} ".encode())]


async def test_malformed_frames_and_unknown_methods_hurt_only_their_connection(cell: Cell) -> None:
    await cell.wait_live()
    host, port = "127.0.0.1", int(cell.addr.rsplit(":", 1)[1])
    bystander = await RpcClient(host, port).connect()
    with pytest.raises(RemoteError) as e:
        await bystander.call("format_the_disk")
    assert e.value.type == "UnknownMethod"

    def raw(payload: bytes) -> bytes:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    def frames(answer: bytes) -> list[Response]:
        dec = FrameDecoder()
        dec.feed(answer)
        out = []
        while (m := dec.next()) is not None:
            assert isinstance(m, Response)
            out.append(m)
        return out

    answer = await asyncio.to_thread(raw, struct.pack(">I", 2) + b"\xc1\xc1" + encode_request(3, "ls", {"path": "/"}))
    bad, ls = frames(answer)
    assert bad.error is not None and bad.error[0] == "BadFrame"
    assert ls.id == 3 and ls.error is None and isinstance(ls.result, list)  # the same connection goes on
    answer = await asyncio.to_thread(raw, struct.pack(">I", 0xFFFFFFF0) + b"junk" + encode_request(4, "ls", {"path": "/"}))
    [only] = frames(answer)  # nothing after an impossible length is read: the connection is closed
    assert only.error is not None and only.error[0] == "BadFrame"
    with pytest.raises(RemoteError) as e:
        await bystander.call("ls", path=42)
    assert e.value.type == "BadPath"
    assert isinstance(await bystander.call("ls", path="/"), list)
    await bystander.close()


def _cli(master: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "clients.gfs", "--master", master, "--timeout", "5", *args],
                          input=stdin, capture_output=True, cwd=REPO_ROOT, timeout=60)  # fmt: skip


def test_make_serve_gfs_and_the_cli_with_stdin_stdout_and_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``make serve-gfs`` is ``python -m servers.gfs``: the cluster role, four processes;
    the CLI against it, ``-`` for stdin and stdout, mistakes in one line."""
    from harness.procs import python_module

    with python_module("servers.gfs", "--dir", str(tmp_path), "--chunk-size", "4kb", "--heartbeat", "0.2",
                       port=0) as cluster:  # fmt: skip
        master = f"127.0.0.1:{cluster.port}"
        data = os.urandom(CHUNK + 99)
        assert _cli(master, "put", "-", "/cli/data.bin", stdin=data).returncode == 0
        got = _cli(master, "get", "/cli/data.bin", "-")
        assert got.returncode == 0 and got.stdout == data
        st = _cli(master, "stat", "/cli/data.bin").stdout.decode()
        assert f"{len(data)} bytes, 2 chunk(s)" in st and st.count("replicas 127.0.0.1:") == 2
        assert len({r for line in st.splitlines() if "replicas" in line
                    for r in line.split("replicas ")[1].split(",")}) == 3  # fmt: skip
        assert _cli(master, "append", "/cli/log", "-", "--lines", stdin=b"one\ntwo\n").returncode == 0
        assert _cli(master, "records", "/cli/log").stdout == b"one\ntwo\n"
        assert cli_main(["--master", master, "get", "/cli/nope", "-"]) == 1  # in-process from here on
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "NoSuchFile" in err
        with pytest.raises(SystemExit) as usage:
            cli_main(["--master", master, "frobnicate"])
        assert usage.value.code == 2 and capsys.readouterr().err.count("\n") == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cs1", "cs2", "cs3", "master"]
    assert cluster.proc is not None and cluster.proc.returncode == 0
    assert cli_main(["--master", "127.0.0.1:1", "--timeout", "0.2", "ls"]) == 1  # nobody there
    assert capsys.readouterr().err.count("\n") == 1


async def test_a_mutation_claiming_a_huge_chunk_size_is_refused(cell: Cell) -> None:
    """The chunk size comes from the cell, not from the caller: a primary told that
    chunks are 1 TB long would make an 8 GB sparse file (and a CRC per 64 KB of it)
    from one 4-byte write. Refused as BadParams; the chunk stays whole and readable."""
    async with cell.client() as c:
        await c.put("/hole", b"before")
    host, _, port = cell.addr.rpartition(":")
    m = await RpcClient(host, int(port)).connect()
    try:
        info = await m.call("chunk", path="/hole", index=0, lease=True)
    finally:
        await m.close()
    h, _, p = info["primary"].rpartition(":")
    cs = await RpcClient(h, int(p)).connect()
    try:
        await cs.call("push", data_id="hole", data=b"boom", chain=[])
        for claim in (2**40, CHUNK * 2, -1, "4096"):
            with pytest.raises(RemoteError) as e:
                await cs.call("write", handle=info["handle"], version=info["version"], offset=2**33,
                              data_id="hole", secondaries=[], chunk_size=claim)  # fmt: skip
            assert e.value.type == "BadParams", e.value
        with pytest.raises(RemoteError) as e:
            await cs.call("apply", handle=info["handle"], version=info["version"], serial=1, pad_to=2**33, limit=CHUNK)
        assert e.value.type == "BadParams"
        for off, n in ((-5, 10), ("x", 1), (0, None)):  # an InternalError (a crash) before
            with pytest.raises(RemoteError) as e:
                await cs.call("read", handle=info["handle"], version=info["version"], offset=off, length=n)
            assert e.value.type == "BadParams", e.value
    finally:
        await cs.close()
    for i in range(cell.n):
        for f in cell.chunk_files(i).values():
            assert f.stat().st_size <= CHUNK
    async with cell.client() as c:
        assert await c.get("/hole") == b"before"


async def test_a_chunk_index_far_past_the_end_is_refused_not_allocated(cell: Cell) -> None:
    """``chunk(create=True)`` fills the hole before its index: index 10**9 would have the
    master allocate a billion chunks (2000 took 13 s) for one 40-byte request."""
    async with cell.client() as c:
        await c.create("/farhole")
        host, _, port = cell.addr.rpartition(":")
        m = await RpcClient(host, int(port), timeout=30).connect()
        try:
            with pytest.raises(RemoteError) as e:
                await m.call("chunk", path="/farhole", index=10**9, create=True)
            assert e.value.type == "BadParams" and "past the end" in e.value.message
            assert (await c.stat("/farhole"))["chunks"] == []
            await c.write("/farhole", 3 * CHUNK, b"x")  # a modest hole is still filled
            assert await c.get("/farhole") == bytes(3 * CHUNK) + b"x"
        finally:
            await m.close()


@pytest.mark.parametrize("timeout", ["-1", "nan", "inf", "soon"])
def test_a_cli_retry_timeout_that_is_not_a_duration_is_a_usage_error(
        timeout: str, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    with pytest.raises(SystemExit) as e:
        cli_main(["--timeout", timeout, "ls"])
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1


async def test_a_cli_snapshot_error_names_its_source(cell: Cell, capsys: pytest.CaptureFixture[str]) -> None:
    await asyncio.to_thread(cli_main, ["--master", cell.addr, "--timeout", "5", "snapshot", "/nope/src", "/dst"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "snapshot /nope/src:" in err, err
