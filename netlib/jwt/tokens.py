"""JWS compact tokens (RFC 7515) carrying JWT claims (RFC 7519), checked as RFC 8725 asks.

``encode(claims, key, alg)`` -> ``header.payload.signature``;
``Verifier(keys, algorithms, ...).decode(token)`` -> the claims, or an
``InvalidToken`` subclass saying which rule failed. The order of checks matters
and is the order below: size and shape first (cheap, before any JSON), then
the header's algorithm against the allow-list, then the key, then the
signature, and only then the claims -- nothing in an unverified payload is
trusted or even looked at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .b64 import b64decode, b64encode
from .errors import (
    AlgorithmNotAllowed,
    ExpiredToken,
    InvalidClaim,
    MalformedToken,
    NotYetValid,
    UnknownKey,
)
from .keys import Key

MAX_TOKEN_BYTES = 8 * 1024  # a token rides in a header; nginx refuses 8 KiB+ header lines anyway
MAX_JSON_DEPTH = 16  # claims are flat; a deeply nested payload is an attack on the parser
ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512")  # fmt: skip
NUMERIC = ("exp", "nbf", "iat")
STRINGS = ("iss", "sub", "jti")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def encode(claims: dict[str, Any], key: Key, alg: str, headers: dict[str, Any] | None = None) -> str:
    """Sign ``claims`` with ``key`` as ``alg``; the key's ``kid`` goes into the header."""
    if alg not in ALGORITHMS:
        raise AlgorithmNotAllowed(f"cannot sign with {alg!r}")
    header = {"alg": alg, "typ": "JWT", **({"kid": key.kid} if key.kid else {}), **(headers or {})}
    signing_input = f"{b64encode(_json(header))}.{b64encode(_json(claims))}"
    return f"{signing_input}.{b64encode(key.sign(alg, signing_input.encode()))}"


def _object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64decode(segment))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise MalformedToken(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken(f"the {what} is not a JSON object")
    if _depth(value) > MAX_JSON_DEPTH:
        raise MalformedToken(f"the {what} is nested too deeply")
    return value


def _depth(v: Any, d: int = 0) -> int:
    if d > MAX_JSON_DEPTH:
        return d
    if isinstance(v, dict):
        return max((_depth(x, d + 1) for x in v.values()), default=d + 1)
    if isinstance(v, list):
        return max((_depth(x, d + 1) for x in v), default=d + 1)
    return d


def split(token: str | bytes) -> tuple[dict[str, Any], str, str, str]:
    """(header, payload segment, signature segment, signing input), shape-checked only."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedToken("a token is ASCII") from None
    if len(token) > MAX_TOKEN_BYTES:
        raise MalformedToken(f"token longer than {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken(f"a JWS has 3 segments, this has {len(parts)}")
    header = _object(parts[0], "header")
    return header, parts[1], parts[2], f"{parts[0]}.{parts[1]}"


@dataclass
class Verifier:
    """What a server accepts: which algorithms, which keys, whose tokens, for whom.

    ``algorithms`` is the allow-list (never taken from the token); ``keys`` the
    keys the server trusts. ``issuer``/``audience`` when set must match; claims
    in ``require`` must be present. ``leeway`` absorbs clock skew between the
    signer and us. ``revoked(jti)`` (optional) refuses logged-out tokens.
    """

    keys: list[Key]
    algorithms: Iterable[str]
    issuer: str | None = None
    audience: str | None = None
    require: tuple[str, ...] = ("exp",)
    leeway: float = 30.0
    clock: Callable[[], float] = time.time
    revoked: Callable[[str], bool] | None = None
    allowed: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.allowed = frozenset(self.algorithms)
        unknown = self.allowed - set(ALGORITHMS)
        if unknown or not self.allowed:  # 'none' included: it is never an algorithm here
            raise ValueError(f"algorithms must be a non-empty subset of {ALGORITHMS}, not {unknown}")

    def key_for(self, header: dict[str, Any]) -> Key:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.allowed:
            raise AlgorithmNotAllowed(f"algorithm {alg!r} is not accepted")
        if "crit" in header:  # RFC 7515 §4.1.11: extensions we do not understand must fail
            raise MalformedToken("critical header extensions are not supported")
        kid = header.get("kid")
        if kid is not None:
            matches = [k for k in self.keys if k.kid == kid]
            if not matches:
                raise UnknownKey(f"no key with kid {kid!r}")
        else:
            matches = self.keys
        fitting = [k for k in matches if k.allows(alg)]
        if len(fitting) != 1:
            raise UnknownKey(f"{'no' if not fitting else 'more than one'} key fits {alg}"
                             + ("" if kid else " (the token names no kid)"))  # fmt: skip
        return fitting[0]

    def decode(self, token: str | bytes) -> dict[str, Any]:
        header, payload, signature, signing_input = split(token)
        key = self.key_for(header)
        key.verify(header["alg"], signing_input.encode(), b64decode(signature))
        claims = _object(payload, "payload")
        self.check_claims(claims)
        return claims

    def check_claims(self, claims: dict[str, Any]) -> None:
        for name in self.require:
            if name not in claims:
                raise InvalidClaim(f"the {name!r} claim is required")
        for name in NUMERIC:
            if name in claims and (isinstance(claims[name], bool)
                                   or not isinstance(claims[name], (int, float))):  # fmt: skip
                raise InvalidClaim(f"{name!r} must be a number (seconds since the epoch)")
        for name in STRINGS:
            if name in claims and not isinstance(claims[name], str):
                raise InvalidClaim(f"{name!r} must be a string")
        now = self.clock()
        if "exp" in claims and now >= claims["exp"] + self.leeway:
            raise ExpiredToken("the token has expired")
        if "nbf" in claims and now < claims["nbf"] - self.leeway:
            raise NotYetValid("the token is not valid yet")
        if "iat" in claims and now < claims["iat"] - self.leeway:
            raise NotYetValid("the token was issued in the future")
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise InvalidClaim("the token is from another issuer")
        if self.audience is not None:
            aud = claims.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            if self.audience not in auds:
                raise InvalidClaim("the token is for another audience")
        if self.revoked is not None and self.revoked(str(claims.get("jti", ""))):
            raise InvalidClaim("the token has been revoked")
