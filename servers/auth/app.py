"""The issuer's HTTP routes (JSON in, JSON out; errors as problem details).

    POST /login                  {"username", "password"} -> {"access_token", "refresh_token", ...}
    POST /refresh                {"refresh_token"} -> a new pair; the old refresh token is spent
    POST /logout                 Authorization: Bearer <access> -> 204; that login is revoked
    GET  /me                     Authorization: Bearer <access> -> the token's claims
    GET  /.well-known/jwks.json  the public signing key(s)
    GET  /revoked                jtis revoked and not yet expired (polled by resource servers)

Password checks (scrypt, ~50 ms) run in a worker thread so a login does not
stall every other connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from netlib import jwt
from netlib.http import App, HTTPError, JSONResponse, Request, Response
from netlib.http import serve as serve_http
from netlib.http.problem import Problem, problems
from netlib.shell import Server, ShellConfig

from .issuer import AuthError, Issuer

MAX_FIELD = 1024  # characters in a username, password or token field


def fields(req: Request, *names: str) -> list[str]:
    try:
        data = req.json()
    except HTTPError:
        data = None
    if not isinstance(data, dict):
        raise HTTPError(400, "send a JSON object")
    out = []
    for name in names:
        v = data.get(name)
        if not isinstance(v, str) or not v or len(v) > MAX_FIELD:
            raise HTTPError(422, f"{name!r} must be a non-empty string of at most {MAX_FIELD} characters")
        out.append(v)
    return out


def bearer_claims(issuer: Issuer, req: Request) -> dict[str, Any]:
    scheme, _, token = (req.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPError(401, "send Authorization: Bearer <access token>")
    try:
        return issuer.verifier().decode(token.strip())
    except jwt.InvalidToken as e:
        raise HTTPError(401, str(e)) from None


def build_app(issuer: Issuer) -> App:
    app = App()

    @app.post("/login")
    @problems
    async def login(req: Request) -> Any:
        user, password = fields(req, "username", "password")
        try:
            return await asyncio.to_thread(issuer.login, user, password)
        except AuthError as e:
            return Problem(401, str(e))

    @app.post("/refresh")
    @problems
    async def refresh(req: Request) -> Any:
        (token,) = fields(req, "refresh_token")
        try:
            return issuer.refresh(token)
        except AuthError as e:
            return Problem(401, str(e))

    @app.post("/logout")
    @problems
    async def logout(req: Request) -> Response:
        issuer.logout(bearer_claims(issuer, req))
        return Response(b"", 204)

    @app.get("/me")
    @problems
    async def me(req: Request) -> dict[str, Any]:
        return bearer_claims(issuer, req)

    @app.get("/.well-known/jwks.json")
    def jwks(req: Request) -> JSONResponse:
        return JSONResponse(issuer.jwks(), headers={"cache-control": "max-age=300"})

    @app.get("/revoked")
    def revoked(req: Request) -> dict[str, Any]:
        return {"revoked": issuer.revoked_list()}

    return app


async def serve(issuer: Issuer, config: ShellConfig) -> Server:
    return await serve_http(build_app(issuer), config)
