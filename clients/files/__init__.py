"""The upload client of exercise N1: ``python -m clients.files put|get|resume``.

Layout: ``transfer`` (blocking-socket transfers over HTTP, on netlib.http's
sans-IO core, and over the raw TCP mode's line protocol, both sending files by
``socket.sendfile``), ``progress`` (the bar: bytes, MB/s, ETA on stderr),
``__main__`` (the command line).

URLs: ``http://HOST:PORT/files/NAME`` for HTTP, ``tcp://HOST:PORT/NAME`` for the
raw mode. Every upload is hashed first and announces its SHA-256
(``Content-Digest`` / the PUT line), so the server checks it end to end and the
client checks the digest the server answers with.
"""

from .transfer import Failed, Target, get, parse_target, put, resume, sha256_file

__all__ = ["Failed", "Target", "get", "parse_target", "put", "resume", "sha256_file"]
