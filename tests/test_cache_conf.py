"""``python -m servers.cache redis.conf``: the cache reads a redis.conf as redis-server does
(servers/cache/conf.py), refuses what it cannot honour with the file and line, and
``--maxclients`` / ``maxclients`` refuses connections past the cap as Redis does."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from harness.procs import REPO_ROOT, python_module
from harness.services import RedisServer
from servers.cache.conf import ConfError, parse, split_args


def test_split_args_as_redis_sdssplitargs():
    assert split_args("user \"a b\" 'c d' e") == ["user", "a b", "c d", "e"]
    assert split_args("x \"\\x41\\n\\\"q\" 'it\\'s'") == ["x", 'A\n"q', "it's"]
    assert split_args("logfile ''") == ["logfile", ""]
    for bad in ('port "1', "a 'b", 'a "b"c'):
        with pytest.raises(ConfError):
            split_args(bad)


def test_parse_skips_comments_and_names_lines():
    ds = parse("# c\n\n  Port 7000\nsave ''\n")
    assert [(d.name, d.args, d.line) for d in ds] == [("port", ["7000"], 3), ("save", [""], 4)]


def _conf(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "redis.conf"
    f.write_text(text)
    return f


def test_a_config_file_sets_flags_parameters_and_users(tmp_path):
    f = _conf(tmp_path, "\n".join([
        "# the suite's default.conf style", "bind 127.0.0.1", "databases 4", "timeout 0",
        "daemonize no", "pidfile /var/run/redis.pid", "loglevel verbose",
        "slowlog-max-len 77", "maxmemory 10mb", 'client-output-buffer-limit "normal 1mb 0 0"',
        "user alice on >secret ~* +@all", "requirepass foobar",
    ]))  # fmt: skip
    with python_module("servers.cache", str(f), port=0) as child:
        r = redis.Redis(port=child.port, password="foobar")
        assert r.config_get("slowlog-max-len") == {"slowlog-max-len": "77"}
        assert r.config_get("maxmemory") == {"maxmemory": str(10 << 20)}
        assert r.config_get("databases") == {"databases": "4"}
        assert "normal 1048576 0 0" in r.config_get("client-output-buffer-limit")[
            "client-output-buffer-limit"]  # fmt: skip
        with pytest.raises(redis.ResponseError, match="DB index is out of range"):
            r.select(4)
        alice = redis.Redis(port=child.port, username="alice", password="secret")
        assert alice.acl_whoami() == "alice"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=child.port).ping()


def test_a_flag_overrides_the_file(tmp_path):
    f = _conf(tmp_path, "maxmemory 10mb\nhz 20\n")
    with python_module("servers.cache", str(f), "--maxmemory", "2mb", port=0) as child:
        r = redis.Redis(port=child.port)
        assert r.config_get("maxmemory") == {"maxmemory": str(2 << 20)}
        assert r.config_get("hz") == {"hz": "20"}


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("maxmemroy 1gb", "unknown directive"),
        ("notify-keyspace-events KEA", "unknown directive"),  # not implemented: refused
        ("maxmemory lots", "not a size"),
        ("user a off", "Duplicate user 'a' found"),
        ("maxmemory-policy sometimes", "must be one of"),
        ("slowlog-max-len abc", "bad value 'abc'"),
        ("daemonize yes", "not supported"),
        ("bind 127.0.0.1 ::1", "one address only"),
        ('requirepass "open', "unbalanced quotes"),
        ("user bob on nosuchrule", "Syntax error"),
        ("appendfsync sometimes", "must be one of"),
        ("save 60", "bad value '60'"),
        ("save 0 1", "bad value '0 1'"),
    ],
)
def test_a_bad_line_is_refused_with_the_file_and_line(tmp_path, line, why):
    f = _conf(tmp_path, f"port 0\nuser a on\n{line}\n")
    r = subprocess.run([sys.executable, "-m", "servers.cache", str(f)], cwd=REPO_ROOT,
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 1
    assert f"{f}, line 3" in r.stderr and why in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_redis_test_suite_default_conf_starts_with_logs_on_stdout(tmp_path):
    """tests/assets/default.conf of Redis 7.0 (less its keyspace notifications): the
    directives redis-server's own tests start every server with, logfile '' included."""
    text = (
        "always-show-logo yes\ndaemonize no\npidfile /var/run/redis.pid\nport 0\ntimeout 0\n"
        "bind 127.0.0.1\nloglevel verbose\nlogfile ''\ndatabases 16\n"
        "latency-monitor-threshold 1\nrepl-diskless-sync-delay 0\nsave 900 1\n"
        "rdbcompression yes\ndbfilename dump.rdb\n"
        f"dir {tmp_path}\nslave-serve-stale-data yes\nappendonly no\nappendfsync everysec\n"
        "no-appendfsync-on-rewrite no\nactiverehashing yes\nenable-protected-configs yes\n"
        "enable-debug-command yes\nenable-module-command yes\npropagation-error-behavior panic\n"
        f"unixsocket {tmp_path}/socket\n"
    )
    f = _conf(tmp_path, text)
    proc = subprocess.Popen([sys.executable, "-m", "servers.cache", str(f)], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ready to accept connections" in line:
                break
        assert any("listening on 127.0.0.1:" in x for x in lines), lines
        assert any("daemonize ignored" in x for x in lines)
        port = int(next(x for x in lines if "listening on" in x).rsplit(":", 1)[1])
        r = redis.Redis(port=port)
        assert r.config_get("latency-monitor-threshold") == {"latency-monitor-threshold": "1"}
    finally:
        proc.terminate()
        proc.wait(10)


def _refused_after(port: int, n: int) -> tuple[int, bytes]:
    """Open connections, each answering PING, until one is refused: (served, the refusal)."""
    held = []
    try:
        for i in range(n + 5):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(s)
            s.sendall(b"PING\r\n")
            got = s.recv(100)
            if not got.startswith(b"+PONG"):
                return i, got
        return len(held), b""
    finally:
        for s in held:
            s.close()


def test_maxclients_refuses_past_the_cap_as_redis(tmp_path):
    with python_module("servers.cache", "--maxclients", "10", port=0) as child:
        assert child.port is not None
        mine = _refused_after(child.port, 10)
        assert redis.Redis(port=child.port).config_get("maxclients") == {"maxclients": "10"}
    with RedisServer(extra_args=["--maxclients", "10"]) as real:
        theirs = _refused_after(real.port, 10)
    assert mine == theirs == (10, b"-ERR max number of clients reached\r\n")


def test_a_user_directive_defines_the_user_from_scratch(tmp_path):
    """unit/acl 'default: load from config file, without channel permission': a ``user``
    line is the whole definition, so the default user has no channels unless given some."""
    f = _conf(tmp_path, "user default on nopass ~* +@all\n")
    with python_module("servers.cache", str(f), port=0) as child:
        r = redis.Redis(port=child.port)
        with pytest.raises(redis.exceptions.NoPermissionError, match="channel"):
            r.execute_command("SUBSCRIBE", "foo")
        assert r.ping()


def test_save_lines_add_their_points_up_as_redis(tmp_path):
    """redis-server adds the save points of every ``save`` line of its file (``save ""``
    clears those before it); CONFIG GET save shows them all, as ours must."""
    lines = [["900", "1"], ["300", "10"], [""], ["60", "10000"], ["5", "7"]]
    f = _conf(tmp_path, "".join(f"save {' '.join(w) or chr(34) * 2}\n" for w in lines))
    flags = [x for words in lines for x in ("--save", *words)]  # (redis-server: a line each)
    with (
        python_module("servers.cache", str(f), port=0) as child,
        RedisServer(extra_args=flags) as real,
    ):
        ours = redis.Redis(port=child.port).config_get("save")
        theirs = redis.Redis(port=real.port).config_get("save")
    assert ours == theirs == {"save": "60 10000 5 7"}
