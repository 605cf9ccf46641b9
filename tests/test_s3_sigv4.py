"""servers.s3.sigv4: AWS's published examples, and botocore's signer as the reference."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.s3 import sigv4
from servers.s3.chunked import AwsChunkedDecoder
from servers.s3.errors import S3Error
from servers.s3.post import FormParser

pytestmark = pytest.mark.exercise("N10")

AK, SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EMPTY = hashlib.sha256(b"").hexdigest()
T2013 = dt.datetime(2013, 5, 24, tzinfo=dt.UTC).timestamp()


def parts(method: str, target: bytes, headers: dict[str, str]) -> sigv4.RequestParts:
    path, _, query = target.partition(b"?")
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return sigv4.RequestParts(method, path, query, raw)


def test_aws_example_get_object_header_form() -> None:
    # "Example: GET Object" in AWS's S3 SigV4 header-auth documentation.
    auth = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")  # fmt: skip
    req = parts("GET", b"/test.txt", {"Host": "examplebucket.s3.amazonaws.com", "Range": "bytes=0-9",
                "x-amz-content-sha256": EMPTY, "x-amz-date": "20130524T000000Z", "Authorization": auth})  # fmt: skip
    v = sigv4.verify(req, {AK: SK}.get, T2013 + 60)
    assert (v.access_key, v.payload_hash, v.presigned) == (AK, EMPTY, False)


def test_aws_example_presigned_url() -> None:
    # "An example" in AWS's "Authenticating Requests: Using Query Parameters".
    target = (b"/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524"
              b"%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
              b"&X-Amz-SignedHeaders=host"
              b"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")  # fmt: skip
    req = parts("GET", target, {"Host": "examplebucket.s3.amazonaws.com"})
    assert sigv4.verify(req, {AK: SK}.get, T2013 + 3600).presigned
    with pytest.raises(S3Error) as e:
        sigv4.verify(req, {AK: SK}.get, T2013 + 86401)
    assert (e.value.code, e.value.message) == ("AccessDenied", "Request has expired")
    with pytest.raises(S3Error) as e:
        sigv4.verify(parts("GET", target.replace(b"86400", b"86401"), {"Host": "examplebucket.s3.amazonaws.com"}),
                     {AK: SK}.get, T2013)  # fmt: skip
    assert e.value.code == "SignatureDoesNotMatch"


KEYS = [
    "plain.txt",
    "a b/c+d?e=f&g",
    "ü/日本語 😀",
    "dir/../../etc/passwd",
    "~tilde/%25/*(x)!'",
    "/lead//double",
]


def botocore_signed(
    method: str, key: str, query: str = "", body: bytes = b""
) -> sigv4.RequestParts:
    url = "http://127.0.0.1:9000/bkt/" + sigv4.uri_encode(key.encode(), safe="/") + query
    req = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "text/x y"})
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    p = req.prepare()
    target = p.url.split("127.0.0.1:9000", 1)[1].encode()
    hdrs = dict(p.headers.items())
    hdrs["host"] = "127.0.0.1:9000"
    return parts(method, target, hdrs)


@pytest.mark.parametrize("key", KEYS)
def test_botocore_header_signatures_verify(key: str) -> None:
    v = sigv4.verify(
        botocore_signed("PUT", key, "?partNumber=2&uploadId=a%2Fb", b"data"),
        {AK: SK}.get,
        time.time(),
    )
    assert v.payload_hash == hashlib.sha256(b"data").hexdigest()


@pytest.mark.parametrize("key", KEYS)
def test_botocore_presigned_urls_verify(key: str) -> None:
    url = "http://127.0.0.1:9000/bkt/" + sigv4.uri_encode(key.encode(), safe="/")
    req = AWSRequest(method="GET", url=url)
    S3SigV4QueryAuth(Credentials(AK, SK), "s3", "us-east-1", expires=60).add_auth(req)
    target = req.prepare().url.split("127.0.0.1:9000", 1)[1].encode()
    assert sigv4.verify(
        parts("GET", target, {"host": "127.0.0.1:9000"}), {AK: SK}.get, time.time()
    ).presigned


def test_a_changed_signed_header_is_refused() -> None:
    p = botocore_signed("PUT", "k", body=b"x")
    headers = [(n, b"text/other" if n == b"content-type" else v) for n, v in p.headers]
    with pytest.raises(S3Error) as e:
        sigv4.verify(
            sigv4.RequestParts(p.method, p.raw_path, p.raw_query, headers),
            {AK: SK}.get,
            time.time(),
        )
    assert e.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda a: a.replace("Signature=", "Signature=0"), "SignatureDoesNotMatch"),
        (lambda a: a.replace(AK, "AKIDUNKNOWN"), "InvalidAccessKeyId"),
        (lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), "AuthorizationHeaderMalformed"),
        (
            lambda a: a.replace("SignedHeaders=", "SignedHeaders=zz;"),
            "AuthorizationHeaderMalformed",
        ),
        (lambda a: "AWS " + AK + ":c2lnbmF0dXJl", "AccessDenied"),
        (lambda a: a.split(",")[0], "AuthorizationHeaderMalformed"),
    ],
)
def test_bad_authorization_headers(mutate, code) -> None:  # type: ignore[no-untyped-def]
    p = botocore_signed("GET", "k")
    headers = [
        (n, mutate(v.decode()).encode() if n == b"authorization" else v) for n, v in p.headers
    ]
    with pytest.raises(S3Error) as e:
        sigv4.verify(
            sigv4.RequestParts(p.method, p.raw_path, p.raw_query, headers),
            {AK: SK}.get,
            time.time(),
        )
    assert e.value.code == code


def test_clock_skew_over_15_minutes_is_refused() -> None:
    p = botocore_signed("GET", "k")
    sigv4.verify(p, {AK: SK}.get, time.time() + 14 * 60)
    with pytest.raises(S3Error) as e:
        sigv4.verify(p, {AK: SK}.get, time.time() + 16 * 60)
    assert e.value.code == "RequestTimeTooSkewed" and e.value.status == 403


def test_presigned_expiry_over_seven_days_is_refused() -> None:
    target = (b"/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3"
              b"%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host"
              b"&X-Amz-Signature=00")  # fmt: skip
    with pytest.raises(S3Error) as e:
        sigv4.verify(parts("GET", target, {"host": "h"}), {"AK": "s"}.get, T2013)
    assert e.value.code == "AuthorizationQueryParametersError"


def test_sigv2_header_form_is_refused_and_query_form_checked() -> None:
    with pytest.raises(S3Error) as e:
        sigv4.verify(
            parts("GET", b"/b/k", {"host": "h", "authorization": "AWS AK:c2ln"}), {}.get, 0
        )
    assert e.value.code == "AccessDenied" and "Version 2" in e.value.message
    with pytest.raises(S3Error) as e:
        sigv4.verify(
            parts("GET", b"/b/k?AWSAccessKeyId=AK&Signature=x&Expires=99", {"host": "h"}),
            {"AK": "s"}.get,
            0,
        )
    assert e.value.code == "SignatureDoesNotMatch"


FORM = (b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/${filename}\r\n"
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
        b"Content-Type: text/plain\r\n\r\nhello\r\n--Xy\r\nworld\r\n--XyZ--\r\n")  # fmt: skip


@pytest.mark.parametrize("step", [1, 3, 7, len(FORM)])
def test_form_parser_in_pieces(step: int) -> None:
    p, events = FormParser(b"XyZ"), []
    for i in range(0, len(FORM), step):
        events += p.feed(FORM[i : i + step])
    merged: list[tuple[object, ...]] = []
    for e in events:
        if e[0] == "data" and merged and merged[-1][0] == "data":
            merged[-1] = ("data", merged[-1][1] + e[1])  # type: ignore[operator]
        else:
            merged.append(e)
    assert merged == [("part", "key", None), ("data", b"up/${filename}"), ("end",),
                      ("part", "file", "a.txt"), ("data", b"hello\r\n--Xy\r\nworld"), ("end",), ("done",)]  # fmt: skip


def test_form_parser_limits() -> None:
    with pytest.raises(S3Error):
        FormParser(b"b").feed(b"x" * 5000)
    with pytest.raises(S3Error):
        FormParser(b"b").feed(b"--b\r\n" + b"h" * 10_000)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=10))
def test_form_parser_raises_only_s3_errors(data: bytes, cuts: list[int]) -> None:
    p, pos = FormParser(b"b"), 0
    try:
        for n in cuts + [len(data)]:
            for ev in p.feed(data[pos : pos + n]):
                assert ev[0] in ("part", "data", "end", "done")
            pos += n
    except S3Error as e:
        assert e.status == 400


_texts = st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.binary(max_size=200), st.dictionaries(_texts, _texts, max_size=6))
def test_verify_raises_only_s3_errors(path: bytes, query: bytes, headers: dict[str, str]) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    for extra in ([], [(b"authorization", b"AWS4-HMAC-SHA256 Credential=a/b/c/s3/aws4_request,"
                                          b"SignedHeaders=host,Signature=x")]):  # fmt: skip
        try:
            sigv4.verify(
                sigv4.RequestParts("GET", b"/" + path, query, raw + extra), {AK: SK}.get, 0.0
            )
        except S3Error as e:
            assert e.status in (400, 403)


def test_aws_chunked_decoder_byte_at_a_time() -> None:
    data = bytes(range(256)) * 3
    encoded = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum,
                                checksum_name="x-amz-checksum-crc32", chunk_size=100).read()  # fmt: skip
    dec, out = AwsChunkedDecoder(), []
    for i in range(len(encoded)):
        out += dec.feed(encoded[i : i + 1])
    assert b"".join(out) == data and dec.done
    crc = Crc32Checksum()
    crc.update(data)
    assert dec.trailers == {"x-amz-checksum-crc32": crc.b64digest()}


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nab\r\n", b"2\r\nabc\r\n", b"f" * 300, b"fffffffff\r\n", b"0\r\nno-colon\r\n\r\n",
     b"0\r\nx:y\r\n\r\nextra", b"-1\r\n"],
)  # fmt: skip
def test_aws_chunked_decoder_refuses(body: bytes) -> None:
    with pytest.raises(S3Error) as e:
        AwsChunkedDecoder().feed(body)
    assert e.value.code == "IncompleteBody"
