"""Transfers over blocking sockets: HTTP (netlib.http's sans-IO core) and the raw TCP mode.

Files leave by ``socket.sendfile`` in slices of ``SLICE`` bytes (the kernel copies
them; we only count them for the bar), and arrive by ``recv_into`` a reused buffer
written to the output file: memory stays one buffer whatever the size.
``rate`` (bytes/s) throttles an upload, as curl's ``--limit-rate`` does: for
demos on loopback, where 1 GB otherwise takes a second.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from netlib.http import core as h11

from .progress import Progress

SLICE = 4 * 1024 * 1024  # bytes per sendfile call: the bar moves ~100 times a second at 400 MB/s
BUF = 256 * 1024  # receive buffer
MAX_LINE = 4096  # longest answer line of the raw TCP mode
MAX_ERROR_BODY = 64 * 1024  # an HTTP error body we keep to show
TIMEOUT = 60.0  # seconds a socket operation may block


class Failed(Exception):
    """The transfer did not happen; the message says why (one line for the CLI)."""


@dataclass(frozen=True)
class Target:
    scheme: str  # "http" or "tcp"
    host: str
    port: int
    name: str

    @property
    def http_path(self) -> bytes:
        return f"/files/{quote(self.name, safe='')}".encode()


def parse_target(url: str) -> Target:
    """``http://HOST:PORT/files/NAME`` or ``tcp://HOST:PORT/NAME``."""
    u = urlsplit(url)
    if u.scheme not in ("http", "tcp") or not u.hostname:
        raise Failed(f"not an http:// or tcp:// URL: {url}")
    path = unquote(u.path)
    if u.scheme == "http":
        prefix = "/files/"
        if not path.startswith(prefix) or len(path) == len(prefix):
            raise Failed(f"an HTTP target is http://HOST:PORT/files/NAME, not {url}")
        name = path[len(prefix):]
    else:
        name = path.lstrip("/")
    if not name or "/" in name:
        raise Failed(f"no file name (or one with a '/') in {url}")
    try:
        port = u.port or (80 if u.scheme == "http" else 9094)
    except ValueError:
        raise Failed(f"bad port in {url}") from None
    return Target(u.scheme, u.hostname, port, name)


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> bytes:
    sha = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    done = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            sha.update(view[:n])
            done += n
            if progress:
                progress(done)
    return sha.digest()


def _connect(t: Target) -> socket.socket:
    try:
        return socket.create_connection((t.host, t.port), timeout=TIMEOUT)
    except OSError as e:
        raise Failed(f"cannot connect to {t.host}:{t.port}: {e.strerror or e}") from None


def _send_file(sock: socket.socket, f: Any, offset: int, count: int, bar: Progress,
               rate: float | None) -> None:  # fmt: skip
    started, sent = time.monotonic(), 0
    while sent < count:
        n = min(SLICE if rate is None else max(1, int(rate / 20)), count - sent)
        sock.sendfile(f, offset + sent, n)
        sent += n
        bar.update(offset + sent)
        if rate is not None:  # ahead of the allowed rate: wait until we are not
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


def _hash_first(path: Path, show: bool) -> bytes:
    bar = Progress(path.stat().st_size, "hashing  ", enabled=show)
    digest = sha256_file(path, bar.update)
    bar.close()
    return digest


# -- HTTP ------------------------------------------------------------------------


def _read_response(sock: socket.socket, h: h11.Connection, sink: Callable[[bytes], None] | None,
                   head: h11.Response | None = None) -> tuple[h11.Response, bytes]:  # fmt: skip
    """The response head (unless already read), and the body (to ``sink`` if given, else returned)."""
    body = bytearray()
    while True:
        ev = h.next_event()
        if ev is h11.NEED_DATA:
            data = sock.recv(BUF)
            h.receive_data(data)
            if not data and head is None:
                raise Failed("the server closed the connection without an answer")
            continue
        if isinstance(ev, h11.Response):
            head = ev
        elif isinstance(ev, h11.Data):
            if sink is not None and head is not None and head.status_code < 300:
                sink(ev.data)
            elif len(body) < MAX_ERROR_BODY:
                body += ev.data
        elif isinstance(ev, h11.EndOfMessage | h11.ConnectionClosed):
            assert head is not None
            return head, bytes(body)


def _header(head: h11.Response, name: bytes) -> str | None:
    for n, v in head.headers:
        if n == name:
            return v.decode("latin-1")
    return None


def _http_put(t: Target, path: Path, digest: bytes, show: bool, rate: float | None) -> dict[str, Any]:
    size = path.stat().st_size
    h = h11.Connection(h11.CLIENT, max_body=None)
    headers = [(b"host", f"{t.host}:{t.port}".encode()), (b"content-length", b"%d" % size),
               (b"content-digest", f"sha-256=:{base64.b64encode(digest).decode()}:".encode()),
               (b"content-type", b"application/octet-stream")]  # fmt: skip
    bar = Progress(size, "uploading", enabled=show)
    with _connect(t) as sock, open(path, "rb") as f:
        sock.sendall(h.send(h11.Request(b"PUT", t.http_path, headers)))
        try:
            _send_file(sock, f, 0, size, bar, rate)
            h.send_counted(size)
            h.send(h11.EndOfMessage())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (a refusal): read why
        finally:
            bar.close()
        try:
            head, body = _read_response(sock, h, None)
        except (OSError, h11.RemoteProtocolError) as e:
            raise Failed(f"upload failed: {e}") from None
    if head.status_code != 201:
        raise Failed(f"HTTP {head.status_code}: {body.decode(errors='replace').strip()}")
    return json.loads(body)  # type: ignore[no-any-return]


def _http_get(t: Target, out: Path, show: bool, resume: bool) -> int:
    have = out.stat().st_size if resume and out.exists() else 0
    h = h11.Connection(h11.CLIENT, max_body=None)
    headers = [(b"host", f"{t.host}:{t.port}".encode())]
    if have:
        headers.append((b"range", b"bytes=%d-" % have))
    with _connect(t) as sock:
        sock.sendall(h.send_message(h11.Request(b"GET", t.http_path, headers)))
        head: h11.Response | None = None
        while head is None:
            ev = h.next_event()
            if ev is h11.NEED_DATA:
                h.receive_data(sock.recv(BUF))
            elif isinstance(ev, h11.Response):
                head = ev
        if head.status_code == 416 and have:
            return have  # nothing left to fetch
        if head.status_code not in (200, 206):
            _, body = _read_response(sock, h, None, head)
            raise Failed(f"HTTP {head.status_code}: {body.decode(errors='replace').strip()}")
        partial = head.status_code == 206
        length = int(_header(head, b"content-length") or 0)
        bar = Progress((have if partial else 0) + length, "downloading", enabled=show,
                       start_at=have if partial else 0)  # fmt: skip
        with open(out, "ab" if partial else "wb") as f:
            def sink(data: bytes) -> None:
                f.write(data)
                bar.update(bar.done + len(data))

            _read_response(sock, h, sink, head)
        bar.close()
        return bar.done


# -- raw TCP -----------------------------------------------------------------------


def _line(sock: socket.socket) -> str:
    buf = b""
    while not buf.endswith(b"\n"):
        data = sock.recv(1)  # answers are one short line: no read past it
        if not data:
            raise Failed(f"the server closed the connection{': ' + buf.decode() if buf else ''}")
        buf += data
        if len(buf) > MAX_LINE:
            raise Failed("answer line too long")
    return buf.decode("utf-8", "replace").rstrip("\r\n")


def _expect_ok(line: str) -> str:
    if not line.startswith("OK"):
        raise Failed(line.removeprefix("ERR ").strip() or "refused")
    return line[2:].strip()


def _tcp_put(t: Target, path: Path, digest: bytes, show: bool, rate: float | None,
             offset: int | None) -> dict[str, Any]:  # fmt: skip
    size = path.stat().st_size
    with _connect(t) as sock, open(path, "rb") as f:
        if offset is None:
            start = 0
            sock.sendall(f"PUT {t.name} {size} {digest.hex()}\n".encode())
        else:
            start = min(offset, size)
            sock.sendall(f"RESUME {t.name} {size} {start} {digest.hex()}\n".encode())
        bar = Progress(size, "uploading", enabled=show, start_at=start)
        try:
            _send_file(sock, f, start, size - start, bar, rate)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused early: the answer says why
        finally:
            bar.close()
        sha = _expect_ok(_line(sock))
    if sha != digest.hex():
        raise Failed(f"the server stored sha256 {sha}, the file has {digest.hex()}")
    return {"name": t.name, "size": size, "sha256": sha, "resumed_from": start}


def held(t: Target) -> int:
    """Bytes of an unfinished raw TCP upload the server holds."""
    with _connect(t) as sock:
        sock.sendall(f"STAT {t.name}\n".encode())
        line = _line(sock)
    word, _, n = line.partition(" ")
    if word != "HELD" or not n.isdigit():
        raise Failed(line.removeprefix("ERR ").strip())
    return int(n)


def _tcp_get(t: Target, out: Path, show: bool) -> int:
    with _connect(t) as sock:
        sock.sendall(f"GET {t.name}\n".encode())
        size = int(_expect_ok(_line(sock)))
        bar = Progress(size, "downloading", enabled=show)
        buf = bytearray(BUF)
        view = memoryview(buf)
        done = 0
        with open(out, "wb") as f:
            while done < size:
                n = sock.recv_into(buf, min(BUF, size - done))
                if not n:
                    raise Failed(f"the server closed the connection after {done} of {size} bytes")
                f.write(view[:n])
                done += n
                bar.update(done)
        bar.close()
        return done


# -- the three commands ---------------------------------------------------------------


def put(path: Path, url: str, show: bool = False, rate: float | None = None) -> dict[str, Any]:
    """Upload ``path`` to ``url``; the server's JSON (name, size, sha256)."""
    t = parse_target(url)
    digest = _hash_first(path, show)
    try:
        if t.scheme == "http":
            return _http_put(t, path, digest, show, rate)
        return _tcp_put(t, path, digest, show, rate, None)
    except OSError as e:
        raise Failed(f"upload to {url} failed: {e.strerror or e}") from None


def resume(path: Path, url: str, show: bool = False, rate: float | None = None) -> dict[str, Any]:
    """Finish an interrupted raw TCP upload: ask what the server holds, send the rest."""
    t = parse_target(url)
    if t.scheme != "tcp":
        raise Failed("only raw TCP uploads resume (tcp://HOST:PORT/NAME); HTTP ones start over")
    digest = _hash_first(path, show)
    try:
        return _tcp_put(t, path, digest, show, rate, held(t))
    except OSError as e:
        raise Failed(f"resume to {url} failed: {e.strerror or e}") from None


def get(url: str, out: Path, show: bool = False, resume: bool = False) -> int:
    """Download ``url`` into ``out`` (HTTP: ``resume`` continues a partial file with Range)."""
    t = parse_target(url)
    try:
        if t.scheme == "http":
            return _http_get(t, out, show, resume)
        return _tcp_get(t, out, show)
    except OSError as e:
        raise Failed(f"download of {url} failed: {e.strerror or e}") from None
