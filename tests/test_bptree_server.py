"""The B+ tree RESP server: exact bytes in-loop on port 0, then redis-py and redis-cli on a child."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from support import exchange as _exchange

from netlib.shell import ShellConfig
from servers.bptree.server import serve
from storage.bptree import MAX_KEY, PAGE_SIZE, BPlusTree

pytestmark = pytest.mark.exercise("S8")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def server(tmp_path):
    db = BPlusTree.open(tmp_path, cache_pages=16)
    srv = await serve(ShellConfig(port=0), db)
    yield srv, db
    await srv.shutdown(grace=0.5)
    db.close()


async def test_commands_answer_exact_bytes(server):
    srv, _ = server
    req = (
        b"SET k hello\r\nGET k\r\nGET missing\r\nEXISTS k missing\r\nDBSIZE\r\n"
        b"DEL k k\r\nPING\r\n"
    )
    want = b"+OK\r\n$5\r\nhello\r\n$-1\r\n:1\r\n:1\r\n:1\r\n+PONG\r\n"
    assert await _exchange(srv.port, req, b"+PONG\r\n") == want


async def test_keys_come_in_key_order_and_scan_walks_them_all(server):
    srv, db = server
    for i in reversed(range(25)):
        db.put(b"k%02d" % i, b"v")
    got = await _exchange(srv.port, b"KEYS k0*\r\n", b"k09\r\n")
    assert got == b"*10\r\n" + b"".join(b"$3\r\nk%02d\r\n" % i for i in range(10))
    got = await _exchange(srv.port, b"SCAN 0 COUNT 3 MATCH k0?\r\n", b"\r\n$3\r\nk02\r\n")
    cursor = int.from_bytes(b"\x01k03", "big")
    assert got == b"*2\r\n$%d\r\n%d\r\n*3\r\n" % (len(str(cursor)), cursor) + b"".join(
        b"$3\r\nk%02d\r\n" % i for i in range(3)
    )
    bad = await _exchange(srv.port, b"SCAN x\r\nSCAN 0 COUNT 0\r\nPING\r\n", b"+PONG\r\n")
    assert bad == b"-ERR invalid cursor\r\n-ERR syntax error\r\n+PONG\r\n"


async def test_limits_answer_errors_and_large_values_round_trip(server):
    srv, db = server
    big_key = b"k" * (MAX_KEY + 1)
    req = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(big_key), big_key)
    value = bytes(range(256)) * 40  # 10 KiB: in overflow pages
    req += b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\nGET k\r\n" % (len(value), value)
    got = await _exchange(srv.port, req + b"PING\r\n", b"+PONG\r\n")
    assert got == (b"-ERR key length must be 1..256 bytes\r\n+OK\r\n"
                   b"$10240\r\n" + value + b"\r\n+PONG\r\n")  # fmt: skip
    assert len(db) == 1


async def test_info_reports_the_tree(server):
    srv, db = server
    for i in range(400):
        db.put(b"key%04d" % i, b"x" * 100)
    got = await _exchange(srv.port, b"INFO engine\r\n", b"wal_replayed:0\r\n\r\n")
    assert b"# Engine\r\nengine:BPlusTree\r\n" in got and b"height:2\r\n" in got
    assert b"splits:" in got and b"cache_pages:16\r\n" in got


@pytest.fixture
def child(launch, tmp_path):
    return launch("servers.bptree", "--dir", str(tmp_path / "data"), "--sync", "always")


def test_redis_py_talks_to_it(child):
    r = redis.Redis(host="127.0.0.1", port=child.port)
    assert r.set("word", "bptree") is True and r.get("word") == b"bptree"
    assert r.set(b"bin\x00key", b"\xff\x00") and r.get(b"bin\x00key") == b"\xff\x00"
    pipe = r.pipeline(transaction=False)
    for i in range(300):
        pipe.set(f"p{i:03d}", i)
    assert all(pipe.execute())
    assert list(r.scan_iter(match="p*", count=7)) == [b"p%03d" % i for i in range(300)]
    assert r.dbsize() == 302 and r.delete("word", "nope") == 1
    assert r.execute_command("CHECKPOINT").startswith(b"OK")
    assert r.info("keyspace") == {"db0": {"keys": 301, "expires": 0, "avg_ttl": 0}}
    r.close()


def test_redis_cli_talks_to_it_and_data_survives_restart(launch, tmp_path):
    cli = shutil.which("redis-cli")
    assert cli, "redis-cli missing: install the Debian package redis-tools"
    data = str(tmp_path / "data")
    child = launch("servers.bptree", "--dir", data)

    def run(*args: str) -> str:
        out = subprocess.run([cli, "-p", str(child.port), *args], capture_output=True,
                             text=True, timeout=20)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run("SET", "lang", "python") == "OK"
    assert run("--scan", "--pattern", "l*") == "lang"
    assert child.stop() == 0
    child = launch("servers.bptree", "--dir", data)
    assert run("GET", "lang") == "python"


def _flip_middle(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


def _refused(module: str, directory: Path) -> str:
    r = subprocess.run([sys.executable, "-m", module, "--dir", str(directory), "--port", "0"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 1 and r.stdout == ""
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def test_a_corrupt_page_refuses_to_start_with_one_line(tmp_path):
    with BPlusTree.open(tmp_path) as db:
        for i in range(2000):
            db.put(b"key%05d" % i, b"v" * 50)
    path = tmp_path / "tree.db"
    page = path.stat().st_size // PAGE_SIZE // 2
    _flip_middle(path, page * PAGE_SIZE + 777)
    line = _refused("servers.bptree", tmp_path)
    assert f"{path} is corrupt at offset {page * PAGE_SIZE}" in line
    assert f"python -m storage.check --repair {tmp_path}" in line


def test_a_corrupt_bitcask_record_refuses_to_start_with_one_line(tmp_path):
    from storage.bitcask import Bitcask

    with Bitcask.open(tmp_path) as db:
        for i in range(200):
            db.put(b"key%05d" % i, b"v" * 50)
    data = next(tmp_path.glob("*.data"))
    for hint in tmp_path.glob("*.hint"):
        hint.unlink()
    _flip_middle(data, data.stat().st_size // 2)
    line = _refused("servers.bitcask", tmp_path)
    assert f"{data} is corrupt at offset " in line and "--repair" in line


def test_a_port_in_use_is_one_line_not_a_traceback(child, tmp_path):
    r = subprocess.run([sys.executable, "-m", "servers.bptree", "--dir", str(tmp_path / "other"),
                        "--port", str(child.port)], cwd=REPO, capture_output=True, text=True,
                       timeout=60)  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot listen on" in r.stderr
