"""Static files: MIME types, validators (ETag, Last-Modified -> 304), one Range.

Safety first: the request path is percent-decoded once by the Request, then
every segment is checked (no ``..``, no NUL, no backslash, no drive or absolute
path), and finally the real path (symlinks resolved) must still be inside the
served directory, so a symlink pointing out is refused as well. Refusals are
404s: no hint about what exists outside.

The body is a ``FileResponse``: read and written in blocks as the peer takes
them, so a large file never sits in memory. Multiple ranges are answered with
the whole file (RFC 9110 §14.2 lets a server ignore Range); an unsatisfiable
single range is 416 with ``Content-Range: bytes */size``. A directory asked for
without its trailing slash gets a 301 to the slashed path (as nginx), so relative
links in its index resolve; there are no directory listings.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import stat
import time
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

from .messages import FileResponse, HTTPError, Request, Response

# Served without a charset guess otherwise; browsers need it for text.
_TEXT_PREFIXES = ("text/", "application/javascript", "application/json", "image/svg+xml")
_EXTRA_TYPES = {".js": "application/javascript", ".mjs": "application/javascript",
                ".json": "application/json", ".wasm": "application/wasm",
                ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t",
                ".webp": "image/webp", ".svg": "image/svg+xml", ".md": "text/markdown"}  # fmt: skip


@functools.lru_cache(maxsize=256)
def _type_of(ext: str) -> str:
    ctype = (
        _EXTRA_TYPES.get(ext) or mimetypes.guess_type("x" + ext)[0] or "application/octet-stream"
    )
    return ctype + "; charset=utf-8" if ctype.startswith(_TEXT_PREFIXES) else ctype


def content_type(path: str) -> str:
    """The Content-Type for a file name (by extension; text types get charset=utf-8)."""
    return _type_of(os.path.splitext(path)[1].lower())


@functools.lru_cache(maxsize=1024)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


# Seconds a resolved path and its stat are reused (the idea of nginx's
# open_file_cache_valid): realpath + stat cost more than the rest of a small
# response. Only paths already checked to be inside the root are cached, so a
# change on disk can at worst be answered stale for this long, never from outside.
CACHE_SECONDS = 1.0
CACHE_ENTRIES = 1024  # then the cache is simply emptied: bounded memory, no LRU bookkeeping


class StaticFiles:
    """A handler serving files below ``directory``; the route gives ``params["path"]``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        index: str = "index.html",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = Path(directory).resolve()
        if not self.root.is_dir():
            raise ValueError(f"not a directory: {directory}")
        self._root = str(self.root)
        self._prefix = self._root.rstrip(os.sep) + os.sep
        self.index = index
        self.clock = clock
        self._cache: dict[str, tuple[float, str, os.stat_result]] = {}
        # Real paths of index files reached through their directory: such a request
        # without a trailing slash is redirected. Bounded by the directories served.
        self._indexes: set[str] = set()

    def __call__(self, req: Request) -> Response:
        rel = req.params.get("path", "")
        path, st = self.resolve(rel)
        if path in self._indexes and rel[-1:] not in ("", "/") and not rel.endswith(self.index):
            return slash_redirect(req)  # a directory named without its slash
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        last_modified = _http_date(int(st.st_mtime))
        headers = [(b"etag", etag.encode()), (b"last-modified", last_modified.encode()),
                   (b"accept-ranges", b"bytes")]  # fmt: skip
        if _not_modified(req, etag, st.st_mtime):
            return Response(b"", 304, headers, content_type="")
        ctype = content_type(path)
        rng = req.headers.get("range") if req.raw_headers else None
        if rng is not None and _if_range_ok(req, etag, last_modified):
            span = parse_range(rng, st.st_size)
            if span == "unsatisfiable":
                headers.append((b"content-range", f"bytes */{st.st_size}".encode()))
                return Response(b"range not satisfiable\n", 416, headers)
            if isinstance(span, tuple):
                start, end = span
                headers.append((b"content-range", f"bytes {start}-{end}/{st.st_size}".encode()))
                return FileResponse(path, start, end - start + 1, 206, headers, ctype)
        return FileResponse(path, 0, st.st_size, 200, headers, ctype)

    def resolve(self, rel: str) -> tuple[str, os.stat_result]:
        """The file to serve for ``rel`` and its stat, or HTTPError 404 if missing or outside."""
        now = self.clock()
        hit = self._cache.get(rel)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1], hit[2]
        real, st = self._resolve(rel)
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.clear()
        self._cache[rel] = (now, real, st)
        return real, st

    def _resolve(self, rel: str) -> tuple[str, os.stat_result]:
        parts = rel.split("/")
        for seg in parts:
            if seg in ("..", ".") or "\\" in seg or "\0" in seg or ":" in seg:
                raise HTTPError(404, "not found")
        real = self._inside(os.path.join(self._root, *[p for p in parts if p]))
        st = self._stat(real)
        if stat.S_ISDIR(st.st_mode):
            real = self._inside(os.path.join(real, self.index))
            st = self._stat(real)
            if len(self._indexes) < CACHE_ENTRIES:
                self._indexes.add(real)
        if not stat.S_ISREG(st.st_mode):
            raise HTTPError(404, "not found")
        return real, st

    def _inside(self, candidate: str) -> str:
        """The real path (symlinks resolved) if it is still below the root."""
        real = os.path.realpath(candidate)
        if real != self._root and not real.startswith(self._prefix):
            raise HTTPError(404, "not found")
        return real

    @staticmethod
    def _stat(path: str) -> os.stat_result:
        try:
            return os.stat(path)
        except (OSError, ValueError):
            raise HTTPError(404, "not found") from None


def slash_redirect(req: Request) -> Response:
    """301 to the same path with a trailing slash (query kept), the way nginx names a directory."""
    location = quote(req.path, safe="/:@!$&'()*+,;=~", errors="surrogateescape") + "/"
    if req.query_string:
        location += "?" + req.query_string.decode("latin-1")
    return Response(b"", 301, [(b"location", location.encode("latin-1"))], content_type="")


def _not_modified(req: Request, etag: str, mtime: float) -> bool:
    inm = req.headers.get("if-none-match")
    if inm is not None:  # RFC 9110 §13.1.2: weak comparison, and it overrides If-Modified-Since
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return "*" in tags or etag in tags
    ims = req.headers.get("if-modified-since")
    if ims is not None:
        try:
            return int(mtime) <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def _if_range_ok(req: Request, etag: str, last_modified: str) -> bool:
    """If-Range: honour the Range only if the validator still matches."""
    v = req.headers.get("if-range")
    return v is None or v == etag or v == last_modified


def parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    """``bytes=a-b`` / ``a-`` / ``-n`` -> (start, end inclusive); None = ignore; or "unsatisfiable"."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()):
        return None
    if (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid range-spec: ignore the header
    if start >= size:
        return "unsatisfiable"
    return start, end
