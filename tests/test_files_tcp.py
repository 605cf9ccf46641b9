"""N1: the raw TCP mode driven by nc, resume after an interruption, and the clients.files CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from clients.files.transfer import Failed, parse_target
from servers.files.digest import BadDigest, parse_sha256
from servers.files.store import NameError_, check_name
from tests.files_support import FilesServer, files_child
from tests.support import wait_until

pytestmark = pytest.mark.exercise("N1")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilesServer]:
    root = tmp_path_factory.mktemp("files") / "store"
    with files_child(root) as child:
        yield FilesServer(child, root)


def nc(port: int, data: bytes) -> bytes:
    """``nc -N``: send, half-close, read until the server closes (a client nobody here wrote)."""
    p = subprocess.run(["nc", "-N", "-w", "10", "127.0.0.1", str(port)], input=data,
                       capture_output=True, timeout=30)  # fmt: skip
    return p.stdout


def client(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clients.files", *args], capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def test_nc_put_with_digest_then_list_stat_and_get(srv):
    data = b"hello over raw tcp\n"
    sha = hashlib.sha256(data).hexdigest()
    assert nc(srv.tcp, b"PUT t.txt %d %s\n" % (len(data), sha.encode()) + data) == f"OK {sha}\n".encode()
    assert (srv.dir / "t.txt").read_bytes() == data
    out = nc(srv.tcp, b"LIST\nSTAT t.txt\nGET t.txt\n")
    assert b"t.txt 19\n" in out and b"HELD 0\n" in out and out.endswith(b"OK 19\n" + data)


def test_two_uploads_on_one_connection_and_crlf_lines(srv):
    out = nc(srv.tcp, b"PUT one 3\r\nabcPUT two 2\r\nxy")
    assert out == ("OK " + hashlib.sha256(b"abc").hexdigest() + "\nOK " + hashlib.sha256(b"xy").hexdigest()
                   + "\n").encode()  # fmt: skip


@pytest.mark.parametrize("line, why", [
    (b"PUT w 5 " + b"0" * 64 + b"\nhello", b"ERR digest mismatch"),
    (b"PUT ../x 1\nx", b"ERR a name is one path segment"),
    (b"PUT .partial 1\nx", b"ERR names starting with '.'"),
    (b"PUT x -1\n", b"ERR bad size"),
    (b"PUT x 1 nothex\nx", b"ERR digest must be"),
    (b"FROB\n", b"ERR unknown command"),
    (b"PUT\n", b"ERR usage: PUT NAME SIZE"),
    (b"X" * 2000, b"ERR command line longer than 1024 bytes"),
    (b"GET nosuch\n", b"ERR no such file nosuch"),
    (b"\xff\xfe\n", b"ERR command line is not UTF-8"),
])  # fmt: skip
def test_bad_commands_get_one_err_line(srv, line, why):
    assert nc(srv.tcp, line).startswith(why)
    assert srv.partials() == []
    assert not (srv.dir.parent / "x").exists()


def test_an_interrupted_upload_is_kept_for_resume_never_under_its_name(srv, tmp_path):
    data = os.urandom(1_000_000)
    s = socket.create_connection(("127.0.0.1", srv.tcp))
    s.sendall(b"PUT part.bin %d\n" % len(data) + data[:400_000])
    wait_until(lambda: nc(srv.tcp, b"STAT part.bin\n") == b"HELD 400000\n", what="400000 bytes held")
    s.close()
    wait_until(lambda: "part.bin.tcp" in srv.partials(), what="the partial kept")
    assert "part.bin" not in srv.finals()
    assert nc(srv.tcp, b"STAT part.bin\n") == b"HELD 400000\n"
    (tmp_path / "part.bin").write_bytes(data)
    r = client("resume", "-q", str(tmp_path / "part.bin"), f"tcp://127.0.0.1:{srv.tcp}/part.bin")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["resumed_from"] == 400_000
    assert (srv.dir / "part.bin").read_bytes() == data and "part.bin.tcp" not in srv.partials()


def test_resume_with_other_bytes_than_the_kept_ones_is_refused_by_the_digest(srv, tmp_path):
    s = socket.create_connection(("127.0.0.1", srv.tcp))
    s.sendall(b"PUT mixed 1000\n" + b"a" * 500)
    wait_until(lambda: nc(srv.tcp, b"STAT mixed\n") == b"HELD 500\n", what="500 bytes held")
    s.close()
    wait_until(lambda: "mixed.tcp" in srv.partials(), what="the partial kept")
    (tmp_path / "mixed").write_bytes(b"b" * 1000)  # a different file: its digest is not the server's
    r = client("resume", "-q", str(tmp_path / "mixed"), f"tcp://127.0.0.1:{srv.tcp}/mixed")
    assert r.returncode == 1 and "digest mismatch" in r.stderr
    assert "mixed" not in srv.finals() and "mixed.tcp" not in srv.partials()


@pytest.mark.parametrize("scheme", ["http", "tcp"])
def test_cli_put_and_get_with_a_progress_bar(srv, tmp_path, scheme):
    data = os.urandom(2_500_000)
    (tmp_path / "f").write_bytes(data)
    url = srv.url("cli.bin") if scheme == "http" else f"tcp://127.0.0.1:{srv.tcp}/cli-{scheme}.bin"
    r = client("put", str(tmp_path / "f"), url)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sha256"] == hashlib.sha256(data).hexdigest()
    assert "MB/s" in r.stderr and "ETA" in r.stderr and "100.0%" in r.stderr
    r = client("get", url, "-o", str(tmp_path / "back"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back").read_bytes() == data


def test_cli_killed_mid_upload_then_resumed(srv, tmp_path):
    data = os.urandom(3_000_000)
    (tmp_path / "slow").write_bytes(data)
    url = f"tcp://127.0.0.1:{srv.tcp}/slow.bin"
    p = subprocess.Popen([sys.executable, "-m", "clients.files", "put", "-q", "--rate", "1000000",
                          str(tmp_path / "slow"), url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    held = lambda: int(nc(srv.tcp, b"STAT slow.bin\n").split()[1])  # noqa: E731
    wait_until(lambda: held() > 200_000, what="part of the upload arrived")
    p.send_signal(signal.SIGKILL)
    p.communicate()
    wait_until(lambda: "slow.bin.tcp" in srv.partials() and "slow.bin" not in srv.finals()
               and not nc(srv.tcp, b"STAT slow.bin\n").startswith(b"ERR"), what="the partial kept")  # fmt: skip
    kept = held()
    assert 0 < kept < len(data) and "slow.bin" not in srv.finals()
    r = client("resume", str(tmp_path / "slow"), url)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["resumed_from"] == kept
    assert (srv.dir / "slow.bin").read_bytes() == data


def test_cli_mistakes_are_one_line_and_exit_1(srv, tmp_path):
    r = client("put", str(tmp_path / "missing"), srv.url("x"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no such file" in r.stderr
    (tmp_path / "f").write_bytes(b"x")
    r = client("resume", str(tmp_path / "f"), srv.url("x"))
    assert r.returncode == 1 and "only raw TCP uploads resume" in r.stderr
    r = client("put", str(tmp_path / "f"), "ftp://host/x")
    assert r.returncode == 1 and "not an http:// or tcp:// URL" in r.stderr
    r = client("get", srv.url("never-uploaded"), "-o", str(tmp_path / "out"))
    assert r.returncode == 1 and "404" in r.stderr and not (tmp_path / "out").exists()


def test_server_mistakes_are_one_line_and_exit_1(srv, tmp_path):
    for args in (["--port", str(srv.http)], ["--tcp-port", str(srv.tcp), "--port", "0"]):
        p = subprocess.run([sys.executable, "-m", "servers.files", "--dir", str(tmp_path / "d"), *args],
                           capture_output=True, text=True, timeout=30)  # fmt: skip
        assert p.returncode == 1 and "cannot listen" in p.stderr and "Traceback" not in p.stderr
    (tmp_path / "file").write_text("not a dir")
    p = subprocess.run([sys.executable, "-m", "servers.files", "--port", "0", "--dir", str(tmp_path / "file")],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert p.returncode == 1 and "--dir" in p.stderr and "not a directory" in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.splitlines()) == 1


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\0b", ".hidden", "x" * 256, "tab\there"])
def test_check_name_refuses(name):
    with pytest.raises(NameError_):
        check_name(name)


@pytest.mark.parametrize("name", ["a.txt", "x" * 255, "naïve résumé.pdf", "a..b", "-rf"])
def test_check_name_accepts(name):
    assert check_name(name) == name


def test_digest_field_parsing():
    raw = hashlib.sha256(b"x").digest()
    import base64

    b64 = base64.b64encode(raw).decode()
    assert parse_sha256(None) is None
    assert parse_sha256("sha-512=:AAAA:") is None  # only algorithms we do not check: ignored
    assert parse_sha256(f"sha-512=:AAAA:, SHA-256=:{b64}:") == raw
    for bad in ("sha-256", "sha-256=abc", "sha-256=::", "sha-256=:AAAA:", "sha-256=:" + "!" * 44 + ":",
                "x" * 2000):  # fmt: skip
        with pytest.raises(BadDigest):
            parse_sha256(bad)


def test_parse_target():
    t = parse_target("http://127.0.0.1:8094/files/a%20b.txt")
    assert (t.scheme, t.port, t.name) == ("http", 8094, "a b.txt")
    assert parse_target("tcp://localhost:9/x").name == "x"
    for bad in ("http://h/x", "tcp://h:1/", "tcp://h:1/a/b", "gopher://h/x"):
        with pytest.raises(Failed):
            parse_target(bad)
