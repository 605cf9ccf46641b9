"""AWS Signature Version 2, query form only (``AWSAccessKeyId``, ``Expires``, ``Signature``).

boto3's ``generate_presigned_url`` still makes these in us-east-1 unless told
``signature_version="s3v4"``, so a store that boto3 works with unchanged
accepts them. The string to sign (AWS "Signing and authenticating REST
requests", query string authentication)::

    VERB \\n Content-MD5 \\n Content-Type \\n Expires \\n CanonicalizedAmzHeaders CanonicalizedResource

The resource is the path exactly as sent (SigV2 does not re-encode it) plus the
sub-resources S3 lists (``uploadId``, ``partNumber``, ``response-*``, ...),
sorted. Signature: base64 HMAC-SHA1 with the secret key. The header form
(``Authorization: AWS key:sig``) stays refused: no SDK defaults to it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

from .errors import S3Error

# S3's sub-resources: the query parameters that are part of the signed resource.
SUBRESOURCES = frozenset((
    "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber",
    "policy", "requestPayment", "restore", "tagging", "torrent", "uploadId", "uploads",
    "versionId", "versioning", "versions", "website", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "response-content-language",
    "response-content-type", "response-expires",
))  # fmt: skip
MAX_EXPIRES_DIGITS = 12  # a Unix time in seconds until the year 33658


def string_to_sign(
    method: str,
    raw_path: bytes,
    query: list[tuple[str, str]],
    headers: list[tuple[bytes, bytes]],
    expires: str,
) -> str:
    def header(name: bytes) -> str:
        return next((v.decode("latin-1").strip() for n, v in headers if n == name), "")

    amz: dict[str, list[str]] = {}
    for n, v in headers:
        name = n.decode("latin-1").lower()
        if name.startswith("x-amz-"):
            amz.setdefault(name, []).append(v.decode("latin-1").strip())
    amz_lines = "".join(f"{n}:{','.join(amz[n])}\n" for n in sorted(amz))
    subs = sorted((n, v) for n, v in query if n in SUBRESOURCES)
    resource = raw_path.decode("latin-1")
    if subs:
        resource += "?" + "&".join(f"{n}={v}" if v else n for n, v in subs)
    return f"{method}\n{header(b'content-md5')}\n{header(b'content-type')}\n{expires}\n{amz_lines}{resource}"


def verify_query(
    method: str, raw_path: bytes, query: list[tuple[str, str]], headers: list[tuple[bytes, bytes]],
    secret_of: Callable[[str], str | None], now: float,
) -> str:  # fmt: skip
    """The access key of a valid SigV2 pre-signed request; S3Error otherwise."""
    q = dict(query)
    access, expires, given = q.get("AWSAccessKeyId"), q.get("Expires", ""), q.get("Signature")
    if not access or given is None or not expires.isdigit() or len(expires) > MAX_EXPIRES_DIGITS:
        raise S3Error(
            "AccessDenied",
            "Query-string authentication requires AWSAccessKeyId, Expires and Signature",
        )
    if now > int(expires):
        raise S3Error("AccessDenied", "Request has expired")
    secret = secret_of(access)
    if secret is None:
        raise S3Error(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    sts = string_to_sign(method, raw_path, query, headers, expires)
    want = base64.b64encode(hmac.new(secret.encode(), sts.encode("utf-8"), hashlib.sha1).digest())
    if not hmac.compare_digest(want, given.encode("utf-8", "replace")):
        raise S3Error("SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you provided.")  # fmt: skip
    return str(access)
