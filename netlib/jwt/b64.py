"""base64url without padding (RFC 7515 §2, Appendix C), strict on the way in."""

from __future__ import annotations

import base64
import binascii
import re

from .errors import MalformedToken

_ALPHABET = re.compile(rb"[A-Za-z0-9_-]*")


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Refuses padding, other alphabets and impossible lengths instead of guessing."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    if not _ALPHABET.fullmatch(raw) or len(raw) % 4 == 1:
        raise MalformedToken("not base64url")
    try:
        out = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken("not base64url") from None
    if b64encode(out).encode() != raw:  # non-canonical trailing bits: two strings, one value
        raise MalformedToken("not canonical base64url")
    return out
