"""SHUTDOWN and SIGTERM on real processes, beside a redis-server 7.0 where a reply is seen.

What ``servers/cache/shutdown.py`` promises: with a save point (or SAVE) the snapshot is
written before the exit and a restart has the data; NOSAVE writes none; with the AOF on
every acknowledged write is there after a restart; SIGTERM does what SHUTDOWN does; a
save that fails refuses with Redis's error and the server goes on, FORCE exits anyway;
the caller gets no reply and the process exits 0 (redis-cli prints nothing, redis-py's
``shutdown()`` returns); nothing pipelined after SHUTDOWN runs; a BGSAVE child is
killed and its temp file removed; SHUTDOWN is @admin (NOPERM without it), refused inside
MULTI and in scripts, and its COMMAND INFO, errors and CONFIG parameters are Redis's.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.procs import Child, python_module
from harness.services import RedisServer
from netlib.resp import encode_command
from tests.cache_support import Harness, Raw

pytestmark = pytest.mark.exercise("N14")

FAILED = b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"


def start(d: Path, *extra: str) -> Child:
    return python_module("servers.cache", "--dir", str(d), *extra, port=0).start()


def cli(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30
    )


def exited(child: Child) -> int:
    assert child.proc is not None
    return child.proc.wait(timeout=20)


def closed(sock: socket.socket) -> bool:
    """The peer closed without a reply (EOF or a reset)."""
    sock.settimeout(20)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def data(port: int) -> dict[bytes, bytes]:
    r = redis.Redis(port=port)
    try:
        return {k: r.get(k) for k in r.keys()}  # type: ignore[misc,union-attr]
    finally:
        r.close()


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[Raw, Raw]]:
    """One connection to our cache and one to a private redis-server, each with a dir."""
    with RedisServer(directory=tmp_path / "redis") as real, start(tmp_path / "ours") as ours:
        a, b = Raw(ours.port, 2), Raw(real.port, 2)  # type: ignore[arg-type]
        yield a, b
        a.close()
        b.close()


# --- replies and metadata, byte for byte against redis-server ------------------------------


def test_command_info_errors_and_config_are_redis_s(both):
    ours, theirs = both
    for args in [
        ("COMMAND", "INFO", "shutdown"),
        ("SHUTDOWN", "ABORT"),
        ("SHUTDOWN", "abort", "ABORT"),
        ("SHUTDOWN", "FOO"),
        ("SHUTDOWN", "SAVE", "NOSAVE"),
        ("SHUTDOWN", "ABORT", "NOW"),
        ("SHUTDOWN", "abort", "force"),
        ("SHUTDOWN", "NOSAVE", "ABORT"),
        ("MULTI",),
        ("SHUTDOWN",),
        ("SHUTDOWN", "ABORT"),
        ("EXEC",),
        ("EVAL", "return redis.call('shutdown')", "0"),
        ("CONFIG", "GET", "shutdown-on-sigterm"),  # (each alone: a glob's order is Redis's dict's)
        ("CONFIG", "GET", "shutdown-on-sigint"),
        ("CONFIG", "GET", "shutdown-timeout"),
        ("CONFIG", "SET", "shutdown-on-sigterm", "foo"),
        ("CONFIG", "SET", "shutdown-on-sigterm", ""),
        ("CONFIG", "SET", "shutdown-on-sigterm", "save nosave"),
        ("CONFIG", "SET", "shutdown-on-sigterm", "force NOW save"),
        ("CONFIG", "GET", "shutdown-on-sigterm"),
        ("CONFIG", "SET", "shutdown-on-sigint", "default nosave"),
        ("CONFIG", "GET", "shutdown-on-sigint"),
        ("CONFIG", "SET", "shutdown-on-sigint", "default"),
        ("CONFIG", "GET", "shutdown-on-sigint"),
        ("CONFIG", "SET", "shutdown-timeout", "-1"),
        ("CONFIG", "SET", "shutdown-timeout", "3"),
        ("CONFIG", "GET", "shutdown-timeout"),
        ("COMMAND", "GETKEYS", "SHUTDOWN"),
    ]:
        assert ours.call(*args) == theirs.call(*args), args
    for name in ("save", "bgsave", "get", "set", "config|set", "client|kill", "blpop"):
        cats = [[w for w in x.call("COMMAND", "INFO", name).split(b"\r\n") if w[:2] == b"+@"]
                for x in both]  # fmt: skip
        assert cats[0] == cats[1], name  # (in Redis's order: @admin @slow @dangerous)
    for x in (ours, theirs):
        x.call("COMMAND", "DOCS", "shutdown")
    docs = ours.call("COMMAND", "DOCS", "shutdown")
    assert b"Synchronously save the dataset to disk and then shut down the server" in docs
    assert b"$5\r\ngroup\r\n$6\r\nserver\r\n" in docs


def test_a_user_without_admin_gets_noperm_as_from_redis(both):
    for x in both:
        x.call("ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all", "-@admin")
        x.call("AUTH", "app", "pw")
    ours, theirs = both
    for args in [("SHUTDOWN",), ("SHUTDOWN", "NOSAVE", "FORCE"), ("SHUTDOWN", "ABORT")]:
        got = ours.call(*args)
        assert got == theirs.call(*args), args
        assert got == b"-NOPERM this user has no permissions to run the 'shutdown' command\r\n"
    for x in both:
        x.call("AUTH", "default", "")
    for cat in ("admin", "dangerous", "slow"):
        assert b"\r\nshutdown\r\n" in ours.call("ACL", "CAT", cat)
        assert b"\r\nshutdown\r\n" in theirs.call("ACL", "CAT", cat)


def test_a_failed_save_refuses_and_force_exits_as_redis(tmp_path):
    """The data directory removed under the server: the final save cannot be written."""
    with RedisServer(directory=tmp_path / "redis") as real, start(tmp_path / "ours") as ours:
        for port, d in ((ours.port, tmp_path / "ours"), (real.port, tmp_path / "redis")):
            s = Raw(port, 2)  # type: ignore[arg-type]
            assert s.call("CONFIG", "SET", "save", "3600 1") == b"+OK\r\n"
            s.call("SET", "a", "1")
            shutil.rmtree(d)
            assert s.call("SHUTDOWN") == FAILED
            assert s.call("SHUTDOWN", "SAVE", "NOW") == FAILED
            assert s.call("PING") == b"+PONG\r\n"  # still serving
            assert s.call("SHUTDOWN", "ABORT") == b"-ERR No shutdown in progress.\r\n"
            assert cli(port, "SHUTDOWN").stdout == "ERR Errors trying to SHUTDOWN. Check logs.\n\n"
            s.sock.sendall(encode_command("SHUTDOWN", "FORCE"))
            assert closed(s.sock)
        assert exited(ours) == 0 and exited(real.child) == 0
        assert "Error trying to save the DB" in ours.output()
        assert "Exit anyway" in ours.output()


def test_sigterm_whose_save_fails_keeps_serving(tmp_path):
    with start(tmp_path / "d") as ours:
        r = redis.Redis(port=ours.port)
        r.config_set("save", "3600 1")
        r.set("a", "1")
        shutil.rmtree(tmp_path / "d")
        ours.signal(signal.SIGTERM)
        assert r.ping() is True and r.get("a") == b"1"  # (the signal is handled before PING)
        (tmp_path / "d").mkdir()
        ours.signal(signal.SIGTERM)
        assert exited(ours) == 0
        assert "Received SIGTERM scheduling shutdown" in ours.output()
        assert "can't exit" in ours.output()
    assert (tmp_path / "d" / "dump.sdb").exists()


# --- what is saved ---------------------------------------------------------------------------


def test_redis_cli_shutdown_with_a_save_point_saves_and_a_restart_has_it(tmp_path):
    conf = tmp_path / "cache.conf"
    conf.write_text("save 3600 1\n")
    d = tmp_path / "d"
    ours = python_module("servers.cache", str(conf), "--dir", str(d), port=0).start()
    with ours, RedisServer(directory=tmp_path / "redis") as real:
        redis.Redis(port=ours.port).mset({"a": "1", "b": "2"})
        got, want = cli(ours.port, "shutdown"), cli(real.port, "shutdown")
        assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, "")
        assert got.returncode == 0 and got.stdout == ""
        assert exited(ours) == 0 and exited(real.child) == 0
        assert "Saving the final snapshot" in ours.output()
    assert (d / "dump.sdb").exists()
    with start(d) as again:
        assert data(again.port) == {b"a": b"1", b"b": b"2"}


def test_shutdown_nosave_writes_no_new_snapshot(tmp_path):
    with start(tmp_path) as ours:
        r = redis.Redis(port=ours.port)
        r.config_set("save", "3600 1")
        r.set("kept", "1")
        r.save()
        before = (tmp_path / "dump.sdb").read_bytes()
        r.set("lost", "1")
        assert cli(ours.port, "shutdown", "nosave").returncode == 0
        assert exited(ours) == 0
    assert (tmp_path / "dump.sdb").read_bytes() == before
    with start(tmp_path) as again:
        assert data(again.port) == {b"kept": b"1"}


def test_no_save_point_no_snapshot_and_save_writes_one(tmp_path):
    with start(tmp_path / "a") as ours:
        redis.Redis(port=ours.port).set("k", "v")
        assert cli(ours.port, "shutdown").returncode == 0
        assert exited(ours) == 0
    assert not (tmp_path / "a" / "dump.sdb").exists()
    with start(tmp_path / "b") as ours:
        redis.Redis(port=ours.port).set("k", "v")
        assert cli(ours.port, "shutdown", "save").returncode == 0
        assert exited(ours) == 0
    with start(tmp_path / "b") as again:
        assert data(again.port) == {b"k": b"v"}


@pytest.mark.parametrize("how", ["shutdown", "sigterm"])
@pytest.mark.parametrize("policy", ["everysec", "no"])
def test_aof_keeps_every_acknowledged_write_across_a_stop(tmp_path, policy, how):
    args = ("--appendonly", "yes", "--appendfsync", policy)
    with start(tmp_path, *args) as ours:
        r = redis.Redis(port=ours.port)
        pipe = r.pipeline(transaction=False)
        for i in range(2000):
            pipe.set(f"k{i}", i)
        pipe.incrby("n", 7)
        assert all(pipe.execute())
        if how == "shutdown":
            assert r.shutdown() is None  # redis-py: the closed connection is the success
        else:
            ours.signal(signal.SIGTERM)
        assert exited(ours) == 0
        assert "Calling fsync() on the AOF file" in ours.output()
    assert not (tmp_path / "dump.sdb").exists()  # (no save point: the AOF alone)
    with start(tmp_path, *args) as again:
        got = data(again.port)
        assert len(got) == 2001 and got[b"n"] == b"7" and got[b"k1999"] == b"1999"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_when_there_are_save_points_and_obeys_shutdown_on_sig(tmp_path, sig):
    name = "sigterm" if sig == signal.SIGTERM else "sigint"
    with start(tmp_path / "a") as ours:
        r = redis.Redis(port=ours.port)
        r.config_set("save", "3600 1")
        r.set("k", "v")
        ours.signal(sig)
        assert exited(ours) == 0
        assert f"Received {name.upper()} scheduling shutdown" in ours.output()
    with start(tmp_path / "a") as again:
        assert data(again.port) == {b"k": b"v"}
    with start(tmp_path / "b") as ours:
        r = redis.Redis(port=ours.port)
        r.config_set("save", "3600 1")
        r.config_set(f"shutdown-on-{name}", "nosave")
        r.set("k", "v")
        ours.signal(sig)
        assert exited(ours) == 0
    assert not (tmp_path / "b" / "dump.sdb").exists()


def test_nothing_pipelined_after_shutdown_runs_and_blocked_clients_are_closed(tmp_path):
    with start(tmp_path) as ours:
        blocked = socket.create_connection(("127.0.0.1", ours.port))
        blocked.sendall(encode_command("BLPOP", "q", "0"))
        r = redis.Redis(port=ours.port)
        r.config_set("save", "3600 1")
        while not any(c["cmd"] == "blpop" for c in r.client_list()):
            pass  # (until the server has taken the BLPOP)
        s = socket.create_connection(("127.0.0.1", ours.port))
        s.sendall(
            encode_command("SET", "before", "1")
            + encode_command("SHUTDOWN")
            + encode_command("SET", "after", "1")
        )
        assert closed(s) and closed(blocked)
        assert exited(ours) == 0
    with start(tmp_path) as again:
        assert data(again.port) == {b"before": b"1"}


# --- in process: a forked child, a script -----------------------------------------------------


def test_a_bgsave_child_is_killed_and_its_temp_file_removed(tmp_path):
    h = Harness(dir=str(tmp_path))
    p = h.state.persistence
    assert p is not None
    pid = os.fork()
    if pid == 0:  # a BGSAVE child that would take forever
        signal.pause()
        os._exit(0)
    temp = tmp_path / f"temp-{pid}-dump.sdb"
    temp.write_bytes(b"half a snapshot")
    p.child = (pid, "save", 0)
    h.cmd("SET", "k", "v")
    assert h.cmd("SHUTDOWN", "SAVE") == b""  # no reply: the connection closes
    assert h.state.shut_down and p.child is None and not temp.exists()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped
    assert Harness(dir=str(tmp_path)).cmd("GET", "k") == b"$1\r\nv\r\n"


def test_inside_a_slow_script_only_nosave_may_stop_the_server(tmp_path):
    with start(tmp_path) as ours:
        r = redis.Redis(port=ours.port)
        r.config_set("busy-reply-threshold", "50")
        r.config_set("save", "3600 1")
        looping = socket.create_connection(("127.0.0.1", ours.port))
        looping.sendall(encode_command("EVAL", "redis.call('set','x','1') while true do end", "0"))
        other = Raw(ours.port, 2)  # type: ignore[arg-type]
        # (answered once the script is past the threshold: until then the server waits)
        assert other.call("SHUTDOWN") == (
            b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN "
            b"NOSAVE.\r\n"
        )
        other.sock.sendall(encode_command("SHUTDOWN", "NOSAVE"))
        assert closed(other.sock) and closed(looping)
        assert exited(ours) == 0
    assert not (tmp_path / "dump.sdb").exists()


def test_without_a_dir_save_points_do_not_hold_sigterm_but_save_is_refused():
    """Memory only (no --dir): nothing can be saved. Save points set by a client must not
    make SIGTERM refuse forever; an explicit SHUTDOWN SAVE is refused (FORCE exits)."""
    with python_module("servers.cache", port=0) as ours:
        s = Raw(ours.port, 2)  # type: ignore[arg-type]
        assert s.call("CONFIG", "SET", "save", "3600 1") == b"+OK\r\n"
        assert s.call("SHUTDOWN", "SAVE") == FAILED
        assert s.call("PING") == b"+PONG\r\n"
        ours.signal(signal.SIGTERM)
        assert closed(s.sock) and exited(ours) == 0
        assert "nowhere to save" in ours.output()
    with python_module("servers.cache", port=0) as ours:
        s = Raw(ours.port, 2)  # type: ignore[arg-type]
        s.sock.sendall(encode_command("SHUTDOWN", "SAVE", "FORCE"))
        assert closed(s.sock) and exited(ours) == 0


def test_an_aof_that_cannot_be_written_refuses_the_shutdown_unless_force(tmp_path):
    """A full disk (RLIMIT_FSIZE: EFBIG, as ENOSPC) under the AOF: the acknowledged writes
    still in its buffer cannot reach the file, so the shutdown is refused (Redis would log
    it and exit without them); FORCE exits anyway. After room is made, it works."""
    h = Harness(dir=str(tmp_path), appendonly=True, appendfsync="no")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        assert h.cmd("SET", "big", "x" * 8000) == b"+OK\r\n"  # (answered: everysec/no)
        assert h.cmd("SHUTDOWN", "NOSAVE") == FAILED
        assert h.state.persistence is not None and not h.state.shut_down
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert h.cmd("SHUTDOWN") == b""  # room again: the buffer is written, the exit goes on
    assert h.state.shut_down
    again = Harness(dir=str(tmp_path), appendonly=True)
    assert again.cmd("STRLEN", "big") == b":8000\r\n"


def test_force_exits_with_an_aof_that_cannot_be_written(tmp_path):
    h = Harness(dir=str(tmp_path), appendonly=True, appendfsync="no")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        h.cmd("SET", "big", "x" * 8000)
        assert h.cmd("SHUTDOWN", "FORCE") == b""
        assert h.state.shut_down
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_rewrite_child_is_killed_and_the_aof_stays_whole(tmp_path):
    """BGREWRITEAOF running (or just done) at SHUTDOWN: the child is killed, its temp base
    removed; the manifest (old files and the rewrite's new incr file) loads everything."""
    h = Harness(dir=str(tmp_path), appendonly=True, appendfsync="no")
    for i in range(0, 20_000, 1000):
        h.cmd("MSET", *[x for k in range(i, i + 1000) for x in (f"k{k}", "v" * 100)])
    assert h.cmd("BGREWRITEAOF") == b"+Background append only file rewriting started\r\n"
    h.cmd("SET", "after", "1")
    assert h.cmd("SHUTDOWN") == b""
    p = h.state.persistence
    assert p is not None and p.child is None and h.state.shut_down
    aof = tmp_path / "appendonlydir"
    listed = (aof / "appendonly.aof.manifest").read_text()
    assert all(f.name in listed for f in aof.iterdir() if f.name != "appendonly.aof.manifest")
    again = Harness(dir=str(tmp_path), appendonly=True)
    assert again.cmd("DBSIZE") == b":20001\r\n" and again.cmd("GET", "after") == b"$1\r\n1\r\n"
