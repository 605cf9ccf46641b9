"""``Content-Digest`` / ``Repr-Digest`` (RFC 9530): the sha-256 member of the field.

The field is a Structured Fields dictionary (RFC 8941) whose members are byte
sequences: ``sha-256=:BASE64:, sha-512=:BASE64:``. Only sha-256 is checked here;
a field naming only algorithms we do not compute is ignored (RFC 9530 §5 lets a
recipient do so). A malformed sha-256 member is the client's error.
"""

from __future__ import annotations

import base64
import binascii

# Longest field we parse: a few algorithms' digests fit in far less.
MAX_FIELD = 1024
SHA256_BYTES = 32


class BadDigest(ValueError):
    """The digest field is malformed."""


def parse_sha256(field: str | None) -> bytes | None:
    """The 32 raw bytes of the sha-256 member of ``field``; None when absent."""
    if field is None:
        return None
    if len(field) > MAX_FIELD:
        raise BadDigest(f"digest field longer than {MAX_FIELD} bytes")
    for member in field.split(","):
        key, eq, value = member.strip().partition("=")
        if key.strip().lower() != "sha-256":
            continue
        value = value.strip()
        if not eq or len(value) < 2 or value[0] != ":" or value[-1] != ":":
            raise BadDigest("sha-256 digest must be a byte sequence :BASE64:")
        try:
            raw = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError):
            raise BadDigest("sha-256 digest is not valid base64") from None
        if len(raw) != SHA256_BYTES:
            raise BadDigest(f"sha-256 digest has {len(raw)} bytes, not {SHA256_BYTES}")
        return raw
    return None


def format_sha256(raw: bytes) -> str:
    """The field value for a sha-256 digest: ``sha-256=:BASE64:``."""
    return f"sha-256=:{base64.b64encode(raw).decode()}:"
