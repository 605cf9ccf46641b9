"""servers.s3 over real sockets: boto3 (unchanged), curl and the page route against ``python -m servers.s3``."""

# ruff: noqa: F811 (the fixtures imported from s3_support are parameters of the tests)

from __future__ import annotations

import asyncio
import hashlib
import http.client
import io
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from s3_support import (  # noqa: F401 (fixtures)
    Server,
    bucket,
    code_of,
    curl,
    s3,
    send,
    server,
    start,
)

from servers.s3.__main__ import DEMO_ACCESS_KEY as AK
from servers.s3.__main__ import DEMO_SECRET_KEY as SK

pytestmark = pytest.mark.exercise("N10")


def test_put_get_head_delete_and_errors(s3: Any, bucket: str) -> None:
    key = "dir/ü ni+code?&=.txt"
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"hello world", ContentType="text/plain")
    assert put["ETag"] == '"' + hashlib.md5(b"hello world").hexdigest() + '"'
    got = s3.get_object(Bucket=bucket, Key=key)
    assert (got["Body"].read(), got["ContentType"]) == (b"hello world", "text/plain")
    assert s3.get_object(Bucket=bucket, Key=key, Range="bytes=6-")["Body"].read() == b"world"
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == 11
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key, IfNoneMatch=put["ETag"])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code_of(e) == "BucketNotEmpty"
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key)
    assert code_of(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="no-such-bucket", Key="k", Body=b"x")
    assert code_of(e) == "NoSuchBucket"
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_list_objects_v2_prefix_delimiter_pagination(s3: Any, bucket: str) -> None:
    keys = sorted([f"a/{i:02}" for i in range(7)] + ["a/sub/x", "a/sub/y", "b", "c/z"])
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 3}
    )
    seen = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert seen == keys
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Prefix"] for c in top["CommonPrefixes"]] == ["a/", "c/"]
    assert [o["Key"] for o in top["Contents"]] == ["b"]
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="a/", Delimiter="/", PaginationConfig={"PageSize": 2}
    )
    got = [(o["Key"]) for p in pages for o in p.get("Contents", [])]
    cps = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert got == [f"a/{i:02}" for i in range(7)] and cps == ["a/sub/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="a/sub/x")
    assert [o["Key"] for o in after["Contents"]] == ["a/sub/y", "b", "c/z"]


def test_upload_file_multipart_and_download_file(s3: Any, bucket: str, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(
        os.urandom(17 * 1024 * 1024)
    )  # > 16 MiB: boto3's transfer manager goes multipart
    s3.upload_file(str(src), bucket, "big")
    etag = s3.head_object(Bucket=bucket, Key="big")["ETag"]
    assert etag.endswith('-3"')  # 8 + 8 + 1 MiB parts: S3's ETag-of-ETags form
    s3.download_file(bucket, "big", str(dst))
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()


def test_multipart_errors(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"a")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=2, Body=b"b")["ETag"]

    def complete(parts: list[tuple[int, str]]) -> str:
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=uid, MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": t} for n, t in parts]})  # fmt: skip
        return code_of(e)

    assert complete([(1, e1), (2, e2)]) == "EntityTooSmall"  # part 1 < 5 MiB and not the last
    assert complete([(2, e2), (1, e1)]) == "InvalidPartOrder"
    assert complete([(1, e2)]) == "InvalidPart"
    assert complete([(3, e1)]) == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}]})  # fmt: skip
    assert done["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"b"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="n")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="n", UploadId=uid, PartNumber=1, Body=b"a")
    s3.abort_multipart_upload(Bucket=bucket, Key="n", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="n", UploadId=uid, PartNumber=2, Body=b"b")
    assert code_of(e) == "NoSuchUpload"


def test_presigned_put_and_get_with_curl(server: Server, bucket: str, tmp_path: Path) -> None:
    c = server.client(signature_version="s3v4")
    put = c.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up/a b.txt"}, ExpiresIn=60
    )
    f = tmp_path / "f"
    f.write_bytes(b"from curl")
    assert curl("-X", "PUT", "-T", str(f), put).stdout.endswith("200")
    get = c.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "up/a b.txt"}, ExpiresIn=60
    )
    assert curl(get).stdout == "from curl\n200"
    tampered_sig = get[:-3] + ("000" if not get.endswith("000") else "111")
    r = curl(tampered_sig).stdout
    assert "<Code>SignatureDoesNotMatch</Code>" in r and r.endswith("403")
    r = curl(get.replace("X-Amz-Expires=60", "X-Amz-Expires=61")).stdout
    assert "<Code>SignatureDoesNotMatch</Code>" in r
    r = curl(get.replace("up/a%20b.txt", "up/other.txt")).stdout
    assert "<Code>SignatureDoesNotMatch</Code>" in r


def test_sigv2_presigned_urls_from_boto3_defaults(
    server: Server, bucket: str, tmp_path: Path
) -> None:
    c = server.client()  # no signature_version: boto3 presigns with SigV2 in us-east-1
    key = "v2/a b+c.txt"
    put = c.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60
    )
    assert "AWSAccessKeyId=" in put and "X-Amz-" not in put
    f = tmp_path / "f"
    f.write_bytes(b"sigv2 body")
    assert curl("-X", "PUT", "-T", str(f), put).stdout.endswith("200")
    get = c.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60
    )
    assert curl(get).stdout == "sigv2 body\n200"
    r = curl(get.replace("Expires=", "Expires=1")).stdout  # a later expiry is another signature
    assert "<Code>SignatureDoesNotMatch</Code>" in r and r.endswith("403")
    r = curl("-X", "PUT", "-H", "Content-Type: text/html", "-T", str(f), put).stdout  # signed as ""
    assert "<Code>SignatureDoesNotMatch</Code>" in r


def post_form(server: Server, bucket: str, key: str, data: bytes, tmp_path: Path, **kw: Any) -> str:
    c = server.client(signature_version="s3v4")
    form = c.generate_presigned_post(bucket, key, **kw)
    f = tmp_path / "upload.bin"
    f.write_bytes(data)
    args = [a for k, v in form["fields"].items() for a in ("-F", f"{k}={v}")]
    return curl(*args, "-F", f"file=@{f}", form["url"]).stdout


def test_presigned_post_with_policy(server: Server, s3: Any, bucket: str, tmp_path: Path) -> None:
    cond = [["starts-with", "$key", "uploads/"], ["content-length-range", 1, 100]]
    r = post_form(
        server, bucket, "uploads/${filename}", b"posted", tmp_path, Conditions=cond, ExpiresIn=60
    )
    assert r.endswith("204"), r
    assert s3.get_object(Bucket=bucket, Key="uploads/upload.bin")["Body"].read() == b"posted"
    r = post_form(server, bucket, "uploads/big", b"x" * 101, tmp_path, Conditions=cond)
    assert "<Code>EntityTooLarge</Code>" in r
    r = post_form(server, bucket, "elsewhere/f", b"x", tmp_path, Conditions=cond)
    assert "<Code>AccessDenied</Code>" in r and "Policy Condition failed" in r
    r = post_form(server, "other-bucket", "uploads/f", b"x", tmp_path, Conditions=cond)
    assert "<Code>NoSuchBucket</Code>" in r


def test_presigned_post_expired_or_tampered(server: Server, bucket: str, tmp_path: Path) -> None:
    c = server.client(signature_version="s3v4")
    form = c.generate_presigned_post(bucket, "k", ExpiresIn=60)
    fields = dict(form["fields"], key="other")
    f = tmp_path / "f"
    f.write_bytes(b"x")
    args = [a for k, v in fields.items() for a in ("-F", f"{k}={v}")]
    r = curl(*args, "-F", f"file=@{f}", form["url"]).stdout
    assert "<Code>AccessDenied</Code>" in r  # key no longer matches the policy's {"key": "k"}
    fields = dict(form["fields"], policy=form["fields"]["policy"][:-4] + "AAAA")
    args = [a for k, v in fields.items() for a in ("-F", f"{k}={v}")]
    assert (
        "<Code>SignatureDoesNotMatch</Code>" in curl(*args, "-F", f"file=@{f}", form["url"]).stdout
    )
    r = post_form(server, bucket, "k", b"x", tmp_path, ExpiresIn=-10)
    assert "Policy expired" in r


def test_cors_preflight_and_presign_route(server: Server, bucket: str) -> None:
    r = subprocess.run(["curl", "-sS", "-i", "-X", "OPTIONS", "-H", "Origin: http://example.test",
                        "-H", "Access-Control-Request-Method: PUT",
                        "-H", "Access-Control-Request-Headers: content-type",
                        f"{server.url}/{bucket}/k"], capture_output=True, text=True, timeout=30).stdout  # fmt: skip
    assert "access-control-allow-origin: *" in r.lower() and "put" in r.lower()
    out = curl(
        "-X", "POST", "-d", f'{{"bucket":"{bucket}","key":"via/presign"}}', f"{server.url}/_presign"
    )
    import json

    url = json.loads(out.stdout.rsplit("\n", 1)[0])["url"]
    assert curl("-X", "PUT", "--data-binary", "browser bytes", url).stdout.endswith("200")
    assert (
        server.client().get_object(Bucket=bucket, Key="via/presign")["Body"].read()
        == b"browser bytes"
    )


def test_odd_keys_list_back_exactly(s3: Any, bucket: str) -> None:
    keys = [
        "a+b c",
        "ctl\x01\x1f",
        "pct%2F%",
        "tab\there",
        "ü/日本",
        "\ud7ff/x",
        "\ud7ff/y",
        "zz<&>\"'",
        "\ue000after",
    ]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode("utf-8", "surrogatepass"))
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    top = s3.list_objects_v2(
        Bucket=bucket, Delimiter="\ud7ff"
    )  # the jump past a prefix skips surrogates
    assert [c["Prefix"] for c in top["CommonPrefixes"]] == [
        "\ud7ff"
    ]  # U+D7FF, the last before them
    assert [o["Key"] for o in top["Contents"]][-1] == "\ue000after"  # the scan jumped to U+E000
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Prefix"] for c in top["CommonPrefixes"]] == ["ü/", "\ud7ff/"]


def test_credentials_file(tmp_path: Path) -> None:
    creds = tmp_path / "creds.toml"
    creds.write_text('[[credentials]]\naccess_key = "ALICE"\nsecret_key = "alice-secret"\n')
    with start(tmp_path / "d", "--credentials", str(creds)) as child:
        url = f"http://127.0.0.1:{child.port}"
        alice = boto3.client("s3", endpoint_url=url, aws_access_key_id="ALICE",
                             aws_secret_access_key="alice-secret", region_name="us-east-1",
                             config=Config(s3={"addressing_style": "path"}))  # fmt: skip
        alice.create_bucket(Bucket="alice")
        assert [b["Name"] for b in alice.list_buckets()["Buckets"]] == ["alice"]
        with pytest.raises(ClientError) as e:
            Server(child, tmp_path).client().list_buckets()  # the demo pair is not in the file
        assert code_of(e) == "InvalidAccessKeyId"


def test_upload_page_and_demo_bucket(server: Server) -> None:
    page = curl(f"{server.url}/_upload").stdout
    assert "/_presign" in page and 'fetch(url, {method: "PUT"' in page and page.endswith("200")
    assert "demo" in [b["Name"] for b in server.client().list_buckets()["Buckets"]]


def aws_chunked(data: bytes, chunk: int = 7, trailer: str = "x-amz-checksum-crc32") -> bytes:
    """The body botocore sends over https for streamed uploads (its own encoder)."""
    wrapper = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum, checksum_name=trailer,
                                chunk_size=chunk)  # fmt: skip
    return wrapper.read()  # type: ignore[no-any-return]


def chunked_put(
    server: Server, bucket: str, key: str, data: bytes, encoded: bytes
) -> tuple[int, str]:
    req = AWSRequest(method="PUT", url=f"{server.url}/{bucket}/{key}", data=encoded, headers={
        "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32"})  # fmt: skip
    req.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32",
                                                     "name": "x-amz-checksum-crc32"}}  # fmt: skip
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    assert req.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    return send(server, req, encoded)


def test_aws_chunked_with_trailing_crc32(server: Server, s3: Any, bucket: str) -> None:
    data = os.urandom(100)
    status, body = chunked_put(server, bucket, "ch", data, aws_chunked(data))
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="ch")["Body"].read() == data
    head, _, _ = aws_chunked(data).rpartition(b"x-amz-checksum-crc32:")
    status, body = chunked_put(
        server, bucket, "ch2", data, head + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    )
    assert status == 400 and "<Code>BadDigest</Code>" in body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="ch2")
    assert not list((server.root / "tmp").iterdir())


def test_overwrite_during_a_get_keeps_the_old_bytes_for_that_reader(
    server: Server, s3: Any, bucket: str
) -> None:
    old = os.urandom(4 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="hot", Body=old)
    url = server.client(signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "hot"}, ExpiresIn=60)  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", url.split(str(server.port), 1)[1])
    resp = conn.getresponse()
    first = resp.read(1024)
    s3.put_object(Bucket=bucket, Key="hot", Body=b"new")  # replaced while the GET is mid-body
    s3.delete_object(Bucket=bucket, Key="hot")
    assert first + resp.read() == old
    conn.close()


def test_a_replaced_blob_outlives_the_lookup_window(tmp_path: Path) -> None:
    from servers.s3.store import Checks, Store

    async def chunks(data: bytes) -> Any:
        yield data

    async def go() -> tuple[bool, bool]:
        st = Store(tmp_path)
        st.create_bucket("bkt")
        w1 = await st.receive(chunks(b"one"), Checks())
        st.put("bkt", "k", w1, '"1"', "x")
        w2 = await st.receive(chunks(b"two"), Checks())
        st.put("bkt", "k", w2, '"2"', "x")
        kept = (tmp_path / "blobs" / w1.blob).exists()  # a GET that looked up w1 can still open it
        st.close()
        return kept, (tmp_path / "blobs" / w2.blob).exists()

    assert asyncio.run(go()) == (True, True)
    Store(tmp_path).close()  # start-up sweeps the retired blob the timer did not get to
    assert len(list((tmp_path / "blobs").iterdir())) == 1
