"""#21: a user's mistake on any server's command line is one line on stderr and an exit code
(2 for usage, 1 for the machine saying no), never a traceback, and a failed start creates nothing."""

import socket
import subprocess
import sys

import pytest

from harness.procs import REPO_ROOT
from servers.catalog import SERVERS

NAMES = sorted(SERVERS)


def run(name, *argv, timeout=60):
    return subprocess.run([sys.executable, "-m", f"servers.{name}", *argv], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def one_line(out):
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


@pytest.mark.parametrize("name", NAMES)
def test_a_port_out_of_range_is_a_usage_error(name):
    out = run(name, "--port", "99999")
    assert out.returncode == 2
    assert "not a port number (0-65535)" in one_line(out)


@pytest.mark.parametrize("port", ["65536", "-5", "http"])
def test_every_kind_of_bad_port_is_refused(port):
    out = run("echo", "--port", port)
    assert out.returncode == 2 and "not a port number (0-65535)" in one_line(out)


@pytest.fixture(scope="module")
def taken():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("name", NAMES)
def test_a_port_in_use_is_one_line_naming_the_holder_and_creates_nothing(name, taken, tmp_path):
    data = tmp_path / "data"
    extra = ["--dir", str(data)] if "--dir" in run(name, "--help").stdout else []
    out = run(name, "--port", str(taken), *extra)
    assert out.returncode == 1
    line = one_line(out)
    assert f"cannot listen on 127.0.0.1:{taken}: address already in use" in line
    assert f"pid {__import__('os').getpid()}" in line  # this test process holds it
    assert not data.exists()  # nothing was created before the server could serve


@pytest.mark.parametrize("name", NAMES)
def test_an_unusable_data_dir_is_one_line_and_exit_1_and_servers_without_data_refuse_dir(name, tmp_path):
    has_dir = "--dir" in run(name, "--help").stdout
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = run(name, "--port", "0", "--dir", str(blocker / "data"))
    if has_dir:
        assert out.returncode == 1 and "--dir" in one_line(out)
    else:  # it keeps nothing, so it does not pretend to take --dir
        assert out.returncode == 2 and "unrecognized arguments: --dir" in one_line(out)


def test_an_unknown_host_is_one_line():
    out = run("echo", "--host", "no-such-host.invalid", "--port", "0")
    assert out.returncode == 1 and "cannot listen on no-such-host.invalid:0" in one_line(out)


@pytest.mark.parametrize("flag,value,msg", [
    ("--maxmemory", "lots", "is not a size"), ("--hz", "0", "out of range"),
    ("--databases", "x", "not an integer"), ("--maxmemory-policy", "nope", "invalid choice"),
])  # fmt: skip
def test_the_cache_validates_its_own_flags(flag, value, msg):
    out = run("cache", flag, value)
    assert out.returncode == 2 and msg in one_line(out)


def test_sizes_take_redis_units():
    from servers.cli import byte_size

    assert [byte_size(s) for s in ("0", "4096", "64kb", "1k", "100mb", "1gb", "2G")] == [
        0, 4096, 65536, 1000, 100 * 2**20, 2**30, 2 * 10**9]
