"""The HTTP side: media files with the headers HLS players need, and the player page.

* ``GET /media/<path>``: playlists and segments from the media directory through
  ``netlib.http.static`` (no escape from the directory, ETag, byte ranges: 206,
  multipart, 416), with
  - MIME types of RFC 8216 §4: ``application/vnd.apple.mpegurl`` for ``.m3u8``,
    ``video/mp2t`` for ``.ts``;
  - caching: a playlist changes (live) so it is ``max-age=1`` (about half a
    target duration, the common CDN setting); a segment never changes once
    written, so it is cached for a year and ``immutable``;
  - CORS: ``Access-Control-Allow-Origin: *`` and a preflight answer for
    ``Range``, so a player on another origin (a CDN-hosted page) can load it.
* ``GET /``: the hls.js player page (``web/hls``), ``GET /vendor/hls.min.js``
  from npm's package.
"""

from __future__ import annotations

from pathlib import Path

from netlib.http import App, Request, Response
from netlib.http.static import StaticFiles

PLAYLIST_CACHE = b"public, max-age=1"
SEGMENT_CACHE = b"public, max-age=31536000, immutable"
CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"Content-Length, Content-Range, Accept-Ranges"),
]


def make_app(media: Path, player: Path, vendor: Path, access_log: bool = True) -> App:
    app = App(access_log=access_log)
    files = StaticFiles(media, gzip=False)

    @app.get("/media/{path:path}")
    def media_file(req: Request) -> Response:
        resp = files(req)
        path = req.params["path"]
        cache = PLAYLIST_CACHE if path.endswith(".m3u8") else SEGMENT_CACHE
        resp.headers += [*CORS, (b"cache-control", cache)]
        return resp

    @app.route("/media/{path:path}", ["OPTIONS"])
    def preflight(req: Request) -> Response:
        return Response(b"", 204, [*CORS,
                                   (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
                                   (b"access-control-allow-headers", b"Range"),
                                   (b"access-control-max-age", b"86400")])  # fmt: skip

    app.static("/vendor", str(vendor))
    app.static("/player", str(player))

    @app.get("/")
    def index(req: Request) -> Response:
        qs = b"?" + req.query_string if req.query_string else b""
        return Response(b"", 302, [(b"location", b"/player/index.html" + qs)])

    return app
