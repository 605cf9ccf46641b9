"""``python -m servers.notes --auth-url URL``: a resource server protected by servers.auth."""

from __future__ import annotations

import sys
from typing import Any

from netlib.http import App, HTTPError, JSONResponse, Request
from netlib.http import serve as serve_http
from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.auth.guard import REVOKED_POLL_S, Guard
from servers.cli import parse, server_parser

MAX_TEXT = 2000
MAX_NOTES = 1000  # per user: memory is bounded whatever a client sends


def build_app(guard: Guard) -> App:
    app = App()
    notes: dict[str, list[dict[str, Any]]] = {}

    @app.get("/notes")
    @guard.protect
    async def list_notes(req: Request, claims: dict[str, Any]) -> dict[str, Any]:
        return {"user": claims["sub"], "notes": notes.get(claims["sub"], [])}

    @app.post("/notes")
    @guard.protect
    async def add_note(req: Request, claims: dict[str, Any]) -> JSONResponse:
        try:
            data = req.json()
        except HTTPError:
            data = None
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
            raise HTTPError(422, f'send {{"text": "..."}} of 1 to {MAX_TEXT} characters')
        mine = notes.setdefault(claims["sub"], [])
        if len(mine) >= MAX_NOTES:
            raise HTTPError(409, f"at most {MAX_NOTES} notes per user")
        note = {"id": len(mine) + 1, "text": text}
        mine.append(note)
        return JSONResponse(note, 201)

    return app


def main() -> int:
    p = server_parser("notes", "a notes API protected by JWTs from servers.auth (N11)", keeps_data=False)
    p.add_argument("--auth-url", default="http://127.0.0.1:8089", help="the issuer (servers.auth)")
    p.add_argument("--revocation-poll", type=float, default=REVOKED_POLL_S,
                   help=f"seconds between revocation-list polls ({REVOKED_POLL_S})")  # fmt: skip
    args = parse(p)
    if args.revocation_poll <= 0:
        p.error("--revocation-poll must be positive")

    async def go() -> None:
        guard = Guard(args.auth_url, poll=args.revocation_poll)
        try:
            await guard.start()
        except OSError as e:
            raise SystemExit(f"notes: cannot reach the issuer at {args.auth_url}: {e}") from None
        server = await serve_http(build_app(guard), ShellConfig(host=args.host, port=args.port))
        await serve_until_signalled(server, guard.close)

    run(go)
    return 0


if __name__ == "__main__":
    sys.exit(main())
