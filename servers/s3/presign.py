"""Making pre-signed URLs (the signer's side of ``sigv4``), and the ``POST /_presign`` app route.

In the lab flow an application server, having checked its own user, hands the
browser a URL that is good for one method on one key for a few minutes; the
browser then talks to the store directly. Here the store hosts that route
itself, for the demo credentials; a real deployment puts it in the app.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from netlib.http import HTTPError, JSONResponse, Request

from . import sigv4
from .errors import S3Error
from .store import check_bucket, check_key

if TYPE_CHECKING:
    from .app import S3

MAX_PRESIGN_EXPIRES = 3600  # the route hands out URLs good for at most an hour
REGION = "us-east-1"


def presign_url(
    host: str, method: str, bucket: str, key: str, access: str, secret: str,
    expires: int, now: float, region: str = REGION,
) -> str:  # fmt: skip
    """``http://host/bucket/key?X-Amz-...`` signing only ``host``, payload UNSIGNED-PAYLOAD."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    path = "/" + bucket + "/" + sigv4.uri_encode(key.encode(), safe="/")
    query = [
        ("X-Amz-Algorithm", sigv4.ALGORITHM),
        ("X-Amz-Credential", f"{access}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    parts = sigv4.RequestParts(method, path.encode(), b"", [(b"host", host.encode())])
    creq = sigv4.canonical_request(parts, query, ["host"], sigv4.UNSIGNED)
    sig = sigv4.signature(secret, scope, amz_date, creq)
    qs = "&".join(f"{n}={quote(v, safe='~')}" for n, v in query)
    return f"http://{host}{path}?{qs}&X-Amz-Signature={sig}"


def route(s3: S3, access: str) -> Callable[[Request], Awaitable[Any]]:
    secret = s3.secrets[access]

    async def presign(req: Request) -> JSONResponse:
        data = req.json()
        if not isinstance(data, dict):
            raise HTTPError(400, "send a JSON object {bucket, key, method?, expires?}")
        method = data.get("method", "PUT")
        expires = data.get("expires", 300)
        if (
            method not in ("PUT", "GET")
            or not isinstance(expires, int)
            or not 1 <= expires <= MAX_PRESIGN_EXPIRES
        ):
            raise HTTPError(
                422, f"method is PUT or GET; expires is 1..{MAX_PRESIGN_EXPIRES} seconds"
            )
        try:
            bucket = check_bucket(str(data.get("bucket", "")))
            key = check_key(str(data.get("key", "")))
        except S3Error as e:
            raise HTTPError(422, e.message) from None
        host = req.headers.get("host", "")
        url = presign_url(host, method, bucket, key, access, secret, expires, s3.clock())
        return JSONResponse({"url": url, "method": method, "expires": expires},
                            headers=[(b"access-control-allow-origin", b"*")])  # fmt: skip

    return presign
