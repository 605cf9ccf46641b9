"""The HTTP side of the upload server, on netlib.http.

``PUT``/``POST /files/{name}``: the body (Content-Length or chunked) is streamed
into a temporary file and hashed on the way (``store.Upload``); a
``Content-Digest``/``Repr-Digest`` sha-256 is checked before the rename into
place. ``GET /files/{name}`` is netlib's static file handler (sendfile, ETag,
Range, multipart ranges), ``GET /files/`` the listing, ``DELETE`` removes one.
"""

from __future__ import annotations

import logging
from typing import Any

from netlib.http import App, HTTPError, JSONResponse, Request, Response
from netlib.http.static import StaticFiles

from .digest import BadDigest, format_sha256, parse_sha256
from .store import DigestMismatch, NameError_, StorageFull, Store, check_name

log = logging.getLogger("servers.files")

# Largest upload accepted by default: the exercise's 1 GB with room to spare.
DEFAULT_MAX_SIZE = 8 * 1024**3


def _name(req: Request) -> str:
    try:
        return check_name(req.params["name"])
    except NameError_ as e:
        raise HTTPError(400, f"bad file name: {e}") from None


def _digest(req: Request) -> bytes | None:
    field = req.headers.get("content-digest") or req.headers.get("repr-digest")
    try:
        return parse_sha256(field)
    except BadDigest as e:
        raise HTTPError(400, str(e)) from None


def build_app(store: Store, max_size: int = DEFAULT_MAX_SIZE, access_log: bool = True) -> App:
    app = App(access_log=access_log)
    files = StaticFiles(store.root, index="", gzip=False)

    async def upload(req: Request) -> Response:
        name, digest = _name(req), _digest(req)
        up = store.begin(name)
        try:
            async for chunk in req.stream():
                up.write(chunk)
            stored = up.finish(digest)
        except StorageFull as e:
            up.discard()
            raise HTTPError(507, str(e)) from None
        except DigestMismatch as e:
            raise HTTPError(400, f"Content-Digest mismatch: {e}") from None
        except BaseException:  # the client left, a bad chunk, cancellation: no half file
            up.discard()
            raise
        files.clear()
        log.info("[%s] stored %s: %d bytes, sha256 %s", req.peer, name, stored.size, stored.sha256)
        repr_digest = format_sha256(bytes.fromhex(stored.sha256))
        headers = {"location": f"/files/{name}", "repr-digest": repr_digest}
        return JSONResponse(stored.as_json(), 201, headers)

    def download(req: Request) -> Any:
        req.params["path"] = _name(req)
        return files(req)

    def listing(req: Request) -> Any:
        return store.listing()

    def delete(req: Request) -> Any:
        if not store.delete(_name(req)):
            raise HTTPError(404, "no such file")
        files.clear()
        return None

    app.add(["PUT", "POST"], "/files/{name}", upload, stream=True, max_body=max_size)
    app.add("GET", "/files/{name}", download)
    app.add("DELETE", "/files/{name}", delete)
    app.add("GET", "/files/", listing)
    app.add("GET", "/files", listing)
    return app
