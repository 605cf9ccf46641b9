"""GFS's sans-IO parts (N18): path locks as the paper takes them, the chunk store's
per-block CRCs, the record format readers use to skip padding and duplicates,
and recovery from checkpoint + log."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.gfs import records
from servers.gfs.chunkstore import BLOCK, ChunkStore
from servers.gfs.errors import Corrupt
from servers.gfs.meta import PathLocks, check_path
from servers.gfs.oplog import OpLog

pytestmark = pytest.mark.exercise("N18")


def test_a_mutation_write_locks_its_path_and_read_locks_the_ancestors() -> None:
    locks = PathLocks()
    create_in_dir = PathLocks.plan("/home/user/f1", write=True)
    assert create_in_dir == [("/", False), ("/home", False), ("/home/user", False), ("/home/user/f1", True)]
    assert locks.try_acquire(create_in_dir)
    assert locks.try_acquire(PathLocks.plan("/home/user/f2", write=True))  # same directory: concurrent
    assert not locks.try_acquire(PathLocks.plan("/home/user", write=True))  # e.g. a snapshot of the dir
    assert not locks.try_acquire(PathLocks.plan("/home/user/f1", write=False))
    locks.release(create_in_dir)
    assert locks.try_acquire(PathLocks.plan("/home/user/f1", write=False))


@pytest.mark.parametrize("bad", ["", "a/b", "/a//b", "/a/../b", "/./a", 7, "//z", "//", "/a//", "/" + "n" * 1024])
def test_paths_are_absolute_and_plain(bad: object) -> None:
    with pytest.raises(ValueError) as e:
        check_path(bad)
    assert len(str(e.value)) < 200  # a 100 KB name is not echoed back whole


def test_a_path_is_normalised_only_by_dropping_one_trailing_slash() -> None:
    assert check_path("/a/b/") == "/a/b" and check_path("/") == "/"
    with pytest.raises(ValueError, match="longer than 1024"):
        check_path("/" + "n" * 100_000)


def test_a_flipped_byte_in_the_op_log_refuses_start_with_one_line(tmp_path: Path) -> None:
    """The master's op log with one flipped byte: the master does not start (nor silently
    drop acknowledged ops after it), and says so in one line naming the file and offset."""
    import subprocess
    import sys

    log = OpLog(tmp_path / "m", checkpoint_every=1000)
    log.recover()
    for i in range(6):
        log.append(["mkdir", f"/d{i}"])
    log.close()
    (seg,) = (tmp_path / "m" / "log").iterdir()
    raw = bytearray(seg.read_bytes())
    raw[len(raw) * 2 // 3] ^= 0x40
    seg.write_bytes(bytes(raw))
    r = subprocess.run([sys.executable, "-m", "servers.gfs", "master", "--port", "0", "--dir", str(tmp_path / "m")],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "refusing to start" in r.stderr and str(seg) in r.stderr and "offset" in r.stderr


def test_a_flipped_byte_fails_the_block_checksum_on_read(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    store.create(1, 1)
    data = bytes(range(256)) * (3 * BLOCK // 256)
    store.write(1, 0, data, 4 * BLOCK)
    assert store.read(1, BLOCK - 10, 20) == data[BLOCK - 10 : BLOCK + 10]
    path = tmp_path / "chunks" / f"{1:016x}.chunk"
    raw = bytearray(path.read_bytes())
    raw[BLOCK + 5] ^= 0x01
    path.write_bytes(raw)
    assert store.read(1, 0, 100) == data[:100]  # block 0 is intact
    with pytest.raises(Corrupt):
        store.read(1, BLOCK, 10)
    with pytest.raises(Corrupt):  # a partial overwrite does not launder the bad block
        store.write(1, BLOCK + 100, b"x", 4 * BLOCK)
    assert ChunkStore(tmp_path).versions == {1: 1}  # the meta survives a reopen


def test_a_gap_reads_as_zeros_and_has_checksums(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    store.create(2, 3)
    store.write(2, BLOCK + 7, b"tail", 4 * BLOCK)
    assert store.read(2, 0, BLOCK + 11) == bytes(BLOCK + 7) + b"tail"
    store.pad(2, 3 * BLOCK)
    assert store.length(2) == 3 * BLOCK and store.read(2, 2 * BLOCK, BLOCK) == bytes(BLOCK)


def test_readers_skip_padding_fragments_and_duplicates() -> None:
    a, b = records.encode(b"alpha", b"A" * 16), records.encode(b"beta", b"B" * 16)
    chunk = a + a[:10] + bytes(50) + b + a + b"GFSR" + bytes(30) + b[:-1] + bytes(100)
    found = list(records.scan(chunk))
    assert [p for _, _, p in found] == [b"alpha", b"beta", b"alpha"]
    assert list(records.unique(found)) == [b"alpha", b"beta"]


def test_recovery_is_the_checkpoint_plus_the_log_after_it(tmp_path: Path) -> None:
    log = OpLog(tmp_path, checkpoint_every=2)
    meta = log.recover()
    for op in (["mkdir", "/d"], ["create", "/d/f"], ["add_chunk", "/d/f", 1]):
        log.append(op)
        meta.apply(op)
    log.checkpoint(meta)
    for op in (["version", 1, 2], ["create", "/d/g"]):
        log.append(op)
        meta.apply(op)
    log.close()
    again = OpLog(tmp_path).recover()
    assert again.snapshot() == meta.snapshot()
    assert again.files == {"/d/f": [1], "/d/g": []} and again.versions == {1: 2}


def test_the_chunk_meta_is_a_log_replayed_at_start_and_a_torn_tail_is_dropped(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    store.create(3, 1)
    for i in range(40):
        store.write(3, i * 100, bytes([i]) * 100, BLOCK * 2)
    store.set_version(3, 4)
    meta = tmp_path / "chunks" / f"{3:016x}.meta"
    with open(meta, "ab") as f:
        f.write(b"\x01\x02\x03")  # a crash in the middle of the next append
    again = ChunkStore(tmp_path)
    assert again.versions == {3: 4} and again.crcs == store.crcs
    assert again.read(3, 0, 4000) == b"".join(bytes([i]) * 100 for i in range(40))
    assert meta.stat().st_size < 200  # compacted to one record on the way


def test_a_snapshot_shares_chunks_until_a_copy_on_write_and_purge_frees_only_unshared() -> None:
    from servers.gfs.meta import Meta

    m = Meta()
    for op in (["mkdir", "/d"], ["create", "/d/f"], ["add_chunk", "/d/f", 1], ["add_chunk", "/d/f", 2],
               ["snapshot", "/d", "/snap/d"]):  # fmt: skip
        m.apply(op)
    assert m.files["/snap/d/f"] == [1, 2] and m.refs == {1: 2, 2: 2} and "/snap/d" in m.dirs
    m.apply(["cow", "/d/f", 0, 3, 1])
    assert m.files["/d/f"] == [3, 2] and m.refs == {1: 1, 2: 2, 3: 1}
    m.apply(["delete", "/snap/d/f", "/snap/d/.deleted.1.f", 1.0])
    m.apply(["purge", "/snap/d/.deleted.1.f"])
    assert set(m.versions) == {2, 3} and m.refs == {2: 1, 3: 1}  # chunk 1 freed, 2 still named
    assert Meta.from_snapshot(m.snapshot()).refs == m.refs


@pytest.mark.parametrize("argv", [["chunkserver"], ["chunkserver", "--master", "nohost"], ["--chunk-size", "10"],
                                  ["master", "--replication", "0"], ["master", "--lease", "-1"]])  # fmt: skip
def test_server_flag_mistakes_are_one_line_and_exit_2(argv: list[str], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from servers.gfs.__main__ import main

    with pytest.raises(SystemExit) as e:
        main([*argv, "--port", "0", "--dir", str(tmp_path)])
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_the_cluster_passes_every_master_flag_on(tmp_path: Path) -> None:
    """``python -m servers.gfs --checkpoint-every 2``: the cluster's master gets the flag
    (it was dropped, as was --tick): a few ops later the checkpoint is on disk."""
    import asyncio

    from clients.gfs import GfsClient
    from harness.procs import python_module

    with python_module("servers.gfs", "--dir", str(tmp_path), "--checkpoint-every", "2", "--tick", "0.1",
                       "--chunkservers", "1", port=0) as cluster:  # fmt: skip

        async def ops() -> None:
            async with GfsClient(f"127.0.0.1:{cluster.port}", retry_for=10) as c:
                for i in range(3):
                    await c.mkdir(f"/d{i}")
                deadline = asyncio.get_running_loop().time() + 20
                while not (tmp_path / "master" / "checkpoint").exists():
                    assert asyncio.get_running_loop().time() < deadline, "no checkpoint within 20 s"
                    await asyncio.sleep(0.05)

        asyncio.run(ops())
