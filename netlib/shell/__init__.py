"""The I/O shell: the one accept loop every syslab server stands on.

Strategy. A server supplies a *handler*; the shell owns the socket. It binds,
accepts, caps the number of connections, times out idle and too-slow peers,
isolates each connection's errors, and on SIGINT/SIGTERM stops accepting,
tells every connection (an awaitable signal and a hook) and gives what is in
flight a grace period before it aborts the rest.

Two handler shapes, because two kinds of server live here:

* a coroutine ``async def handler(conn: Connection)`` that awaits
  ``conn.recv()`` and calls ``conn.write()``: the clear, teachable shape
  (file upload, echo, chat, proxies);
* a *session*: a subclass of ``Session`` whose ``data_received(bytes)`` is
  called synchronously from the transport: no task, no await per message. This
  is what a hot server (the cache, HTTP) uses, the way uvicorn and Redis itself
  work: parse what arrived, answer, return. Its hooks (``eof_received``,
  ``pause_writing``, ``shutdown``, ``busy``...) are methods of the base class
  with safe defaults, not names looked up at run time.

A connection can change shape and protocol in place: ``conn.hand_over(to,
initial_bytes)`` gives it (and the bytes already read past the old protocol's
last message) to another session or coroutine, still under the same cap,
timeouts and shutdown. That is how HTTP's ``101 Switching Protocols`` works.

Layout: ``_api`` (``Connection``, the handler's view; ``Session``, the base of
the synchronous shape), ``_conn`` (``_Conn``, the one ``asyncio.Protocol``
behind both: admission, reading, the one backpressure mechanism, hand-over),
``_sendfile`` (``Connection.sendfile``: ``os.sendfile`` on uvloop and asyncio alike),
``_server`` (``ShellConfig``, ``Server``:
listening, the sweeper of idle and slow peers, background tasks, shutdown, and
``stop_now`` for a handler that ends the server itself (the cache's SHUTDOWN);
``start``, ``run``, ``serve_until_signalled``). uvloop is used when importable.

What production servers do differently: SO_REUSEPORT across processes,
accept-rate limiting, TLS. None is needed to learn from this one.
"""

from ._api import (
    READ_HIGH_WATER,
    WRITE_HIGH_WATER,
    Connection,
    ConnectionClosed,
    CoroutineHandler,
    PeerLog,
    Session,
    SessionFactory,
)
from ._server import (
    ListenError,
    Server,
    ShellConfig,
    new_event_loop,
    port_holder,
    run,
    serve_until_signalled,
    start,
)

__all__ = [
    "READ_HIGH_WATER", "WRITE_HIGH_WATER", "Connection", "ConnectionClosed",
    "CoroutineHandler", "ListenError", "PeerLog", "Server", "Session", "SessionFactory", "ShellConfig",
    "new_event_loop", "port_holder", "run", "serve_until_signalled", "start",
]  # fmt: skip
