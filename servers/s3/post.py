"""Browser-based uploads: ``POST /BUCKET`` with a ``multipart/form-data`` body and a signed policy.

The form carries ``key``, ``policy`` (base64 JSON: an ``expiration`` and a list
of ``conditions``), ``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date``,
``x-amz-signature`` and, last, ``file`` (AWS "Browser-based uploads using
POST"). The signature is HMAC-SHA256 of the base64 policy with the SigV4
signing key. The fields before ``file`` are read with small limits, the policy
is checked (signature, expiry, every condition, no unlisted field), and only
then is the file streamed to the store, its size held to
``content-length-range`` while it arrives.

``FormParser`` is the sans-IO multipart/form-data reader (RFC 7578): bytes in,
``("part", name, filename)``, ``("data", bytes)``, ``("end",)``, ``("done",)``
events out.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from netlib.http import Request, Response

from . import sigv4
from .errors import S3Error
from .store import MAX_OBJECT, Checks, check_bucket, check_key

if TYPE_CHECKING:
    from .app import S3

MAX_PART_HEAD = 8 * 1024  # bytes of one part's headers: a Content-Disposition and a type
MAX_FIELDS_BYTES = 20 * 1024  # S3 caps the form fields before the file at 20 KB
MAX_FIELDS = 64  # parts before the file
MAX_PREAMBLE = 1024  # bytes before the first boundary (RFC 2046 allows some; nobody sends much)
_NAME = re.compile(rb'\bname="([^"]*)"')
_FILENAME = re.compile(rb'\bfilename="([^"]*)"')
_BOUNDARY = re.compile(r'boundary="?([^";]{1,70})"?')  # RFC 2046: 1..70 characters
EXEMPT = {"policy", "x-amz-signature", "file"}  # fields a policy need not list


def bad(msg: str) -> S3Error:
    return S3Error("MalformedPOSTRequest", msg)


class FormParser:
    def __init__(self, boundary: bytes) -> None:
        self.delim = b"\r\n--" + boundary
        self.buf = b"\r\n"  # the first boundary has no CRLF before it: pretend it does
        self.state = "preamble"

    def feed(self, data: bytes) -> list[tuple[Any, ...]]:
        self.buf += data
        out: list[tuple[Any, ...]] = []
        while self._step(out):
            pass
        return out

    def _step(self, out: list[tuple[Any, ...]]) -> bool:
        if self.state in ("preamble", "body"):
            i = self.buf.find(self.delim)
            if i < 0:
                keep = len(self.delim) - 1
                if self.state == "body" and len(self.buf) > keep:
                    out.append(("data", self.buf[:-keep]))
                    self.buf = self.buf[-keep:]
                elif self.state == "preamble" and len(self.buf) > MAX_PREAMBLE:
                    raise bad("no multipart boundary where one was expected")
                return False
            if self.state == "body":
                if i:
                    out.append(("data", self.buf[:i]))
                out.append(("end",))
            self.buf, self.state = self.buf[i + len(self.delim) :], "after"
            return True
        if self.state == "after":
            if len(self.buf) < 2:
                return False
            if self.buf[:2] == b"--":
                self.state = "done"
                out.append(("done",))
                return False
            if self.buf[:2] != b"\r\n":
                raise bad("malformed multipart boundary line")
            self.buf, self.state = self.buf[2:], "head"
            return True
        if self.state == "head":
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(self.buf) > MAX_PART_HEAD:
                    raise bad("a multipart part's headers are too long")
                return False
            head, self.buf = self.buf[:i], self.buf[i + 4 :]
            out.append(("part", *_disposition(head)))
            self.state = "body"
            return True
        return False  # done: the epilogue is ignored


def _disposition(head: bytes) -> tuple[str, str | None]:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-disposition":
            m, f = _NAME.search(value), _FILENAME.search(value)
            if m:
                return m.group(1).decode("utf-8", "replace"), (
                    f.group(1).decode("utf-8", "replace") if f else None
                )
    raise bad("a part without Content-Disposition: form-data; name=...")


class _Events:
    """Pulls events out of the request body as the handler asks for them."""

    def __init__(self, chunks: AsyncIterator[bytes], parser: FormParser) -> None:
        self.chunks, self.parser, self.q = chunks, parser, deque[tuple[Any, ...]]()

    async def next(self) -> tuple[Any, ...]:
        while not self.q:
            try:
                data = await anext(self.chunks)
            except StopAsyncIteration:
                raise S3Error(
                    "IncompleteBody", "the form ended before its closing boundary"
                ) from None
            self.q.extend(self.parser.feed(data))
        return self.q.popleft()

    async def file(self) -> AsyncIterator[bytes]:
        while (ev := await self.next())[0] == "data":
            yield ev[1]


async def read_fields(ev: _Events) -> tuple[dict[str, str], str | None]:
    """Form fields up to the file part: names lower-cased, values UTF-8."""
    fields: dict[str, str] = {}
    total = 0
    while True:
        e = await ev.next()
        if e[0] == "done":
            raise bad("the form has no file field")
        name, filename = e[1], e[2]
        if name == "file":
            return fields, filename
        if len(fields) >= MAX_FIELDS:
            raise bad("too many form fields")
        value = bytearray()
        while (e := await ev.next())[0] == "data":
            value += e[1]
            total += len(e[1])
            if total > MAX_FIELDS_BYTES:
                raise bad("form fields over 20 KB")
        fields[name.lower()] = value.decode("utf-8", "replace")


def check_policy(s3: S3, bucket: str, fields: dict[str, str], now: float) -> tuple[int, int]:
    """Signature, expiry and conditions; returns the allowed (min, max) file size."""
    for need in (
        "policy",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-algorithm",
        "x-amz-date",
        "key",
    ):
        if need not in fields:
            raise S3Error("InvalidArgument", f"Bucket POST must contain a field named '{need}'")
    if fields["x-amz-algorithm"] != sigv4.ALGORITHM:
        raise S3Error("InvalidArgument", "x-amz-algorithm must be AWS4-HMAC-SHA256")
    access, _, scope = fields["x-amz-credential"].partition("/")
    if len(scope.split("/")) != 4:
        raise S3Error("InvalidArgument", "x-amz-credential must be KEY/DATE/REGION/s3/aws4_request")
    secret = s3.secrets.get(access)
    if secret is None:
        raise S3Error(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    want = sigv4.sign_policy(secret, scope, fields["policy"])
    if not hmac.compare_digest(want.encode(), fields["x-amz-signature"].encode()):
        raise S3Error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    try:
        policy = json.loads(base64.b64decode(fields["policy"], validate=True))
        expiry = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")).timestamp()
        conditions = list(policy["conditions"])
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise S3Error(
            "InvalidPolicyDocument",
            "Invalid Policy: the policy is not base64 JSON with expiration and conditions",
        ) from None
    if now > expiry:
        raise S3Error("AccessDenied", "Invalid according to Policy: Policy expired.")
    return _conditions(conditions, dict(fields, bucket=bucket))


def _conditions(conditions: list[Any], fields: dict[str, str]) -> tuple[int, int]:
    lo, hi, covered = 0, MAX_OBJECT, set()
    for c in conditions:
        if isinstance(c, dict) and len(c) == 1:
            ((name, value),) = c.items()
            c = ["eq", "$" + name, value]
        if not isinstance(c, list) or len(c) != 3:
            raise S3Error("InvalidPolicyDocument", f"Invalid Policy: bad condition {str(c)[:80]}")
        op, name, value = c
        if op == "content-length-range":
            if not (isinstance(name, int) and isinstance(value, int) and 0 <= name <= value):
                raise S3Error(
                    "InvalidPolicyDocument",
                    "Invalid Policy: content-length-range needs two integers",
                )
            lo, hi = max(lo, name), min(hi, value)
            continue
        if op not in ("eq", "starts-with") or not isinstance(name, str) or not name.startswith("$"):
            raise S3Error("InvalidPolicyDocument", f"Invalid Policy: bad condition {str(c)[:80]}")
        field = name[1:].lower()
        covered.add(field)
        have = fields.get(field, "")
        ok = have == value if op == "eq" else have.startswith(str(value))
        if not ok:
            raise S3Error(
                "AccessDenied",
                f"Invalid according to Policy: Policy Condition failed: {json.dumps(c)[:200]}",
            )
    extra = [
        f for f in fields if f not in covered and f not in EXEMPT and not f.startswith("x-ignore-")
    ]
    if extra:
        raise S3Error(
            "AccessDenied", f"Invalid according to Policy: Extra input fields: {extra[0][:100]}"
        )
    return lo, hi


def form_upload(s3: S3) -> Callable[[Request], Awaitable[Response]]:
    from .app import s3_route  # the decorator lives with the routes

    @s3_route
    async def handler(s3: S3, req: Request) -> Response:
        bucket = check_bucket(req.params["bucket"])
        s3.store.need_bucket(bucket)
        m = _BOUNDARY.search(req.headers.get("content-type", ""))
        if not req.headers.get("content-type", "").startswith("multipart/form-data") or m is None:
            raise bad("Bucket POST must be of the enclosure-type multipart/form-data")
        ev = _Events(aiter(req.stream()), FormParser(m.group(1).encode("latin-1")))
        fields, filename = await read_fields(ev)
        lo, hi = check_policy(s3, bucket, fields, s3.clock())
        key = check_key(fields["key"].replace("${filename}", filename or ""))
        w = await s3.store.receive(ev.file(), Checks(), limit=hi)
        if w.size < lo:
            s3.store.drop_blob(w.blob)
            raise S3Error(
                "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
            )
        etag = f'"{w.md5.hex()}"'
        s3.store.put(bucket, key, w, etag, fields.get("content-type", "binary/octet-stream"))
        status = fields.get("success_action_status", "204")
        return Response(b"", int(status) if status in ("200", "201") else 204,
                        [(b"etag", etag.encode()), (b"location", f"/{bucket}/{key}".encode()),
                         (b"access-control-allow-origin", b"*")], content_type="")  # fmt: skip

    return handler(s3)  # type: ignore[no-any-return]
