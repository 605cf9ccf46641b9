"""ACL, CLIENT and MONITOR replies against a private redis-server 7.0, byte for byte.

Found by a hostile session: ``ACL LOG`` with a count that is not a number answered
"must be positive" (Redis: not an integer), a negative count was refused (Redis lists
nothing), ``ACL LOG RESET x`` reset the log (Redis refuses the extra argument); ``ACL
LIST`` listed users in creation order (Redis: by name, bytewise); removing a password a
user does not have said "no such password" where Redis explains it. ``CLIENT PAUSE 1
nope`` and ``CLIENT KILL MAXAGE x`` answered another error than Redis's. A client in
MONITOR mode could still read and write keys (Redis: it is a replica, "Replica can't
interact with the keyspace"), a second MONITOR answered +OK (Redis: nothing), and
MONITOR inside EXEC was run (Redis refuses it to a "DENY BLOCKING client"). ACL DRYRUN
(Redis 7.0, redis-py's ``acl_dryrun``) was an unknown subcommand. ``+get|`` and
``-config|`` were taken as rules (that named nothing), ``+`` alone was a syntax error.
ACL LOAD stopped at a file's first error in words of its own, took comment lines and
tab-separated rules that Redis refuses; now Redis's grammar and its list of every error.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cache_support import Raw, private_pair

from harness.procs import python_module
from harness.services import RedisServer
from netlib.resp import encode_command


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Raw, Raw]]:
    with private_pair() as both:
        yield both


SESSION = [
    ("ACL", "SETUSER", "zz"), ("ACL", "SETUSER", "aa"), ("ACL", "SETUSER", "Mm"),
    ("ACL", "LIST"), ("ACL", "USERS"),
    ("ACL", "SETUSER", "aa", "on", ">p", "-@all"), ("ACL", "SETUSER", "aa", "<nope"),
    ("AUTH", "aa", "p"), ("GET", "x"), ("AUTH", "default", "x"),  # one ACL LOG entry
    ("ACL", "LOG", "-1"), ("ACL", "LOG", "0"), ("ACL", "LOG", "x"), ("ACL", "LOG", "1.5"),
    ("ACL", "LOG", "99999999999999999999"), ("ACL", "LOG", "RESET", "x"),
    ("ACL", "LOG", "1", "2"), ("ACL", "LOG", "RESET"), ("ACL", "LOG"),
    ("ACL", "DELUSER", "zz", "aa", "Mm"), ("ACL", "LIST"),
    *[("ACL", "SETUSER", "x", rule) for rule in (
        "+", "-", "+|", "+|get", "+get|", "+config|", "-config|", "+config|get|",
        "-config|get|x", "+config|nosuch|x", "+@", "+@|", "+config|get", "-CONFIG|GET",
    )],
    ("ACL", "DELUSER", "x"),
]  # fmt: skip


def test_an_acl_session_answers_as_redis(pair):
    ours, real = pair
    for args in SESSION:
        assert ours.call(*args) == real.call(*args), args


CLIENT = [
    ("CLIENT", "PAUSE", "1", "nope"), ("CLIENT", "PAUSE", "1", "ALL", "x"), ("CLIENT", "PAUSE", "x", "ALL", "x"),
    ("CLIENT", "PAUSE", "x"), ("CLIENT", "PAUSE", "-1"), ("CLIENT", "UNPAUSE"),
    ("CLIENT", "KILL", "MAXAGE", "x"),  # (MAXAGE is 7.4's: 7.0 refuses any, ours a bad one)
]  # fmt: skip


def test_client_pause_and_kill_refusals_as_redis(pair):
    ours, real = pair
    for args in CLIENT:
        assert ours.call(*args) == real.call(*args), args


def conversation(port: int, *cmds: tuple[object, ...]) -> bytes:
    """The commands in one write; every byte until the server closes (the last is QUIT)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(encode_command(*c) for c in cmds))  # type: ignore[arg-type]
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


MONITOR_SESSIONS = [
    [("MONITOR",), ("GET", "x"), ("SET", "x", "1"), ("PUBLISH", "c", "m"),
     ("EVAL", "return 1", "0"), ("MONITOR",), ("RESET",), ("GET", "x"), ("QUIT",)],
    [("MULTI",), ("MONITOR",), ("EXEC",), ("QUIT",)],
]  # fmt: skip


@pytest.mark.parametrize("session", MONITOR_SESSIONS, ids=["keyspace", "in EXEC"])
def test_a_monitoring_client_is_refused_the_keyspace_as_in_redis(pair, session):
    ours_port, real_port = (r.sock.getpeername()[1] for r in pair)
    mine, theirs = conversation(ours_port, *session), conversation(real_port, *session)
    assert mine == theirs
    if session[0] == ("MONITOR",):
        refused = b"-ERR Replica can't interact with the keyspace\r\n"
        assert mine == b"+OK\r\n" + refused * 4 + b"+RESET\r\n$-1\r\n+OK\r\n"


DRYRUN = [
    ("ACL", "SETUSER", "u2", "on", "nopass", "+@all", "-@dangerous", "~k*", "resetchannels",
     "&ch*"),
    ("ACL", "DRYRUN", "default", "get", "x"), ("ACL", "DRYRUN", "nosuch", "get"),
    ("ACL", "DRYRUN", "default", "nosuch"), ("ACL", "DRYRUN", "default", "get"),
    ("ACL", "DRYRUN", "u2", "flushall"), ("ACL", "DRYRUN", "u2", "get", "x"),
    ("ACL", "DRYRUN", "u2", "GET", "kx"), ("ACL", "DRYRUN", "u2", "mset", "k1", "v", "x", "v"),
    ("ACL", "DRYRUN", "u2", "config", "get", "x"), ("ACL", "DRYRUN", "u2", "config"),
    ("ACL", "DRYRUN", "u2", "config", "nosuch"), ("ACL", "DRYRUN", "u2", "config", "get"),
    ("ACL", "DRYRUN", "u2", "publish", "ch1", "m"), ("ACL", "DRYRUN", "u2", "publish", "x", "m"),
    ("ACL", "DRYRUN", "u2"), ("ACL", "DRYRUN", "u2", "client", "kill", "id", "1"),
    ("ACL", "DRYRUN", "u2", "eval", "return 1", "1", "x"), ("ACL", "DELUSER", "u2"),
]  # fmt: skip


def test_acl_dryrun_as_redis(pair):
    ours, real = pair
    for args in DRYRUN:
        assert ours.call(*args) == real.call(*args), args


ACL_FILES = [
    "user default on nopass ~* &* +@all\n  user  ann   on  \n",  # an empty name, then "ann"
    "user default on nopass ~* &* +@all\nuser ann  on\n",  # an empty word: no rule
    "user default on nopass ~* &* +@all\nuser ann on bogus +nosuch\nuser bob off >x bogus2\n",
    "user default on nopass ~* &* +@all\nuser a +nosuch -nosuch2 ~x bogus bogus3\n",
    "user default on\tnopass\n",
    "user default on nopass ~* &* +@all\r\nuser x on\r\n",
    "user default on nopass ~* &* +@all\nuser bob on >x\nuser bob off\n",
    "garbage\n# comment\nuser default on nopass ~* &* +@all\n",
    "user ann on\n",  # no default user: one with every right
]


def test_acl_load_reports_a_file_as_redis(tmp_path: Path):
    ours_file, real_file = tmp_path / "ours.acl", tmp_path / "real.acl"
    for f in (ours_file, real_file):
        f.write_text("user default on nopass ~* &* +@all\n")
    with (
        RedisServer(extra_args=["--aclfile", str(real_file)]) as real,
        python_module("servers.cache", "--aclfile", str(ours_file), port=0) as ours,
    ):
        a, b = Raw(ours.port, 2), Raw(real.port, 2)  # type: ignore[arg-type]
        for text in [*ACL_FILES, None]:  # None: the file is gone
            for f in (ours_file, real_file):
                f.unlink(missing_ok=True)
                if text is not None:
                    f.write_text(text)
            mine = a.call("ACL", "LOAD").replace(str(ours_file).encode(), b"F")
            assert mine == b.call("ACL", "LOAD").replace(str(real_file).encode(), b"F"), text
            assert a.call("ACL", "LIST") == b.call("ACL", "LIST"), text
        a.close()
        b.close()
