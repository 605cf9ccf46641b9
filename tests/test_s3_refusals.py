"""servers.s3 refusing bad input over real sockets: signatures, clocks, keys, bodies, kills."""

# ruff: noqa: F811 (the fixtures imported from s3_support are parameters of the tests)

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from s3_support import (  # noqa: F401 (fixtures)
    Server,
    bucket,
    code_of,
    curl,
    s3,
    send,
    server,
    shifted,
    signed_raw,
    start,
    wait_until,
)

from servers.s3.__main__ import DEMO_SECRET_KEY as SK

pytestmark = pytest.mark.exercise("N10")


def test_sigv2_expired_url(server: Server, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time
    monkeypatch.setattr(botocore.auth.time, "time", lambda: real() - 120)  # signed 2 minutes ago
    url = server.client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60
    )
    r = curl(url).stdout
    assert "Request has expired" in r and r.endswith("403")


def test_expired_url_and_clock_skew(
    server: Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = server.client(signature_version="s3v4")
    c.put_object(Bucket=bucket, Key="k", Body=b"v")
    shifted(monkeypatch, -120)
    url = c.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60
    )
    r = curl(url).stdout
    assert "<Code>AccessDenied</Code>" in r and "Request has expired" in r and r.endswith("403")
    shifted(monkeypatch, -16 * 60)
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket=bucket, Key="k")
    assert code_of(e) == "RequestTimeTooSkewed"


def test_unknown_access_key(server: Server, bucket: str) -> None:
    c = boto3.client("s3", endpoint_url=server.url, aws_access_key_id="AKIDNOBODY", aws_secret_access_key=SK,
                     region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))  # fmt: skip
    with pytest.raises(ClientError) as e:
        c.list_objects_v2(Bucket=bucket)
    assert code_of(e) == "InvalidAccessKeyId"


def test_dotdot_and_huge_keys_stay_names(server: Server, s3: Any, bucket: str) -> None:
    for key in ("../../escape", "/abs/path", "a/../../../b", ".."):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    outside = {p.name for p in server.root.parent.iterdir()}
    assert "escape" not in outside and not (server.root / "b").exists()
    assert all(len(p.name) == 32 for p in (server.root / "blobs").iterdir())  # generated names only
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 2000, Body=b"x")
    assert code_of(e) == "KeyTooLongError"


def test_body_that_does_not_match_its_signed_sha256_is_not_stored(
    server: Server, s3: Any, bucket: str
) -> None:
    req = signed_raw(server, "PUT", f"/{bucket}/sha", b"signed body", {})
    status, body = send(server, req, b"signed bodY")  # same length, other bytes
    assert status == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in body
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="sha")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert not list((server.root / "tmp").iterdir())


def test_wrong_crc32_is_bad_digest(server: Server, bucket: str) -> None:
    req = signed_raw(server, "PUT", f"/{bucket}/crc", b"abc", {"x-amz-checksum-crc32": "AAAAAA=="})
    status, body = send(server, req, b"abc")
    assert status == 400 and "<Code>BadDigest</Code>" in body


def test_a_signed_header_changed_on_the_wire(server: Server, bucket: str) -> None:
    req = signed_raw(server, "PUT", f"/{bucket}/h", b"abc", {"Content-Type": "text/plain"})
    req.headers.replace_header("Content-Type", "text/html")
    status, body = send(server, req, b"abc")
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in body


def half_upload(server: Server, bucket: str, key: str) -> socket.socket:
    body = b"x" * 1_000_000
    req = signed_raw(server, "PUT", f"/{bucket}/{key}", body, {})
    p = req.prepare()
    head = f"PUT /{bucket}/{key} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in p.headers.items() if k.lower() != "content-length"
    )
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:400_000])
    wait_until(lambda: any((server.root / "tmp").iterdir()))
    return sock


def test_client_disconnecting_mid_upload_leaves_nothing(
    server: Server, s3: Any, bucket: str
) -> None:
    half_upload(server, bucket, "cut").close()
    wait_until(lambda: not any((server.root / "tmp").iterdir()))
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="cut")


def test_sigkill_mid_upload_then_restart_leaves_no_object(tmp_path: Path) -> None:
    with start(tmp_path) as child:
        srv = Server(child, tmp_path)
        srv.client().create_bucket(Bucket="crash")
        srv.client().put_object(Bucket="crash", Key="kept", Body=b"acknowledged")
        sock = half_upload(srv, "crash", "torn")
        child.signal(signal.SIGKILL)
        sock.close()
    with start(tmp_path) as child:
        srv = Server(child, tmp_path)
        c = srv.client()
        assert [o["Key"] for o in c.list_objects_v2(Bucket="crash")["Contents"]] == ["kept"]
        assert c.get_object(Bucket="crash", Key="kept")["Body"].read() == b"acknowledged"
        assert not list((tmp_path / "tmp").iterdir())


def test_streaming_payloads_and_unknown_checksums_are_refused(server: Server, bucket: str) -> None:
    req = signed_raw(server, "PUT", f"/{bucket}/s", b"abc", {"x-amz-checksum-crc32c": "AAAAAA=="})
    status, body = send(server, req, b"abc")
    assert status == 501 and "<Code>NotImplemented</Code>" in body
    req = signed_raw(
        server, "PUT", f"/{bucket}/s", b"abc", {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}
    )
    status, body = send(server, req, b"abc")
    assert status == 400 and "<Code>BadDigest</Code>" in body
    req = signed_raw(server, "PUT", f"/{bucket}/s", b"abc", {"x-amz-checksum-sha256": "AAAA"})
    assert "<Code>BadDigest</Code>" in send(server, req, b"abc")[1]


def test_bad_signature_with_expect_100_is_refused_before_the_body(
    server: Server, bucket: str
) -> None:
    req = signed_raw(server, "PUT", f"/{bucket}/e", b"x" * 1000, {"Expect": "100-continue"})
    p = req.prepare()
    lines = [f"{k}: {v.replace('Signature=', 'Signature=f') if k == 'Authorization' else v}"
             for k, v in p.headers.items()]  # fmt: skip
    head = f"PUT /{bucket}/e HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "\r\n".join(lines)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n")  # the body is never sent
        first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 403") and b"SignatureDoesNotMatch" in first


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("nope = [", "TOMLDecodeError"),
        ('[[credentials]]\naccess_key = "A"\n', "secret_key"),
        (None, "No such file"),
    ],
)
def test_bad_credentials_file_is_one_line(tmp_path: Path, content: str | None, says: str) -> None:
    path = tmp_path / "c.toml"
    if content is not None:
        path.write_text(content)
    r = subprocess.run([sys.executable, "-m", "servers.s3", "--port", "0", "--dir", str(tmp_path / "d"),
                        "--credentials", str(path)], capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 1 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1
