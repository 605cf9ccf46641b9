"""AWS Signature Version 4 for S3, sans-IO: request parts in, a verdict out.

Strategy: the server never trusts how the client spelled the request. It
rebuilds the canonical request from what arrived (method, the raw path and
query of the target, the headers the client says it signed, the payload hash)
exactly as the signer must have (AWS "Create a canonical request"), derives the
signing key from the secret it holds, and compares signatures in constant time.

S3's own rules, which differ from the other AWS services:
* the canonical URI is the path percent-decoded once and re-encoded once
  (RFC 3986 unreserved characters kept, ``/`` kept): S3 does not double-encode
  and does not normalise ``.``/``..`` segments (they are part of the key);
* the payload hash is the ``x-amz-content-sha256`` header (required in the
  header form): a hex SHA-256, ``UNSIGNED-PAYLOAD`` or a ``STREAMING-...``
  marker; pre-signed URLs always sign ``UNSIGNED-PAYLOAD``;
* pre-signed URLs carry ``X-Amz-Expires`` seconds, at most 7 days (604800).

Checking the body against a signed SHA-256 is the caller's job (it streams
the body); this module only says which hash was signed.
SigV2 pre-signed URLs (``AWSAccessKeyId``/``Signature``/``Expires``, boto3's default
in us-east-1) are checked by ``sigv2``; the SigV2 header form (``Authorization:
AWS ...``) is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote_to_bytes

from . import sigv2
from .errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_PREFIX = "STREAMING-"
MAX_EXPIRES = 7 * 24 * 3600  # S3's limit on X-Amz-Expires (AWS docs: 604800 s)
MAX_SKEW = 15 * 60  # S3 refuses requests dated more than 15 minutes off (RequestTimeTooSkewed)
MAX_SIGNED_HEADERS = 64  # far more than any SDK signs; bounds the work per request
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPACES = re.compile(r" +")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"

SecretLookup = Callable[[str], "str | None"]


@dataclass(frozen=True)
class RequestParts:
    """What the verifier needs from a request: all as received on the wire."""

    method: str
    raw_path: bytes  # the target's path, still percent-encoded
    raw_query: bytes  # after "?", still percent-encoded
    headers: list[tuple[bytes, bytes]]  # lower-case names, as received


@dataclass(frozen=True)
class Verified:
    access_key: str
    payload_hash: str  # hex SHA-256 the body must have, UNSIGNED-PAYLOAD or STREAMING-...
    presigned: bool


def uri_encode(value: str | bytes, safe: str = "") -> str:
    """AWS's UriEncode: every byte but A-Z a-z 0-9 - . _ ~ (and ``safe``) as %XX, upper case."""
    return quote(value, safe="~" + safe)


def canonical_uri(raw_path: bytes) -> str:
    return uri_encode(unquote_to_bytes(raw_path), safe="/") or "/"


def parse_query(raw_query: bytes) -> list[tuple[str, str]]:
    """``a=1&b`` -> decoded (name, value) pairs; ``+`` is a literal plus, as S3 reads it."""
    out = []
    for part in raw_query.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        out.append((_text(unquote_to_bytes(name)), _text(unquote_to_bytes(value))))
    return out


def _text(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidArgument", "query is not UTF-8") from None


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    enc = sorted((uri_encode(n.encode()), uri_encode(v.encode())) for n, v in pairs)
    return "&".join(f"{n}={v}" for n, v in enc)


def canonical_headers(headers: list[tuple[bytes, bytes]], signed: list[str]) -> str:
    values: dict[str, list[str]] = {name: [] for name in signed}
    for n, v in headers:
        name = n.decode("latin-1").lower()
        if name in values:
            values[name].append(_SPACES.sub(" ", v.decode("latin-1").strip()))
    for name, vals in values.items():
        if not vals:
            raise S3Error("AccessDenied", f"signed header {name!r} is not in the request")
    return "".join(f"{name}:{','.join(values[name])}\n" for name in signed)


def canonical_request(
    parts: RequestParts, query: list[tuple[str, str]], signed: list[str], payload_hash: str
) -> str:
    return "\n".join((
        parts.method,
        canonical_uri(parts.raw_path),
        canonical_query(query),
        canonical_headers(parts.headers, signed),
        ";".join(signed),
        payload_hash,
    ))  # fmt: skip


def string_to_sign(amz_date: str, scope: str, creq: str) -> str:
    return "\n".join((ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()))


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    return _hmac(_hmac(_hmac(k, region), service), "aws4_request")


def signature(secret: str, scope: str, amz_date: str, creq: str) -> str:
    date, region, service, _ = scope.split("/")
    key = signing_key(secret, date, region, service)
    return hmac.new(key, string_to_sign(amz_date, scope, creq).encode(), hashlib.sha256).hexdigest()


# -- the two forms ----------------------------------------------------------------


def verify(parts: RequestParts, secrets: SecretLookup, now: float) -> Verified:
    """Check the request's SigV4 signature (header or query form); S3Error when it fails."""
    query = parse_query(parts.raw_query)
    names = {n for n, _ in query}
    auth = _header(parts.headers, b"authorization")
    if "X-Amz-Signature" in names or "X-Amz-Algorithm" in names:
        return _verify_presigned(parts, query, secrets, now)
    if auth is not None:
        return _verify_header(parts, query, auth, secrets, now)
    if "AWSAccessKeyId" in names:
        access = sigv2.verify_query(
            parts.method, parts.raw_path, query, parts.headers, secrets, now
        )
        return Verified(access, UNSIGNED, presigned=True)
    raise S3Error("AccessDenied", "Anonymous requests are not allowed: sign the request with SigV4")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for n, v in headers:
        if n == name:
            return v.decode("latin-1")
    return None


def _parse_auth(auth: str) -> dict[str, str]:
    algo, _, rest = auth.strip().partition(" ")
    if algo == "AWS":
        raise S3Error(
            "AccessDenied", "Signature Version 2 is not supported here: sign with SigV4 (s3v4)"
        )
    if algo != ALGORITHM:
        raise S3Error("AuthorizationHeaderMalformed", f"unsupported algorithm {algo!r}")
    fields = {}
    for item in rest.split(","):
        k, eq, v = item.strip().partition("=")
        if eq:
            fields[k] = v
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        raise S3Error(
            "AuthorizationHeaderMalformed", "needs Credential, SignedHeaders and Signature"
        )
    return fields


def _verify_header(
    parts: RequestParts, query: list[tuple[str, str]], auth: str, secrets: SecretLookup, now: float
) -> Verified:
    f = _parse_auth(auth)
    amz_date = _header(parts.headers, b"x-amz-date")
    if amz_date is None:
        raise S3Error("AccessDenied", "SigV4 needs an x-amz-date header")
    when = _parse_date(amz_date)
    if abs(now - when) > MAX_SKEW:
        raise S3Error("RequestTimeTooSkewed",
                      "The difference between the request time and the server's time is too large.")  # fmt: skip
    payload = _header(parts.headers, b"x-amz-content-sha256")
    if payload is None:
        raise S3Error("InvalidRequest", "x-amz-content-sha256 is required with SigV4")
    if not (
        payload == UNSIGNED or payload.startswith(STREAMING_PREFIX) or _HEX64.fullmatch(payload)
    ):
        raise S3Error(
            "InvalidArgument", "x-amz-content-sha256 must be a hex SHA-256 or UNSIGNED-PAYLOAD"
        )
    signed = _signed_headers(
        f["SignedHeaders"], must=("host", "x-amz-date", "x-amz-content-sha256")
    )
    access, scope = _scope(f["Credential"], amz_date)
    creq = canonical_request(parts, query, signed, payload)
    _compare(secrets, access, scope, amz_date, creq, f["Signature"])
    return Verified(access, payload, presigned=False)


def _verify_presigned(
    parts: RequestParts, query: list[tuple[str, str]], secrets: SecretLookup, now: float
) -> Verified:
    q: dict[str, str] = {}
    for n, v in query:
        if n.startswith("X-Amz-") and n in q:
            raise S3Error("AuthorizationQueryParametersError", f"{n} given twice")
        q[n] = v
    need = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
            "X-Amz-SignedHeaders", "X-Amz-Signature")  # fmt: skip
    missing = [n for n in need if n not in q]
    if missing:
        raise S3Error("AuthorizationQueryParametersError", f"missing {', '.join(missing)}")
    if q["X-Amz-Algorithm"] != ALGORITHM:
        raise S3Error(
            "AuthorizationQueryParametersError", "X-Amz-Algorithm must be AWS4-HMAC-SHA256"
        )
    amz_date = q["X-Amz-Date"]
    when = _parse_date(amz_date)
    expires = q["X-Amz-Expires"]
    if not expires.isdigit() or len(expires) > 7 or not 1 <= int(expires) <= MAX_EXPIRES:
        raise S3Error("AuthorizationQueryParametersError",
                      "X-Amz-Expires must be a number of seconds from 1 to 604800")  # fmt: skip
    if when - now > MAX_SKEW:
        raise S3Error("RequestTimeTooSkewed", "X-Amz-Date is too far in the future")
    if now > when + int(expires):
        raise S3Error("AccessDenied", "Request has expired")
    signed = _signed_headers(q["X-Amz-SignedHeaders"], must=("host",))
    access, scope = _scope(q["X-Amz-Credential"], amz_date)
    unsigned_query = [(n, v) for n, v in query if n != "X-Amz-Signature"]
    payload = q.get("X-Amz-Content-Sha256", UNSIGNED)
    creq = canonical_request(parts, unsigned_query, signed, payload)
    _compare(secrets, access, scope, amz_date, creq, q["X-Amz-Signature"])
    return Verified(access, payload, presigned=True)


def _parse_date(value: str) -> float:
    try:
        return datetime.strptime(value, _AMZ_DATE).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise S3Error(
            "AccessDenied", f"X-Amz-Date {value[:40]!r} is not YYYYMMDDTHHMMSSZ"
        ) from None


def _signed_headers(value: str, must: tuple[str, ...]) -> list[str]:
    names = value.split(";")
    if len(names) > MAX_SIGNED_HEADERS or names != sorted(set(names)) or "" in names:
        raise S3Error(
            "AuthorizationHeaderMalformed", "SignedHeaders must be sorted, unique, lower case"
        )
    if any(n != n.lower() for n in names):
        raise S3Error("AuthorizationHeaderMalformed", "SignedHeaders must be lower case")
    for m in must:
        if m not in names:
            raise S3Error("AccessDenied", f"{m!r} must be a signed header")
    return names


def _scope(credential: str, amz_date: str) -> tuple[str, str]:
    """``AKID/20130524/us-east-1/s3/aws4_request`` -> (access key, scope); the date must match."""
    access, sep, scope = credential.partition("/")
    bits = scope.split("/")
    if not sep or len(bits) != 4 or bits[3] != "aws4_request" or bits[2] != "s3":
        raise S3Error(
            "AuthorizationHeaderMalformed", "Credential must be KEY/DATE/REGION/s3/aws4_request"
        )
    if bits[0] != amz_date[:8]:
        raise S3Error(
            "AuthorizationHeaderMalformed", "the Credential date is not the request's date"
        )
    return access, scope


def _compare(
    secrets: SecretLookup, access: str, scope: str, amz_date: str, creq: str, given: str
) -> None:
    secret = secrets(access)
    if secret is None:
        raise S3Error(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    want = signature(secret, scope, amz_date, creq)
    if not hmac.compare_digest(want.encode(), given.encode("utf-8", "replace")):
        raise S3Error("SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you provided.")  # fmt: skip


def sign_policy(secret: str, scope: str, policy_b64: str) -> str:
    """The signature of a browser POST policy: the base64 policy is the string to sign."""
    date, region, service, _ = scope.split("/")
    key = signing_key(secret, date, region, service)
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


def lookup(table: Mapping[str, str]) -> SecretLookup:
    return table.get
