"""netlib.http: a small HTTP/1.1 server and client, on the codec in ``core``.

Layout: ``messages`` (Request, Response, JSONResponse, StreamingResponse,
FileResponse, HTTPError), ``router`` (Router and App: method + path pattern ->
handler), ``server`` (the per-connection session on the I/O shell, the access
log), ``static`` (files from an open-file cache, sent by ``os.sendfile``, with
ETag/Last-Modified, Range and multipart ranges, precompressed ``.gz`` siblings,
no escape from the directory), ``conditional`` (sans-IO: the If-* and Range
decisions), ``client`` (keep-alive pooled client on the same core).
The wire protocol itself is ``netlib.http11``. Access log: logger
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

    @app.put("/upload", stream=True)     # body streamed, never held whole
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
        return StreamingResponse(events(), content_type="text/event-stream")

    app.static("/static", "public/")     # GET /static/<file>: ETag/304, Range/206/416

    server = await serve(app, ShellConfig(port=8080))   # returns once listening

    from netlib.http import HTTPClient
    async with HTTPClient() as client:                  # keep-alive pool per host:port
        r = await client.get(f"http://127.0.0.1:{server.port}/hello")
        r.status, r.headers["content-type"], r.body, r.json()
        r = await client.get(url, stream=True)          # then: async for chunk in r.stream()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The names below load their modules on first use (PEP 562), so that
# ``import netlib.http.core`` (the sans-IO codec) pulls in no event loop.
_EXPORTS = {
    "ClientResponse": "client", "HTTPClient": "client",
    "FileResponse": "messages", "Headers": "messages", "HTTPError": "messages",
    "JSONResponse": "messages", "Request": "messages", "Response": "messages",
    "StreamingResponse": "messages",
    "App": "router", "Router": "router",
    "HTTPSession": "server", "serve": "server",
}  # fmt: skip

__all__ = [
    "App", "ClientResponse", "FileResponse", "HTTPClient", "HTTPError", "HTTPSession", "Headers",
    "JSONResponse", "Request", "Response", "Router", "StreamingResponse", "serve",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .client import ClientResponse, HTTPClient
    from .messages import (
        FileResponse,
        Headers,
        HTTPError,
        JSONResponse,
        Request,
        Response,
        StreamingResponse,
    )
    from .router import App, Router
    from .server import HTTPSession, serve
