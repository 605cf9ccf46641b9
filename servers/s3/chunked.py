"""``Content-Encoding: aws-chunked`` with a trailing checksum, sans-IO.

What botocore sends over https for streamed bodies
(``x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER``)::

    <hex size>\\r\\n<bytes>\\r\\n ... 0\\r\\n<trailer name>:<base64>\\r\\n\\r\\n

The payload is not signed (the headers are); its integrity rests on the
trailing checksum, which the caller compares once the last byte is in. The
signed variant (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``, a signature per chunk)
is not implemented and is refused by the route.
"""

from __future__ import annotations

from .errors import S3Error

UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
MAX_LINE = (
    256  # a chunk-size line: hex digits (and, in the signed variant, ";chunk-signature=" + 64 hex)
)
MAX_TRAILERS = 4096  # bytes of trailer lines: one checksum header is ~50
MAX_CHUNK = 64 * 1024 * 1024  # botocore sends 1 MiB chunks; S3 takes at least 8 KiB


def _bad(msg: str) -> S3Error:
    return S3Error("IncompleteBody", f"aws-chunked body: {msg}")


class AwsChunkedDecoder:
    """Feed encoded bytes, get payload bytes; ``trailers`` is filled once ``done``."""

    def __init__(self) -> None:
        self.buf = b""
        self.left = -1  # bytes left in the current chunk; -1: a size line is next
        self.trailers: dict[str, str] = {}
        self.done = False

    def feed(self, data: bytes) -> list[bytes]:
        if self.done and data:
            raise _bad("bytes after the trailers")
        self.buf += data
        out: list[bytes] = []
        while not self.done and self._step(out):
            pass
        return out

    def _step(self, out: list[bytes]) -> bool:
        if self.left > 0:
            if not self.buf:
                return False
            piece = self.buf[: self.left]
            self.buf, self.left = self.buf[len(piece) :], self.left - len(piece)
            out.append(piece)
            return True
        if self.left == 0:  # the CRLF after a chunk's bytes
            if len(self.buf) < 2:
                return False
            if self.buf[:2] != b"\r\n":
                raise _bad("a chunk is longer than its size")
            self.buf, self.left = self.buf[2:], -1
            return True
        if self.left == -1:
            return self._size_line()
        return self._trailer_lines()

    def _size_line(self) -> bool:
        i = self.buf.find(b"\r\n")
        if i < 0:
            if len(self.buf) > MAX_LINE:
                raise _bad("chunk-size line too long")
            return False
        line, self.buf = self.buf[:i], self.buf[i + 2 :]
        size_hex = line.split(b";", 1)[0].strip()
        try:
            size = int(size_hex, 16)
        except ValueError:
            raise _bad(f"bad chunk size {size_hex[:20]!r}") from None
        if size > MAX_CHUNK or not size_hex.isalnum():
            raise _bad("chunk size out of range")
        self.left = size if size else -2
        return True

    def _trailer_lines(self) -> bool:
        i = self.buf.find(b"\r\n\r\n")
        if i < 0:
            if self.buf == b"\r\n":  # no trailers at all
                self.buf, self.done = b"", True
            elif len(self.buf) > MAX_TRAILERS:
                raise _bad("trailers too long")
            return False
        for line in self.buf[:i].split(b"\r\n"):
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise _bad("a trailer line without ':'")
            self.trailers[name.strip().lower()] = value.strip()
        self.buf, self.done = self.buf[i + 4 :], True
        if self.buf:
            raise _bad("bytes after the trailers")
        return False
