"""Static files: an open-file cache, validators, ranges, precompressed siblings, no way out.

Safety first: the request path is percent-decoded once by the Request, then
every segment is checked (no ``..``, no NUL, no backslash, no drive or absolute
path), and the real path (symlinks resolved) must still be inside the served
directory, so a symlink pointing out is refused as well. The file is then opened
with ``O_NOFOLLOW | O_NONBLOCK`` and checked again on its descriptor (a regular
file: a FIFO swapped in cannot hang us). Refusals are 404s: no hint about what
exists outside. What remains (as with nginx's default ``disable_symlinks off``):
someone who can write inside the root can race a directory symlink between the
check and the open; Python has no ``openat2(RESOLVE_BENEATH)``.

Speed is the cache (the idea of nginx's ``open_file_cache``): per request path,
for ``CACHE_SECONDS``, the resolved file with its descriptor, its precomputed
ETag, Last-Modified and header list, and for files up to ``SMALL_FILE`` the bytes
themselves, so a small file costs what a hello route costs: no syscall but the
one write of head and body. After the TTL the path is resolved and stat'ed again;
the cached file is kept only if device, inode, size and mtime are unchanged, so
an edited, replaced or deleted file is seen within ``CACHE_SECONDS``. Larger files
go out by ``os.sendfile`` from the cached descriptor (``FileResponse`` ->
``Connection.sendfile``), shared by concurrent sends (``pread`` semantics: the
offset is ours) and closed only when the last send using it ends.

Preconditions (``conditional``): a failed If-Match or If-Unmodified-Since is a 412,
If-None-Match or If-Modified-Since a 304, in RFC 9110 §13.2.2's order. Ranges: one range is a 206 with Content-Range, several are
``multipart/byteranges``, none satisfiable is 416, If-Range decides whether the
Range applies. A ``NAME.gz`` sibling no older than ``NAME`` is sent to a client
whose Accept-Encoding allows gzip, with its own length and ETag (``-gz``), and
both representations say ``Vary: Accept-Encoding``. A directory asked for
without its trailing slash gets a 301 (as nginx), so relative links in its index
resolve; there are no directory listings.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

from .conditional import (
    UNSATISFIABLE,
    Span,
    accepts_gzip,
    if_range_holds,
    multipart,
    not_modified,
    parse_ranges,
    precondition_failed,
)
from .messages import FileResponse, HTTPError, RawHeaders, Request, Response

# Served without a charset guess otherwise; browsers need it for text.
_TEXT_PREFIXES = ("text/", "application/javascript", "application/json", "image/svg+xml")
_EXTRA_TYPES = {".js": "application/javascript", ".mjs": "application/javascript",
                ".json": "application/json", ".wasm": "application/wasm",
                ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t",
                ".webp": "image/webp", ".svg": "image/svg+xml", ".md": "text/markdown"}  # fmt: skip

# Seconds a resolved path, its stat and its open file are reused (nginx's
# open_file_cache_valid is 60 s; we prefer edits to show quickly): a change on
# disk is answered stale for at most this long, never from outside the root.
CACHE_SECONDS = 1.0
# Paths remembered; past it the cache is emptied (bounded memory, no LRU bookkeeping).
CACHE_ENTRIES = 1024
# Files up to this size are kept in memory whole: then a response is one write.
# 64 KiB matches the server's FILE_BLOCK (above it a body is sent, not copied).
SMALL_FILE = 64 * 1024
# Bytes of small files held at once; past it the cache is emptied.
CACHE_BYTES = 32 * 1024 * 1024
# Descriptors of larger files held open at once (each costs one fd of the process).
OPEN_FILES = 256
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@functools.lru_cache(maxsize=256)
def _type_of(ext: str) -> str:
    ctype = (
        _EXTRA_TYPES.get(ext) or mimetypes.guess_type("x" + ext)[0] or "application/octet-stream"
    )
    return ctype + "; charset=utf-8" if ctype.startswith(_TEXT_PREFIXES) else ctype


def content_type(path: str) -> str:
    """The Content-Type for a file name (by extension; text types get charset=utf-8)."""
    return _type_of(os.path.splitext(path)[1].lower())


class _File:
    """One representation of a file as served: validators, headers, bytes or descriptor."""

    __slots__ = ("path", "key", "size", "mtime", "etag", "ctype", "vary", "meta", "headers",
                 "body", "fd", "users", "dropped", "stale", "wire")  # fmt: skip

    def __init__(self, path: str, fd: int, st: os.stat_result, ctype: str, gz: bool,
                 vary: bool) -> None:  # fmt: skip
        self.path, self.key, self.size = path, _key(st), st.st_size
        self.mtime = int(st.st_mtime)
        self.etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}{"-gz" if gz else ""}"'
        self.ctype, self.vary = ctype, vary
        # Sent with every answer for this representation (200, 206, 304, 416).
        self.meta: RawHeaders = [(b"etag", self.etag.encode()),
                                 (b"last-modified", formatdate(self.mtime, usegmt=True).encode()),
                                 (b"accept-ranges", b"bytes")]  # fmt: skip
        if vary:
            self.meta.append((b"vary", b"Accept-Encoding"))
        if gz:
            self.meta.append((b"content-encoding", b"gzip"))
        self.headers = [*self.meta, (b"content-type", ctype.encode("latin-1"))]
        self.body: bytes | None = None
        # The server's fast path: status line, headers and length, encoded once.
        self.wire: bytes | None = None
        self.fd, self.users, self.dropped, self.stale = fd, 0, False, False
        if self.size <= SMALL_FILE:
            self.body = os.pread(fd, self.size, 0)
            self.size = len(self.body)  # it may have shrunk since the stat
            os.close(fd)
            self.fd = -1

    def changed(self) -> bool:
        """Has the file under a held descriptor changed (a large file, about to be sent)?"""
        if self.stale:
            return True
        try:
            return _key(os.fstat(self.fd)) != self.key
        except OSError:
            return True

    def drop(self) -> None:
        """Forget it: the descriptor closes now, or when the last send using it ends."""
        self.dropped = True
        if self.users == 0 and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def lease(self) -> _Lease | AbstractContextManager[int]:
        """The descriptor for one send; a dropped file is reopened only if unchanged."""
        return _reopened(self) if self.fd < 0 else _Lease(self)


class _Lease:
    """Holds a cached file's descriptor open for one send (a class: cheaper than a generator)."""

    __slots__ = ("file",)

    def __init__(self, file: _File) -> None:
        self.file = file

    def __enter__(self) -> int:
        self.file.users += 1
        return self.file.fd

    def __exit__(self, kind: type[BaseException] | None, exc: object, tb: object) -> None:
        f = self.file
        f.users -= 1
        if kind is not None and issubclass(kind, OSError) and not issubclass(kind, ConnectionError):
            f.stale = True  # e.g. it shrank under a send (not: the client left): look again
        if f.dropped:
            f.drop()


@contextmanager
def _reopened(f: _File) -> Iterator[int]:
    """A file dropped from the cache between its headers and its send: open it again."""
    fd = os.open(f.path, _OPEN_FLAGS)
    try:
        if _key(os.fstat(fd)) != f.key:
            raise OSError(f"{f.path} changed after its headers were sent")
        yield fd
    finally:
        os.close(fd)


def _key(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class _Entry:
    """What a request path resolved to, and when that was checked."""

    __slots__ = ("checked", "file", "gz", "via_dir")

    def __init__(self, checked: float, file: _File, gz: _File | None, via_dir: bool) -> None:
        self.checked, self.file, self.gz, self.via_dir = checked, file, gz, via_dir


class CachedFileResponse(FileResponse):
    """A FileResponse sending from the cache's open descriptor."""

    __slots__ = ("file",)

    def __init__(self, file: _File, status: int, headers: RawHeaders, offset: int, length: int,
                 parts: list[bytes | tuple[int, int]] | None = None) -> None:  # fmt: skip
        super().__init__(file.path, offset, length, status, headers, "", parts)
        self.file = file

    def open(self) -> _Lease | AbstractContextManager[int]:
        return self.file.lease()


def _plain(body: bytes, status: int, headers: RawHeaders) -> Response:
    """A Response built without Response.__init__'s header normalising (ours are ready)."""
    r = Response.__new__(Response)
    r.body, r.status, r.headers, r._wire = body, status, headers, None
    return r


# Request headers that change the answer; everything else is not looked at.
_WANTED = frozenset((b"if-match", b"if-unmodified-since", b"if-none-match",
                     b"if-modified-since", b"range", b"if-range", b"accept-encoding"))  # fmt: skip


def _gzip_ok(asked: dict[bytes, str]) -> bool:
    ae = asked.get(b"accept-encoding")
    return ae is not None and accepts_gzip(ae)


class StaticFiles:
    """A handler serving files below ``directory``; the route gives ``params["path"]``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        index: str = "index.html",
        clock: Callable[[], float] = time.monotonic,
        gzip: bool = True,
    ) -> None:
        self.root = Path(directory).resolve()
        if not self.root.is_dir():
            raise ValueError(f"not a directory: {directory}")
        self._root = str(self.root)
        self._prefix = self._root.rstrip(os.sep) + os.sep
        self.index = index
        self.clock = clock
        self.gzip = gzip
        self._cache: dict[str, _Entry] = {}
        self._bytes = 0  # of small files' bodies held
        self._open = 0  # descriptors held

    def __call__(self, req: Request) -> Response:
        rel = req.params.get("path", "")
        entry = self._cache.get(rel)  # (lookup's fresh hit, inline: the hot path)
        if entry is None or self.clock() - entry.checked >= CACHE_SECONDS:
            entry = self.lookup(rel)
        if entry.via_dir and rel and rel[-1] != "/":
            return slash_redirect(req)  # a directory named without its slash
        asked: dict[bytes, str] = {}
        for n, v in req.raw_headers:
            if n in _WANTED:
                asked[n] = v.decode("latin-1")
        f = entry.gz if entry.gz is not None and _gzip_ok(asked) else entry.file
        if f.body is None and f.changed():  # truncated or rewritten in place since the stat
            entry = self.lookup(rel, again=True)
            f = entry.gz if entry.gz is not None and _gzip_ok(asked) else entry.file
        if not asked:
            if f.body is not None:
                return _plain(f.body, 200, f.headers.copy())
            return self._whole(f)
        if precondition_failed(asked.get(b"if-match"), asked.get(b"if-unmodified-since"),
                               f.etag, f.mtime):  # fmt: skip
            headers = [*f.meta, (b"content-type", b"text/plain; charset=utf-8")]
            return _plain(b"precondition failed\n", 412, headers)
        if not_modified(asked.get(b"if-none-match"), asked.get(b"if-modified-since"),
                        f.etag, f.mtime):  # fmt: skip
            return _plain(b"", 304, f.meta.copy())
        rng = asked.get(b"range")
        if rng is not None:
            if_range = asked.get(b"if-range")
            if if_range is None or if_range_holds(if_range, f.etag, f.mtime, time.time()):
                spans = parse_ranges(rng, f.size)
                if spans == UNSATISFIABLE:
                    headers = [*f.meta, (b"content-range", f"bytes */{f.size}".encode()),
                               (b"content-type", b"text/plain; charset=utf-8")]  # fmt: skip
                    return _plain(b"range not satisfiable\n", 416, headers)
                if spans:
                    return self._partial(f, spans)  # type: ignore[arg-type]
        return self._whole(f)

    def cached(self, rel: str, gzip_asked: bool) -> _File | None:
        """The small file a request for ``rel`` with none of the headers ``__call__``
        looks at (but maybe Accept-Encoding: ``gzip_asked``) is answered with, when the
        cache holds it fresh: the same 200 ``__call__`` would give. None: call it."""
        entry = self._cache.get(rel)
        if (
            entry is None
            or self.clock() - entry.checked >= CACHE_SECONDS
            or (entry.via_dir and rel and rel[-1] != "/")
            or (entry.gz is not None and gzip_asked)
        ):
            return None
        f = entry.file
        return f if f.body is not None else None

    @staticmethod
    def _whole(f: _File) -> Response:
        if f.body is not None:
            return _plain(f.body, 200, f.headers.copy())
        return CachedFileResponse(f, 200, f.headers.copy(), 0, f.size)

    @staticmethod
    def _partial(f: _File, spans: list[Span]) -> Response:
        if len(spans) == 1:
            start, end = spans[0]
            headers = [*f.headers, (b"content-range", f"bytes {start}-{end}/{f.size}".encode())]
            if f.body is not None:
                return _plain(f.body[start : end + 1], 206, headers)
            return CachedFileResponse(f, 206, headers, start, end - start + 1)
        boundary = os.urandom(10).hex()
        pieces, length = multipart(spans, f.size, f.ctype, boundary)
        ctype = f"multipart/byteranges; boundary={boundary}".encode()
        headers = [*f.meta, (b"content-type", ctype)]
        if f.body is not None:
            body = f.body
            data = [p if isinstance(p, bytes) else body[p[0] : p[0] + p[1]] for p in pieces]
            return _plain(b"".join(data), 206, headers)
        return CachedFileResponse(f, 206, headers, 0, length, pieces)

    # -- the cache -------------------------------------------------------------------
    def lookup(self, rel: str, again: bool = False) -> _Entry:
        """The cache entry for ``rel`` (checked again once ``CACHE_SECONDS`` old); 404 if none."""
        now = self.clock()
        entry = self._cache.get(rel)
        if entry is not None:
            if now - entry.checked < CACHE_SECONDS and not again:
                return entry
            del self._cache[rel]  # out of clear()'s reach while it is checked again
        fresh = self._load(rel, now, entry)
        if len(self._cache) >= CACHE_ENTRIES:
            self.clear()
        self._cache[rel] = fresh
        return fresh

    def _load(self, rel: str, now: float, old: _Entry | None) -> _Entry:
        """Resolve ``rel`` again; what of ``old`` is unchanged is kept, the rest released."""
        f = gz = None
        try:
            real, st, via_dir = self._resolve(rel)
            sibling = self._sibling(real, st)
            vary = sibling is not None
            f = old.file if old is not None else None
            if f is None or f.stale or f.path != real or f.key != _key(st) or f.vary != vary:
                f = self._open_file(real, content_type(real), False, vary)
            if sibling is not None:
                gz = old.gz if old is not None else None
                if gz is None or gz.path != sibling[0] or gz.key != _key(sibling[1]):
                    gz = self._try_open(sibling[0], f.ctype)
        finally:
            if old is not None:
                for was in (old.file, old.gz):
                    if was is not None and was is not f and was is not gz:
                        self._release(was)
        return _Entry(now, f, gz, via_dir)

    def _sibling(self, real: str, st: os.stat_result) -> tuple[str, os.stat_result] | None:
        """The precompressed ``NAME.gz``: a regular file inside, no older than NAME."""
        if not self.gzip or real.endswith(".gz"):
            return None
        try:
            path = self._inside(real + ".gz")
            gst = os.stat(path)
        except (HTTPError, OSError, ValueError):
            return None
        if not stat.S_ISREG(gst.st_mode) or gst.st_mtime_ns < st.st_mtime_ns:
            return None  # a sibling older than the file would serve stale content
        return path, gst

    def _try_open(self, path: str, ctype: str) -> _File | None:
        try:
            return self._open_file(path, ctype, True, True)
        except HTTPError:
            return None  # gone since the stat: the identity file is still fine

    def _open_file(self, path: str, ctype: str, gz: bool, vary: bool) -> _File:
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except (OSError, ValueError):
            raise HTTPError(404, "not found") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise HTTPError(404, "not found")
            if st.st_size > SMALL_FILE and self._open >= OPEN_FILES:
                self.clear()
            elif st.st_size <= SMALL_FILE and self._bytes + st.st_size > CACHE_BYTES:
                self.clear()
            f = _File(path, fd, st, ctype, gz, vary)
        except BaseException:
            os.close(fd)
            raise
        if f.body is None:
            self._open += 1
        else:
            self._bytes += f.size
        return f

    def _release(self, f: _File) -> None:
        if f.body is None:
            self._open -= 1
        else:
            self._bytes -= f.size
        f.drop()

    def _forget(self, rel: str) -> None:
        entry = self._cache.pop(rel)
        self._release(entry.file)
        if entry.gz is not None:
            self._release(entry.gz)

    def clear(self) -> None:
        """Forget every path (descriptors in use close when their send ends)."""
        for rel in list(self._cache):
            self._forget(rel)

    # -- from a request path to a file inside the root -----------------------------
    def _resolve(self, rel: str) -> tuple[str, os.stat_result, bool]:
        parts = rel.split("/")
        for seg in parts:
            if seg in ("..", ".") or "\\" in seg or "\0" in seg or ":" in seg:
                raise HTTPError(404, "not found")
        real = self._inside(os.path.join(self._root, *[p for p in parts if p]))
        st = self._stat(real)
        via_dir = stat.S_ISDIR(st.st_mode)
        if via_dir:
            real = self._inside(os.path.join(real, self.index))
            st = self._stat(real)
        elif rel.endswith("/"):
            raise HTTPError(404, "not found")  # "file.txt/": a file is not a directory
        if not stat.S_ISREG(st.st_mode):
            raise HTTPError(404, "not found")
        return real, st, via_dir

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
