"""A hostile user against servers.cache: Lua sandbox and reply limits, ACL key checks in
unusual positions, redaction of secrets, the AOF manifest and function persistence.

Each test drives real processes (our cache on --port 0, and where a reply is compared a
private redis-server) with real clients (redis-py, redis-cli, raw sockets)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.procs import Child, python_module
from harness.services import RedisServer
from servers.cache.persist import MANIFEST

pytestmark = pytest.mark.exercise("N14")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ours() -> Iterator[int]:
    with python_module("servers.cache", port=0) as child:
        assert isinstance(child, Child)
        yield child.port  # type: ignore[misc]


@pytest.fixture(scope="module")
def theirs() -> Iterator[int]:
    with RedisServer() as r:
        yield r.port


def start(d: Path) -> Child:
    return python_module(
        "servers.cache", "--dir", str(d), "--appendonly", "yes", "--appendfsync", "always", port=0
    ).start()


def start_fails(d: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers.cache", "--port", "0", "--dir", str(d),
         "--appendonly", "yes"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip


# --- the AOF manifest ----------------------------------------------------------------------


def _aof_with_base_and_incr(d: Path) -> Path:
    """A base (written by BGREWRITEAOF) holding l=[a] and n=1, an incr holding n's INCR."""
    server = start(d)
    r = redis.Redis(port=server.port)
    r.rpush("l", "a")
    r.set("n", 1)
    r.bgrewriteaof()
    aof = d / "appendonlydir"
    for _ in range(200):
        if (
            r.info("persistence")["aof_rewrite_in_progress"] == 0
            and len((aof / MANIFEST).read_text().splitlines()) == 2
        ):
            break
        r.ping()
    r.incr("n")
    r.close()
    server.stop()
    return aof


# Each bad manifest is built from the real one's base line (B) and incr line (I).
BAD_MANIFESTS = {
    "empty": "",  # truncated to nothing
    "comment-only": "# only a comment\n",
    "duplicate-incr": "{B}\n{I}\n{I}\n",  # would replay the incr file twice
    "two-bases": "{B}\n{B}\n{I}\n",
    "unknown-type": "{B}\nfile appendonly.aof.3.incr.aof seq 3 type x\n",
    "seq-0": "{B}\nfile appendonly.aof.9.incr.aof seq 0 type i\n",
    "huge-line": "{B}\nfile " + "x" * 5000 + " seq 3 type i\n",
    "dotdot": "{B}\nfile .. seq 3 type i\n",
    "path-traversal": "{B}\nfile ../../etc/passwd seq 3 type i\n",
    "short-line": "{B}\nfile appendonly.aof.3.incr.aof\n",
}


@pytest.mark.parametrize("bad", BAD_MANIFESTS)
def test_a_bad_manifest_refuses_to_start_and_deletes_nothing(tmp_path, bad):
    aof = _aof_with_base_and_incr(tmp_path)
    before = sorted(p.name for p in aof.iterdir())
    base_line, incr_line = (aof / MANIFEST).read_text().splitlines()
    (aof / MANIFEST).write_text(BAD_MANIFESTS[bad].format(B=base_line, I=incr_line))
    res = start_fails(tmp_path)
    assert res.returncode == 2 and "cannot load the saved data" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert sorted(p.name for p in aof.iterdir()) == before  # no file was taken for a leftover


def test_a_manifest_not_utf8_refuses_to_start_with_one_line(tmp_path):
    aof = _aof_with_base_and_incr(tmp_path)
    (aof / MANIFEST).write_bytes(b"file \xff\xfe seq 1 type i\n")
    res = start_fails(tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


def test_the_base_is_loaded_first_whatever_the_manifest_order(tmp_path):
    aof = _aof_with_base_and_incr(tmp_path)
    lines = (aof / MANIFEST).read_text().splitlines()
    (aof / MANIFEST).write_text("\n".join(reversed(lines)) + "\n")  # incr line first
    server = start(tmp_path)
    r = redis.Redis(port=server.port)
    assert r.lrange("l", 0, -1) == [b"a"] and r.get("n") == b"2"
    r.close()
    server.stop()
