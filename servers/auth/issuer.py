"""Users, keys, and the lifecycle of access and refresh tokens (see the package doc)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netlib import jwt

ISSUER = "syslab-auth"
AUDIENCE = "syslab-api"
ACCESS_TTL = 300.0  # seconds: short, because revoking a JWT needs every verifier's help
REFRESH_TTL = 86_400.0  # seconds: a day of staying logged in without the password
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # OWASP's minimum scrypt cost; ~50 ms here
MAX_PASSWORD = 1024  # bytes: scrypt takes any length; this bounds the work one request can ask


class AuthError(Exception):
    """Login or refresh refused; ``reason`` is safe to send (never which half was wrong)."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **SCRYPT)
    return hmac.compare_digest(candidate, bytes.fromhex(digest))  # constant time


@dataclass
class Family:
    """Every refresh token descended from one login."""

    user: str
    current: str  # the SHA-256 of the one refresh token that may be used next
    expires: float
    access_jtis: list[tuple[str, float]] = field(default_factory=list)  # (jti, exp)
    revoked: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Issuer:
    def __init__(self, users: dict[str, str], key: jwt.Key, alg: str = "ES256",
                 access_ttl: float = ACCESS_TTL, clock: Callable[[], float] = time.time):  # fmt: skip
        self.users = users  # name -> scrypt hash
        self.key, self.alg = key, alg
        self.access_ttl = access_ttl
        self.clock = clock
        self.families: dict[str, Family] = {}
        self.by_refresh: dict[str, str] = {}  # digest of every refresh token ever issued -> family
        self.revoked_jtis: dict[str, float] = {}  # jti -> its exp (forgotten after that)
        self._dummy = hash_password("no such user")  # equal work for unknown users
        self._lock = threading.Lock()

    # -- login, refresh, logout ----------------------------------------------------------

    def login(self, user: str, password: str) -> dict[str, Any]:
        if len(password.encode()) > MAX_PASSWORD:
            raise AuthError("invalid username or password")
        stored = self.users.get(user, self._dummy)
        if not check_password(password, stored) or user not in self.users:
            raise AuthError("invalid username or password")
        family_id = secrets.token_urlsafe(12)
        with self._lock:
            self.families[family_id] = Family(user, "", self.clock() + REFRESH_TTL)
            return self._issue(family_id)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        digest = _digest(refresh_token)
        with self._lock:
            family_id = self.by_refresh.get(digest)
            family = self.families.get(family_id) if family_id else None
            if family_id is None or family is None or family.revoked or family.expires <= self.clock():
                raise AuthError("invalid refresh token")
            if family.current != digest:  # an already used token: someone kept a copy
                self._revoke_family(family)
                raise AuthError("refresh token reused: every token of this login is revoked")
            return self._issue(family_id)

    def logout(self, claims: dict[str, Any]) -> None:
        """Revoke the access token presented and the login (family) it came from."""
        with self._lock:
            self.revoked_jtis[claims["jti"]] = claims["exp"]
            family = self.families.get(claims.get("fam", ""))
            if family is not None and family.user == claims.get("sub"):
                self._revoke_family(family)

    def _issue(self, family_id: str) -> dict[str, Any]:
        family = self.families[family_id]
        now = self.clock()
        jti = secrets.token_urlsafe(12)
        exp = int(now + self.access_ttl)
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": family.user, "iat": int(now),
                  "exp": exp, "jti": jti, "fam": family_id}  # fmt: skip
        refresh = secrets.token_urlsafe(32)
        family.current = _digest(refresh)
        family.access_jtis.append((jti, exp))
        self.by_refresh[family.current] = family_id
        return {"access_token": jwt.encode(claims, self.key, self.alg), "token_type": "Bearer",
                "expires_in": int(self.access_ttl), "refresh_token": refresh}  # fmt: skip

    def _revoke_family(self, family: Family) -> None:
        family.revoked = True
        for jti, exp in family.access_jtis:
            self.revoked_jtis[jti] = exp

    # -- what verifiers need -------------------------------------------------------------

    def verifier(self) -> jwt.Verifier:
        pub = self.key.public() if hasattr(self.key, "public") else self.key
        return jwt.Verifier([pub], [self.alg], issuer=ISSUER, audience=AUDIENCE,
                            require=("exp", "iat", "jti", "sub"), clock=self.clock,
                            revoked=self.is_revoked)  # fmt: skip

    def is_revoked(self, jti: str) -> bool:
        with self._lock:
            return jti in self.revoked_jtis

    def revoked_list(self) -> list[str]:
        """Revoked jtis whose tokens have not expired yet (older ones verify as expired anyway)."""
        now = self.clock()
        with self._lock:
            for jti in [j for j, exp in self.revoked_jtis.items() if exp + jwt.Verifier.leeway < now]:
                del self.revoked_jtis[jti]
            return sorted(self.revoked_jtis)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self.key.public_jwk(), "alg": self.alg}]}
