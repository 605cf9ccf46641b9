"""The upload server (exercise N1): files of any size over HTTP and raw TCP.

Layout:
    store.py    names that cannot escape, temporary files hashed on the way in,
                fsync + rename when whole, resumable partials, listing
    digest.py   the sha-256 member of ``Content-Digest``/``Repr-Digest`` (RFC 9530)
    app.py      HTTP on netlib.http: PUT/POST /files/NAME (streamed, per-route
                body limit), GET (static files: sendfile, Range), list, DELETE
    tcp.py      the raw TCP mode (nc-friendly line + bytes, STAT/RESUME), a Session
    __main__.py flags; both listeners in one process

Memory stays one socket read whatever the size: bodies are never held, only
written and hashed as they arrive. The client is ``python -m clients.files``;
``bench/upload`` compares both modes with ``nc`` into a file.
"""
