"""netlib.http: a small HTTP/1.1 server and client, on the codec in ``core``.

Layout: ``messages`` (Request, Response, JSONResponse, StreamingResponse with
its keep-alive policies Heartbeat and TCPKeepAlive, FileResponse, Upgrade,
HTTPError), ``router`` (Router and App: method + path pattern -> handler, body
limits per route), ``server`` (the per-connection session on the I/O shell, the
access log), ``_fastpath`` and ``_fast`` (its fast path for whole plain GET/HEAD
requests: one regex per head, cached response heads), ``_streams`` (how a body leaves: paced producers, files by
sendfile), ``_upgrade`` (101 and the hand-over to another protocol), ``static`` (files from an open-file cache, sent by ``os.sendfile``, with
ETag/Last-Modified, Range and multipart ranges, precompressed ``.gz`` siblings,
no escape from the directory), ``conditional`` (sans-IO: the If-* and Range
decisions), ``client`` (keep-alive pooled client on the same core).
The wire protocol itself is ``netlib.http.core``. Access log: logger
``netlib.http.access`` at INFO, one line per response with the peer first;
``App(access_log=False)`` skips it (benchmarks).

Usage::

    from netlib.http import App, HTTPError, JSONResponse, StreamingResponse, serve
    from netlib.shell import ShellConfig

    app = App()

    @app.get("/hello")
    def hello(req):                      # sync: runs inline, the fast path
        return "Hello, world!\\n"       # str -> text/plain; dict/list -> JSON

    @app.post("/users/{id:int}")
    async def update(req):               # async: gets a task
        data = req.json()                # body buffered (<= app.max_body) -> 400 if bad JSON
        if "name" not in data:
            raise HTTPError(422, "name is required")
        return JSONResponse({"id": req.params["id"], **data}, status=201)

    @app.put("/upload", stream=True, max_body=2**30)  # streamed, never held whole; 1 GiB allowed
    async def upload(req):
        n = 0
        async for chunk in req.stream():
            n += len(chunk)
        return {"bytes": n}

    @app.get("/feed")
    def feed(req):                       # streamed: chunked, drained, closed if the client leaves
        async def events():
            for i in range(3):
                yield f"data: {i}\\n\\n"
        return StreamingResponse(events(), content_type="text/event-stream",
                                 keepalive=Heartbeat(15, lambda: b": ping\\n\\n"),
                                 on_shutdown=lambda: b"event: bye\\ndata: restarting\\n\\n")

    @app.get("/poll")
    async def poll(req):                 # a long poll: answers at once when the server stops
        await req.wait_shutdown()
        return "going away\\n"

    @app.get("/echo")
    def upgrade(req):                    # 101, then the socket is echo's (bytes sent early too)
        return Upgrade("echo", echo_handler)   # async def echo_handler(conn): ...

    app.static("/static", "public/")     # GET /static/<file>: ETag/304, Range/206/416

    server = await serve(app, ShellConfig(port=8080))   # returns once listening

    from netlib.http import HTTPClient
    async with HTTPClient() as client:                  # keep-alive pool per host:port
        r = await client.get(f"http://127.0.0.1:{server.port}/hello")
        r.status, r.headers["content-type"], r.body, r.json()
        r = await client.get(url, stream=True)          # then: async for chunk in r.stream()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# The names below load their modules on first use (PEP 562), so that
# ``import netlib.http.core`` (the sans-IO codec) pulls in no event loop.
_EXPORTS = {
    "ClientResponse": "client", "HTTPClient": "client",
    "FileResponse": "messages", "Headers": "messages", "HTTPError": "messages",
    "JSONResponse": "messages", "Request": "messages", "Response": "messages",
    "StreamingResponse": "messages", "Upgrade": "messages", "Heartbeat": "messages",
    "TCPKeepAlive": "messages",
    "App": "router", "Router": "router",
    "HTTPSession": "server", "serve": "server",
}  # fmt: skip

__all__ = [
    "App", "ClientResponse", "FileResponse", "HTTPClient", "HTTPError", "HTTPSession", "Headers",
    "JSONResponse", "Request", "Response", "Router", "StreamingResponse", "serve",
    "Heartbeat", "TCPKeepAlive", "Upgrade",
]  # fmt: skip


__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from .client import ClientResponse, HTTPClient
    from .messages import (
        FileResponse,
        Headers,
        Heartbeat,
        HTTPError,
        JSONResponse,
        Request,
        Response,
        StreamingResponse,
        TCPKeepAlive,
        Upgrade,
    )
    from .router import App, Router
    from .server import HTTPSession, serve
