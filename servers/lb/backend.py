"""A demo backend for the balancer: ``python -m servers.lb.backend --name b1 --port 0``.

Every answer names the backend (``X-Backend`` header and the body), so a client
can see where the balancer sent it. Routes:

* ``GET /`` and ``GET /whoami``: ``hello from NAME``;
* ``GET /health``: ``ok`` (the active check's target);
* ``GET /headers``: the request headers as JSON (what the proxy forwarded);
* ``GET /slow?ms=N``: answers after N milliseconds (a request held in flight);
* ``GET /stream?chunks=N&size=B``: a chunked body of N pieces of B bytes;
* ``POST /echo``, ``PUT /echo``: the body back; ``PUT /upload``: streamed, answers the byte count;
* ``GET /count``: how many requests this backend served, by method.

``--hang`` makes a backend that accepts connections and reads requests but never
answers (the timeout tests' subject).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
from typing import Any

from netlib.http import App, JSONResponse, Request, Response, StreamingResponse, serve
from netlib.shell import Connection, ShellConfig, run, serve_until_signalled, start
from servers.cli import parse, server_parser

MAX_SLOW_MS = 60_000
MAX_STREAM_BYTES = 64 * 1024 * 1024


def make_app(name: str) -> App:
    app = App(access_log=False)
    count: collections.Counter[str] = collections.Counter()
    me = {"x-backend": name}

    def hello(req: Request) -> Response:
        count[req.method] += 1
        return Response(f"hello from {name}\n", headers=me)

    app.get("/")(hello)
    app.get("/whoami")(hello)

    @app.get("/health")
    def health(req: Request) -> Response:
        return Response("ok\n", headers=me)

    @app.get("/headers")
    def headers(req: Request) -> JSONResponse:
        count[req.method] += 1
        return JSONResponse({k: req.headers.getall(k) for k in req.headers}, headers=me)

    @app.get("/slow")
    async def slow(req: Request) -> Response:
        count[req.method] += 1
        ms = min(int(req.arg("ms", "100") or 100), MAX_SLOW_MS)
        await asyncio.sleep(ms / 1000)
        return Response(f"slow {ms}ms from {name}\n", headers=me)

    @app.get("/stream")
    def stream(req: Request) -> StreamingResponse:
        count[req.method] += 1
        chunks, size = int(req.arg("chunks", "4") or 4), int(req.arg("size", "1024") or 1024)
        if chunks * size > MAX_STREAM_BYTES:
            return Response("too big\n", 400)  # type: ignore[return-value]

        async def body() -> Any:
            for i in range(chunks):
                yield bytes([97 + i % 26]) * size

        return StreamingResponse(body(), headers=me)

    @app.route("/echo", ["POST", "PUT"])
    def echo(req: Request) -> Response:
        count[req.method] += 1
        return Response(req.body, headers=me, content_type="application/octet-stream")

    @app.put("/upload", stream=True, max_body=1 << 30)
    async def upload(req: Request) -> JSONResponse:
        count[req.method] += 1
        n = 0
        async for chunk in req.stream():
            n += len(chunk)
        return JSONResponse({"bytes": n, "backend": name}, headers=me)

    @app.get("/count")
    def counts(req: Request) -> JSONResponse:
        return JSONResponse(dict(count), headers=me)

    return app


async def hang(conn: Connection) -> None:
    """Read whatever comes, never answer."""
    while await conn.recv():
        pass


def main() -> None:
    p: argparse.ArgumentParser = server_parser("lb-backend", "a demo backend for servers.lb")
    p.add_argument("--name", default="backend", help="what the answers say this backend is")
    p.add_argument("--hang", action="store_true", help="accept and read, never answer")
    args = parse(p)

    async def go() -> None:
        cfg = ShellConfig(host=args.host, port=args.port)
        server = await (start(hang, cfg) if args.hang else serve(make_app(args.name), cfg))
        await serve_until_signalled(server)

    run(go)  # an address that cannot be bound is one line and exit 1


if __name__ == "__main__":
    main()
