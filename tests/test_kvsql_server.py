"""D7 over the wire: ``python -m servers.kvsql`` on three real MariaDB instances, driven by
redis-py, redis-cli and redis-benchmark (clients nobody here wrote), rows checked in MariaDB."""

import shutil
import subprocess
import time

import pytest
import redis

from clients.mysql import Connection
from harness.procs import python_module
from harness.services import MariaDB, start_all
from tests.support import assert_bench_report, wait_until

pytestmark = pytest.mark.exercise("D7")


@pytest.fixture(scope="module")
def mariadbs():
    servers = start_all([MariaDB() for _ in range(3)])
    yield servers
    for s in servers:
        s.stop()


def urls(servers):
    return [a for s in servers for a in ("--mysql", f"mysql://root@127.0.0.1:{s.port}/test")]


@pytest.fixture(scope="module")
def kvsql(mariadbs, tmp_path_factory):
    for s in mariadbs:
        with Connection.from_address(s.address) as c:
            c.query("DROP TABLE IF EXISTS kv")
    d = tmp_path_factory.mktemp("kvsql")
    with python_module("servers.kvsql", *urls(mariadbs), "--routing", "range", "--boundaries", "g,p",
                       "--clean-every", "0.2", "--dir", str(d), port=0) as child:  # fmt: skip
        yield child


@pytest.fixture
def r(kvsql):
    client = redis.Redis(port=kvsql.port, socket_timeout=10)
    client.flushdb()
    yield client
    client.close()


def row(server, key):
    with Connection.from_address(server.address) as c:
        got = c.execute("SELECT v, expires_at, deleted_at FROM kv WHERE k = ?", (key,)).first()
    return None if got is None else (bytes(got[0]), got[1], got[2])


def test_set_get_del_exists_land_on_the_shard_range_routing_names(r, mariadbs):
    assert r.set("apple", "1") and r.set("mango", "2") and r.set("zebra", "3")
    assert [r.get(k) for k in ("apple", "mango", "zebra", "nope")] == [b"1", b"2", b"3", None]
    assert row(mariadbs[0], b"apple")[0] == b"1" and row(mariadbs[1], b"mango")[0] == b"2"
    assert row(mariadbs[2], b"zebra")[0] == b"3" and row(mariadbs[0], b"zebra") is None
    assert r.exists("apple", "mango", "nope") == 2
    assert r.delete("apple", "nope") == 1 and r.get("apple") is None and r.exists("apple") == 0
    assert r.dbsize() == 2


def test_del_is_soft_until_the_cleaner_removes_the_row(r, mariadbs):
    r.set("apple", "1")
    r.delete("apple")
    # the row may still be there, stamped, or already cleaned (the cleaner runs every 0.2 s)
    got = row(mariadbs[0], b"apple")
    assert got is None or got[2] is not None
    wait_until(lambda: row(mariadbs[0], b"apple") is None, what="the cleaner removed the soft-deleted row")
    assert r.set("apple", "again") and r.get("apple") == b"again"


def test_ttl_expire_persist_and_expiry_hides_the_key_before_the_cleaner(r, mariadbs):
    assert r.set("t", "v", ex=100)
    assert 99 <= r.ttl("t") <= 100 and 99_000 <= r.pttl("t") <= 100_000
    assert r.ttl("nope") == -2 and (r.set("p", "v") and r.ttl("p") == -1)
    assert r.expire("p", 50) and 49 <= r.ttl("p") <= 50
    assert r.persist("p") and r.ttl("p") == -1 and not r.persist("p")
    assert r.pexpire("p", 150)
    wait_until(lambda: r.get("p") is None, timeout=5, what="the key expired")
    assert r.exists("p") == 0 and r.ttl("p") == -2
    assert r.set("gone", "v") and r.expire("gone", 0) and r.get("gone") is None  # Redis: TTL <= 0 deletes
    assert not r.expire("nope", 10)


def test_set_nx_xx_px_and_bad_options_get_redis_wording(r):
    assert r.set("k", "1", nx=True) and r.set("k", "2", nx=True) is None and r.get("k") == b"1"
    assert r.set("k", "3", xx=True) and r.set("other", "x", xx=True) is None and r.get("other") is None
    assert r.set("k", "4", px=100_000) and 99 <= r.ttl("k") <= 100
    for bad, msg in [(("SET", "k", "v", "EX", "0"), "invalid expire time in 'set' command"),
                     (("SET", "k", "v", "EX", "x"), "value is not an integer or out of range"),
                     (("SET", "k", "v", "NX", "XX"), "syntax error"),
                     (("SET", "k", "v", "EX", "5", "PX", "5"), "syntax error"),
                     (("SET", "k"), "wrong number of arguments for 'set' command"),
                     (("SET", "k" * 600, "v"), "key length must be 1..512 bytes"),
                     (("NOPE",), "unknown command 'NOPE'")]:  # fmt: skip
        with pytest.raises(redis.ResponseError, match=msg):
            r.execute_command(*bad)
    assert r.get("k" * 600) is None  # a key that could never be stored is simply absent
    assert r.get("k") == b"4"  # nothing refused touched the stored value


def test_pipelined_replies_keep_their_order_across_threads(r):
    p = r.pipeline(transaction=False)
    for i in range(200):
        p.set(f"k{i:03}", str(i))
        p.get(f"k{i:03}")
    got = p.execute()
    assert got == [x for i in range(200) for x in (True, str(i).encode())]
    assert r.dbsize() == 200 and sorted(r.keys("k1*")) == [f"k{i}".encode() for i in range(100, 200)]


def test_many_connections_at_once_each_get_their_own_answers(kvsql):
    import threading

    errors = []

    def client(n):
        c = redis.Redis(port=kvsql.port, socket_timeout=10)
        try:
            for i in range(20):
                c.set(f"c{n}:{i}", f"{n}-{i}")
                if c.get(f"c{n}:{i}") != f"{n}-{i}".encode():
                    errors.append((n, i))
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_redis_cli_and_redis_benchmark_work_unchanged(kvsql):
    cli = shutil.which("redis-cli")
    out = subprocess.run([cli, "-p", str(kvsql.port), "SET", "cli", "x", "EX", "60"], capture_output=True,
                         text=True, timeout=10)  # fmt: skip
    assert out.stdout.strip() == "OK"
    out = subprocess.run([cli, "-p", str(kvsql.port), "TTL", "cli"], capture_output=True, text=True, timeout=10)
    assert 59 <= int(out.stdout) <= 60
    bench = subprocess.run([shutil.which("redis-benchmark"), "-p", str(kvsql.port), "-t", "set,get", "-n", "300",
                            "-c", "5", "-q"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bench.returncode == 0 and "SET:" in bench.stdout and "GET:" in bench.stdout, bench.stdout


def test_a_shard_that_dies_fails_its_commands_not_the_server(tmp_path):
    shards = start_all([MariaDB() for _ in range(3)])
    try:
        with python_module("servers.kvsql", *urls(shards), "--routing", "range", "--clean-every", "0",
                           "--dir", str(tmp_path), port=0) as child:  # fmt: skip
            c = redis.Redis(port=child.port, socket_timeout=20)
            assert c.set("apple", "1") and c.set("zebra", "3")
            shards[0].kill()
            with pytest.raises(redis.ResponseError, match="get failed: connection lost"):
                c.get("apple")
            assert c.get("zebra") == b"3"  # other shards go on answering
            assert child.alive()
            c.close()
    finally:
        for s in shards:
            s.stop()


def test_cli_mistakes_are_one_line_and_an_exit_code(tmp_path):
    import sys

    for argv, msg in [(["--routing", "nope"], "invalid choice"),
                      (["--routing", "range", "--boundaries", "p,g"], "increasing boundaries"),
                      (["--mysql", "mysql://root@127.0.0.1:1/test", "--dir", str(tmp_path)], "cannot open the shards")]:  # fmt: skip
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "servers.kvsql", "--port", "0", *argv], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert out.returncode != 0 and msg in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and time.monotonic() - t0 < 40


def test_bench_kvsql_quick_measures_all_three_servers(tmp_path):
    import os
    import sys

    from bench.common import OUT_ENV
    from harness.procs import REPO_ROOT

    res = subprocess.run([sys.executable, "-m", "bench.kvsql", "--quick", "--clients", "5"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300, env={**os.environ, OUT_ENV: str(tmp_path)})  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = assert_bench_report(tmp_path, "kvsql-quick")["rows"]
    assert {(r["workload"], r["impl"]) for r in rows if r["value"] > 0} == {
        (t, i) for t in ("SET", "GET") for i in ("syslab-kvsql", "syslab-cache", "redis-server")}
    assert (tmp_path / "kvsql-quick.png").stat().st_size > 5_000
