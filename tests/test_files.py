"""N1: servers.files over HTTP with curl and raw sockets: stream, digest, rename, ranges, names."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.files_support import FilesServer, files_child
from tests.support import wait_until

pytestmark = pytest.mark.exercise("N1")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilesServer]:
    root = tmp_path_factory.mktemp("files") / "store"
    with files_child(root, "--max-size", str(8 << 20)) as child:
        yield FilesServer(child, root)


def curl(*args: str) -> tuple[int, str]:
    """``curl -sS -w '\\n%{http_code}'``: (status, body)."""
    p = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    body, _, code = p.stdout.rpartition("\n")
    return int(code), body


def digest_field(data: bytes) -> str:
    return f"Content-Digest: sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def test_put_streams_to_disk_and_answers_name_size_sha256(srv, tmp_path):
    data = os.urandom(3_000_000)
    (tmp_path / "a.bin").write_bytes(data)
    status, body = curl("-T", str(tmp_path / "a.bin"), srv.url("a.bin"))
    assert status == 201
    assert json.loads(body) == {"name": "a.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert (srv.dir / "a.bin").read_bytes() == data
    assert srv.partials() == []


def test_chunked_post_with_a_correct_digest_is_stored(srv):
    data = b"chunk me " * 10_000
    p = subprocess.run(["curl", "-sS", "-XPOST", "-H", "Transfer-Encoding: chunked", "-H", digest_field(data),
                        "--data-binary", "@-", srv.url("chunked.txt")],
                       input=data, capture_output=True, timeout=30)  # fmt: skip
    assert json.loads(p.stdout)["sha256"] == hashlib.sha256(data).hexdigest()
    assert (srv.dir / "chunked.txt").read_bytes() == data


def test_a_wrong_digest_is_400_and_leaves_no_file(srv, tmp_path):
    (tmp_path / "w").write_bytes(b"the body")
    status, body = curl("-T", str(tmp_path / "w"), "-H", digest_field(b"another body"), srv.url("wrong.txt"))
    assert status == 400 and "mismatch" in body
    assert "wrong.txt" not in srv.finals() and srv.partials() == []


@pytest.mark.parametrize("field", ["sha-256=abc", "sha-256=:!!!!:", "sha-256=:AAAA:"])
def test_a_malformed_digest_is_400(srv, field):
    status, _ = curl("-XPUT", "-d", "x", "-H", f"Content-Digest: {field}", srv.url("bad-digest"))
    assert status == 400 and "bad-digest" not in srv.finals()


def test_get_streams_back_with_ranges_list_and_delete(srv):
    data = bytes(range(256)) * 1000  # 256 kB: above the in-memory size, sent by sendfile
    with socket.create_connection(("127.0.0.1", srv.http)) as s:
        s.sendall(b"PUT /files/r.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
        assert s.recv(4096).startswith(b"HTTP/1.1 201 ")
    whole = subprocess.run(["curl", "-sS", srv.url("r.bin")], capture_output=True, timeout=30).stdout
    assert whole == data
    part = subprocess.run(["curl", "-sS", "-r", "1000-1999", srv.url("r.bin")], capture_output=True).stdout
    assert part == data[1000:2000]
    status, listing = curl(srv.url())
    assert status == 200 and {"name": "r.bin", "size": len(data)}.items() <= next(
        d for d in json.loads(listing) if d["name"] == "r.bin").items()  # fmt: skip
    assert curl("-XDELETE", srv.url("r.bin"))[0] == 204
    assert curl(srv.url("r.bin"))[0] == 404
    assert curl("-XDELETE", srv.url("r.bin"))[0] == 404


@pytest.mark.parametrize("target", ["/files/..%2Fescape", "/files/%2Fetc%2Fescape", "/files/.partial",
                                    "/files/..", "/files/.hidden", "/files/a%00b", "/files/a%5Cb"])
def test_names_cannot_escape_the_directory(srv, target):
    status, _ = curl("--path-as-is", "-XPUT", "-d", "x", f"http://127.0.0.1:{srv.http}{target}")
    assert status in (400, 404)
    assert not (srv.dir.parent / "escape").exists() and not Path("/etc/escape").exists()
    status, _ = curl("--path-as-is", f"http://127.0.0.1:{srv.http}/files/../../etc/passwd")
    assert status in (400, 404)


def test_a_client_gone_midway_leaves_no_file_and_no_temporary(srv):
    s = socket.create_connection(("127.0.0.1", srv.http))
    s.sendall(b"PUT /files/gone.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n" + b"x" * 300_000)
    wait_until(lambda: srv.partials(), what="the upload's temporary file")
    s.close()
    wait_until(lambda: srv.partials() == [], what="the temporary file removed")
    assert "gone.bin" not in srv.finals()


def test_a_body_over_max_size_is_413_before_it_is_sent(srv):
    status, _ = curl("-XPUT", "-H", "Content-Length: 99999999", "-H", "Expect: 100-continue", "-d", "",
                     srv.url("huge"))  # fmt: skip
    assert status == 413 and "huge" not in srv.finals()


def test_memory_stays_flat_while_receiving(tmp_path):
    """Peak RSS (VmHWM) after 96 MB by HTTP and 96 MB by raw TCP: far under the sizes."""
    size = 96 << 20
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(size)  # sparse: the client reads zeros without a disk write
    root = tmp_path / "store"
    with files_child(root, "--no-fsync", "--no-access-log") as child:
        srv = FilesServer(child, root)
        before = srv.vmhwm_kb()
        assert curl("-T", str(big), srv.url("big"))[0] == 201
        with socket.create_connection(("127.0.0.1", srv.tcp)) as s, open(big, "rb") as f:
            s.sendall(b"PUT big2 %d\n" % size)
            s.sendfile(f)
            assert s.makefile("rb").readline().startswith(b"OK ")
        peak = srv.vmhwm_kb()
    assert (root / "big").stat().st_size == size == (root / "big2").stat().st_size
    assert peak < 64 * 1024, f"peak RSS {peak} kB"
    assert peak - before < 16 * 1024, f"peak RSS grew {peak - before} kB while receiving"


def test_a_full_disk_is_507_and_leaves_no_partial_file(tmp_path):
    root = tmp_path / "store"
    with files_child(root, fsize=1_000_000) as child:  # writes past 1 MB fail with EFBIG
        srv = FilesServer(child, root)
        (tmp_path / "two").write_bytes(os.urandom(2_000_000))
        status, body = curl("-T", str(tmp_path / "two"), srv.url("two"))
        assert status == 507 and "no space" in body
        assert srv.partials() == [] and srv.finals() == []
        (tmp_path / "small").write_bytes(b"fits")
        assert curl("-T", str(tmp_path / "small"), srv.url("small"))[0] == 201  # still serving
