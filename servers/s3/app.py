"""The S3 REST routes (path-style addressing: ``/BUCKET/KEY``) on ``netlib.http``.

Every S3 route authenticates first (``sigv4.verify`` on the raw target and the
headers) and only then reads a body: a PUT with ``Expect: 100-continue`` and a
bad signature is refused before the client sends a byte of it. Uploads are
``stream=True`` routes, so a 5 GiB PUT never sits in memory. Errors are S3's
XML documents. Every response carries CORS headers so a page on another origin
can PUT to a pre-signed URL; ``OPTIONS`` answers the preflight.

``POST /_presign`` (JSON ``{"bucket", "key", "method"?, "expires"?}``) is the
app route of the lab flow: it hands out a pre-signed URL for the demo
credentials, as an application server would after checking its own user.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from email.utils import formatdate
from typing import Any

from netlib.http import App, FileResponse, HTTPError, JSONResponse, Request, Response
from netlib.http import serve as serve_http
from netlib.http.conditional import UNSATISFIABLE, parse_ranges
from netlib.shell import Server, ShellConfig
from servers.catalog import REPO_ROOT

from . import chunked, post, presign, sigv4, xml
from .errors import S3Error
from .store import MAX_OBJECT, Checks, Store, check_bucket, check_key

log = logging.getLogger(__name__)

CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"ETag, x-amz-request-id"),
]
XML = "application/xml"
# Flexible checksums we do not compute: refused rather than silently unchecked.
TRAILERS = ("", "x-amz-checksum-crc32", "x-amz-checksum-sha256")  # trailing checksums we verify
UNCHECKED = ("x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1")
PAGE = REPO_ROOT / "web" / "s3" / "index.html"


class S3:
    def __init__(
        self, store: Store, secrets: Mapping[str, str], clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.secrets = dict(secrets)
        self.clock = clock

    def auth(self, req: Request) -> sigv4.Verified:
        path, _, query = req.target.partition(b"?")
        parts = sigv4.RequestParts(req.method, path, query, req.raw_headers)
        return sigv4.verify(parts, self.secrets.get, self.clock())


def _xml(
    body: bytes, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    return Response(body, status, (headers or []) + CORS, content_type=XML)


def s3_route(fn: Callable[[S3, Request], Awaitable[Response]]) -> Callable[[S3], Any]:
    """Bind a handler to the service and turn S3Error into S3's XML error answer."""

    def bind(s3: S3) -> Callable[[Request], Awaitable[Response]]:
        async def handler(req: Request) -> Response:
            try:
                return await fn(s3, req)
            except S3Error as e:
                if e.status >= 500 or e.code == "SignatureDoesNotMatch":
                    log.info("%s %s: %s", req.method, req.path, e)
                return _xml(e.xml(), e.status)

        return handler

    return bind


def _names(req: Request) -> tuple[str, str]:
    bucket = check_bucket(req.params["bucket"])
    return bucket, check_key(req.params.get("key", ""))


# -- buckets ---------------------------------------------------------------------------


@s3_route
async def list_buckets(s3: S3, req: Request) -> Response:
    s3.auth(req)
    return _xml(xml.list_buckets(s3.store.buckets()))


@s3_route
async def bucket_put(s3: S3, req: Request) -> Response:
    s3.auth(req)
    s3.store.create_bucket(req.params["bucket"])
    return _xml(b"", 200, [(b"location", ("/" + req.params["bucket"]).encode())])


@s3_route
async def bucket_delete(s3: S3, req: Request) -> Response:
    s3.auth(req)
    s3.store.delete_bucket(check_bucket(req.params["bucket"]))
    return Response(b"", 204, CORS, content_type="")


@s3_route
async def bucket_get(s3: S3, req: Request) -> Response:
    s3.auth(req)
    bucket = check_bucket(req.params["bucket"])
    s3.store.need_bucket(bucket)
    if req.method == "HEAD":
        return _xml(b"")
    if "uploads" in req.query or "location" in req.query:
        raise S3Error("NotImplemented", "only ListObjectsV2 is implemented on a bucket")
    return _xml(xml.list_objects(s3.store, bucket, _args(req)))


def _args(req: Request) -> dict[str, str]:
    return {n: v for n, v in sigv4.parse_query(req.query_string)}


# -- objects ---------------------------------------------------------------------------


@s3_route
async def object_put(s3: S3, req: Request) -> Response:
    v = s3.auth(req)
    bucket, key = _names(req)
    s3.store.need_bucket(bucket)
    q = _args(req)
    if "x-amz-copy-source" in req.headers:
        raise S3Error("NotImplemented", "CopyObject is not implemented")
    body, checks = _body(req, v)
    if "uploadId" in q:
        return await _upload_part(s3, req, bucket, key, q, body, checks)
    w = await s3.store.receive(body, checks)
    etag = f'"{w.md5.hex()}"'
    s3.store.put(bucket, key, w, etag, req.headers.get("content-type") or "binary/octet-stream")
    return _xml(b"", 200, [(b"etag", etag.encode())])


def _body(req: Request, v: sigv4.Verified) -> tuple[AsyncIterator[bytes], Checks]:
    """The payload as it arrives (aws-chunked decoded) and what it must hash to."""
    aws_chunked = "aws-chunked" in req.headers.get("content-encoding", "")
    if aws_chunked and v.payload_hash == chunked.UNSIGNED_TRAILER:
        decoded = req.headers.get("x-amz-decoded-content-length", "")
        if not decoded.isdigit() or len(decoded) > 12:
            raise S3Error("MissingContentLength", "aws-chunked needs x-amz-decoded-content-length")
        trailer = req.headers.get("x-amz-trailer", "").strip().lower()
        if trailer not in TRAILERS:
            raise S3Error(
                "NotImplemented", f"trailer {trailer[:40]!r} is not supported: use CRC32 or SHA256"
            )
        return _dechunked(req.stream(), trailer), _checks(
            req, v, int(decoded), payload_signed=False
        )
    if aws_chunked or v.payload_hash.startswith(sigv4.STREAMING_PREFIX):
        raise S3Error(
            "NotImplemented",
            "only STREAMING-UNSIGNED-PAYLOAD-TRAILER aws-chunked bodies are supported",
        )
    length = req.headers.get("content-length")
    if length is None:
        raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.")
    return aiter(req.stream()), _checks(req, v, int(length))


async def _dechunked(stream: AsyncIterable[bytes], trailer: str) -> AsyncIterator[bytes]:
    """Decode aws-chunked; at the end, the trailing checksum must match what came."""
    dec, crc, sha = chunked.AwsChunkedDecoder(), 0, hashlib.sha256()
    async for data in stream:
        for piece in dec.feed(data):
            crc = zlib.crc32(piece, crc)
            sha.update(piece)
            yield piece
    if not dec.done:
        raise S3Error("IncompleteBody", "the aws-chunked body ended before its last chunk")
    if trailer:
        want = dec.trailers.get(trailer)
        have = crc.to_bytes(4, "big") if trailer.endswith("crc32") else sha.digest()
        if want != base64.b64encode(have).decode():
            raise S3Error(
                "BadDigest", f"The {trailer} trailer did not match the calculated checksum."
            )


def _checks(req: Request, v: sigv4.Verified, length: int, payload_signed: bool = True) -> Checks:
    """What the body must hash to: the signed SHA-256 and the checksums the client sent."""
    for name in UNCHECKED:
        if name in req.headers:
            raise S3Error("NotImplemented", f"{name} is not supported here: use CRC32 or SHA256")
    if length > MAX_OBJECT:
        raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    return Checks(
        sha256=v.payload_hash if payload_signed and v.payload_hash != sigv4.UNSIGNED else None,
        crc32=req.headers.get("x-amz-checksum-crc32"),
        sha256_b64=req.headers.get("x-amz-checksum-sha256"),
        md5=req.headers.get("content-md5"),
        length=length,
    )


async def _upload_part(
    s3: S3,
    req: Request,
    bucket: str,
    key: str,
    q: dict[str, str],
    body: AsyncIterator[bytes],
    c: Checks,
) -> Response:
    num = q.get("partNumber", "")
    if not num.isdigit() or not 1 <= int(num) <= 10_000:
        raise S3Error(
            "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive"
        )
    s3.store.upload(bucket, key, q["uploadId"])
    w = await s3.store.receive(body, c)
    etag = s3.store.put_part(q["uploadId"], int(num), w)
    return _xml(b"", 200, [(b"etag", etag.encode())])


@s3_route
async def object_get(s3: S3, req: Request) -> Response:
    s3.auth(req)
    bucket, key = _names(req)
    obj = s3.store.get(bucket, key)
    headers = [
        (b"etag", obj.etag.encode()),
        (b"last-modified", formatdate(obj.mtime, usegmt=True).encode()),
        (b"accept-ranges", b"bytes"),
    ] + CORS
    inm = req.headers.get("if-none-match")
    if inm is not None and (inm.strip() == "*" or obj.etag in [t.strip() for t in inm.split(",")]):
        return Response(b"", 304, headers, content_type="")
    im = req.headers.get("if-match")
    if im is not None and obj.etag not in [t.strip() for t in im.split(",")] and im.strip() != "*":
        raise S3Error(
            "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
        )
    path = s3.store.blob_path(obj.blob)
    rng = req.headers.get("range")
    spans = parse_ranges(rng, obj.size) if rng else None
    if spans == UNSATISFIABLE:
        raise S3Error("InvalidRange", "The requested range is not satisfiable")
    # S3 serves one range; for several it sends the whole object.
    if isinstance(spans, list) and len(spans) == 1:
        first, last = spans[0]
        headers.append((b"content-range", f"bytes {first}-{last}/{obj.size}".encode()))
        return FileResponse(path, first, last - first + 1, 206, headers, obj.ctype)
    return FileResponse(path, 0, obj.size, 200, headers, obj.ctype)


@s3_route
async def object_delete(s3: S3, req: Request) -> Response:
    s3.auth(req)
    bucket, key = _names(req)
    q = _args(req)
    if "uploadId" in q:
        s3.store.upload(bucket, key, q["uploadId"])
        s3.store.abort(q["uploadId"])
    else:
        s3.store.delete(bucket, key)
    return Response(b"", 204, CORS, content_type="")


@s3_route
async def object_post(s3: S3, req: Request) -> Response:
    s3.auth(req)
    bucket, key = _names(req)
    q = _args(req)
    if "uploads" in q:
        uid = s3.store.create_upload(
            bucket, key, req.headers.get("content-type") or "binary/octet-stream"
        )
        return _xml(xml.initiated(bucket, key, uid))
    if "uploadId" in q:
        etag = await s3.store.complete(bucket, key, q["uploadId"], xml.parse_complete(req.body))
        return _xml(xml.completed(bucket, key, etag))
    raise S3Error("NotImplemented", "POST on an object needs ?uploads or ?uploadId")


def preflight(req: Request) -> Response:
    asked = req.headers.get("access-control-request-headers", "")
    return Response(b"", 204, CORS + [
        (b"access-control-allow-methods", b"GET, PUT, POST, DELETE, HEAD"),
        (b"access-control-allow-headers", asked.encode("latin-1")),
        (b"access-control-max-age", b"600"),
    ], content_type="")  # fmt: skip


FORM_OVERHEAD = 1024 * 1024  # a presigned POST's fields and multipart boundaries around the file
COMPLETE_XML_MAX = 4 * 1024 * 1024  # CompleteMultipartUpload for 10,000 parts (~100 bytes each)


def build_app(s3: S3, demo_key: str | None = None) -> App:
    app = App()
    app.add("GET", "/", list_buckets(s3))
    app.add("PUT", "/{bucket}", bucket_put(s3))
    app.add("DELETE", "/{bucket}", bucket_delete(s3))
    app.add("GET", "/{bucket}", bucket_get(s3))
    # Streamed bodies are limited per route: an object may be S3's 5 GiB, a form adds its fields.
    app.add("POST", "/{bucket}", post.form_upload(s3), stream=True, max_body=MAX_OBJECT + FORM_OVERHEAD)
    app.add("PUT", "/{bucket}/{key:path}", object_put(s3), stream=True, max_body=MAX_OBJECT)
    app.add("GET", "/{bucket}/{key:path}", object_get(s3))
    app.add("DELETE", "/{bucket}/{key:path}", object_delete(s3))
    app.add("POST", "/{bucket}/{key:path}", object_post(s3), max_body=COMPLETE_XML_MAX)
    for pattern in ("/", "/{bucket}", "/{bucket}/{key:path}"):
        app.add("OPTIONS", pattern, preflight)
    if demo_key is not None:
        app.add("POST", "/_presign", presign.route(s3, demo_key))
        app.add("OPTIONS", "/_presign", preflight)
        app.add("GET", "/_upload", upload_page)
    return app


def upload_page(req: Request) -> FileResponse:
    """The browser half of the lab flow (``web/s3/index.html``)."""
    return FileResponse(str(PAGE), 0, PAGE.stat().st_size, content_type="text/html; charset=utf-8")


async def serve(s3: S3, config: ShellConfig, demo_key: str | None = None) -> Server:
    return await serve_http(build_app(s3, demo_key), config)


__all__ = ["S3", "build_app", "serve", "HTTPError", "JSONResponse"]
