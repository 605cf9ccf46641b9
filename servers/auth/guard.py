"""``Guard``: Bearer-token authentication for a resource server (RFC 6750).

A resource server builds one ``Guard`` from the issuer's URL. It fetches the
issuer's public keys from ``/.well-known/jwks.json`` (again when a token names a
``kid`` it does not know -- a key rotation -- at most once per
``JWKS_REFETCH_S``), and polls ``/revoked`` every few seconds, so a logged-out
token stops working within one poll interval without a call per request.

``@guard.protect`` wraps a handler ``(req, claims)``: a request without a valid
token gets 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` and a
problem-details body; the handler only ever sees verified claims (and an
``HTTPError`` it raises is answered as problem details too).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from netlib import jwt
from netlib.http import HTTPClient, HTTPError, Request
from netlib.http.problem import Problem

from .issuer import AUDIENCE, ISSUER

log = logging.getLogger(__name__)

JWKS_REFETCH_S = 10.0  # a forged kid must not turn every request into a fetch from the issuer
REVOKED_POLL_S = 2.0  # how stale the revocation list may be: the window a logged-out token has
MAX_AUTH_HEADER = jwt.MAX_TOKEN_BYTES + 16


class Guard:
    def __init__(self, issuer_url: str, audience: str = AUDIENCE, poll: float = REVOKED_POLL_S):
        self.url = issuer_url.rstrip("/")
        self.audience = audience
        self.poll = poll
        self.keys: list[jwt.Key] = []
        self.revoked: frozenset[str] = frozenset()
        self.last_fetch = 0.0
        self.polls = 0  # completed revocation polls (tests wait on this, never on time)
        self.client = HTTPClient(timeout=5)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Guard:
        await self.fetch_keys()
        await self.fetch_revoked()
        self._task = asyncio.create_task(self._poll_forever())
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def fetch_keys(self) -> None:
        r = await self.client.get(f"{self.url}/.well-known/jwks.json")
        self.keys = [jwt.from_jwk(k) for k in r.json()["keys"]]
        self.last_fetch = time.monotonic()

    async def fetch_revoked(self) -> None:
        r = await self.client.get(f"{self.url}/revoked")
        self.revoked = frozenset(r.json()["revoked"])
        self.polls += 1

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.fetch_revoked()
            except Exception as e:  # noqa: BLE001 - keep the last list, try again next time
                log.warning("revocation poll failed: %s", e)

    def verifier(self) -> jwt.Verifier:
        algs = sorted({a for k in self.keys for a in k.algorithms})
        return jwt.Verifier(self.keys, algs, issuer=ISSUER, audience=self.audience,
                            require=("exp", "jti", "sub"), revoked=self.revoked.__contains__)  # fmt: skip

    async def authenticate(self, req: Request) -> dict[str, Any]:
        """The verified claims of the request's Bearer token, or ``jwt.InvalidToken``."""
        header = req.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token or len(header) > MAX_AUTH_HEADER:
            raise jwt.InvalidToken("send Authorization: Bearer <access token>")
        try:
            return self.verifier().decode(token.strip())
        except jwt.UnknownKey:
            if time.monotonic() - self.last_fetch < JWKS_REFETCH_S:
                raise
            await self.fetch_keys()  # the issuer may have rotated its key
            return self.verifier().decode(token.strip())

    def protect(self, handler: Callable[[Request, dict[str, Any]], Awaitable[Any]]) -> Callable[[Request], Awaitable[Any]]:
        @functools.wraps(handler)
        async def wrapper(req: Request) -> Any:
            try:
                claims = await self.authenticate(req)
            except jwt.InvalidToken as e:
                challenge = f'Bearer realm="syslab", error="invalid_token", error_description="{e}"'
                return Problem(401, str(e), [(b"www-authenticate", challenge.encode("latin-1", "replace"))])
            try:
                return await handler(req, claims)
            except HTTPError as e:
                return Problem(e.status, e.detail)

        return wrapper
