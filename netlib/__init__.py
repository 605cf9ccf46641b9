"""netlib: the one I/O shell and the sans-IO protocol cores every server and client share.

Layout:

* ``shell.py``: the accept loop (bind, port 0, connection cap, idle and
  deadline sweeps, graceful shutdown on SIGINT/SIGTERM, uvloop when present,
  per-connection error isolation), for coroutine handlers and synchronous
  sessions alike.
* ``http/``: HTTP/1.1, a sans-IO core (``core`` with private ``_events`` and
  ``_framing``) plus the layers on it: ``server`` (an App with routes on the
  shell), ``client``, ``router``, ``static``, ``messages``.
* ``resp/``: RESP2/RESP3, sans-IO: request and reply parsers, encoders.
* ``jwt/``: JSON Web Tokens (JWS compact), signed and verified without I/O.

netlib imports nothing else of the project: it is the bottom of the arrows
(``bench -> servers -> harness -> clients/storage -> netlib``). A protocol
core takes bytes and hands back events or values, and never imports
``asyncio``, ``socket`` or ``selectors``.
"""
