"""The blocking flavour: one socket, one ReplyParser, replies read in order.

``connect()`` opens a TCP connection, runs the handshake (``HELLO 3`` for
RESP3, AUTH, SELECT) and returns a ``Connection``. ``execute`` writes one
command and reads one reply; ``pipeline()`` writes many in one ``sendall``
and then reads as many replies; ``pubsub()`` opens a dedicated connection,
because in RESP2 a subscribed connection can do nothing else.

Each read has a deadline (``timeout`` seconds per reply, None waits forever).
A timeout in the middle of ``execute`` closes the connection: the late reply
would otherwise be taken as the answer to the next command. Waiting for a
pub/sub message is different: nothing is owed, so ``get_message(timeout)``
just returns None and the parser keeps any half-received message.

RESP3 pushes that arrive while a command waits for its reply (a subscribed
RESP3 connection, client-side caching invalidations) are set aside in
``Connection.pushes`` instead of being mistaken for the reply.

A Connection is not thread-safe: one per thread, or a pool (clients/pool).
"""

from __future__ import annotations

import builtins
import socket
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from .core import (
    DEFAULT_TIMEOUT,
    NEED_DATA,
    READ_SIZE,
    Arg,
    Command,
    Message,
    Options,
    PipelineBase,
    PubSubBase,
    Replies,
    encode_many,
    is_push,
    result,
)
from .errors import ConnectionError, InvalidReply, TimeoutError

TimeoutError_ = builtins.TimeoutError  # what sockets raise; ours shadows the name here
_DEFAULT: Any = object()  # "use the connection's timeout" (None means wait forever)


class _Idle(Exception):
    """No message within the wait of get_message(); not an error."""


def connect(
    host: str = "127.0.0.1",
    port: int = 6379,
    db: int = 0,
    protocol: int = 2,
    timeout: float | None = DEFAULT_TIMEOUT,
    username: str | None = None,
    password: str | None = None,
    client_name: str | None = None,
) -> Connection:
    """A ready connection: TCP connected, handshake done, ``db`` selected."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError_ as exc:
        raise TimeoutError(f"connecting to {host}:{port} timed out") from exc
    except OSError as exc:
        raise ConnectionError(f"cannot connect to {host}:{port}: {exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small commands, no Nagle delay
    options = Options(db, protocol, timeout, username, password, client_name)
    conn = Connection(sock, host, port, options)
    try:
        for cmd in options.handshake():
            conn.execute(*cmd)
    except BaseException:
        conn.close()
        raise
    return conn


class Connection:
    """One blocking connection to a RESP server."""

    def __init__(self, sock: socket.socket, host: str, port: int, options: Options):
        self._sock: socket.socket | None = sock
        self.host, self.port = host, port
        self.options = options
        self.protocol = options.protocol
        self.timeout = options.timeout
        self._replies = Replies()
        self.pushes: deque[Any] = deque()  # RESP3 pushes that arrived between replies

    # -- the API --------------------------------------------------------------------

    def execute(self, *args: Arg) -> Any:
        """Send one command, return its reply; an error reply raises ResponseError."""
        self.send([args])
        return result(self.read_reply())

    def pipeline(self, transaction: bool = False) -> Pipeline:
        return Pipeline(self, transaction)

    def pubsub(self) -> PubSub:
        """A PubSub on a new connection with this one's settings."""
        return PubSub(connect(self.host, self.port, **vars(self.options)))

    def ping(self) -> Any:
        return self.execute("PING")

    def publish(self, channel: Arg, message: Arg) -> int:
        """PUBLISH; returns how many subscribers received it."""
        return int(self.execute("PUBLISH", channel, message))

    # -- the wire -------------------------------------------------------------------

    def send(self, commands: Sequence[Command]) -> None:
        """Write commands in one ``sendall``."""
        self.write(encode_many(commands))

    def write(self, data: bytes) -> None:
        sock = self._live()
        try:
            sock.settimeout(self.timeout)
            sock.sendall(data)
        except OSError as exc:
            self._fail(exc, "writing to")

    def read_reply(self, timeout: float | None = _DEFAULT) -> Any:
        """The next value that is not a RESP3 push (pushes go to ``self.pushes``)."""
        while True:
            value = self.read_value(timeout)
            if not is_push(value):
                return value
            self.pushes.append(value)

    def read_value(self, timeout: float | None = _DEFAULT, idle_ok: bool = False) -> Any:
        """The next value of any kind. ``idle_ok``: a timeout raises _Idle, keeps the socket."""
        wait = self.timeout if timeout is _DEFAULT else timeout
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                value = self._replies.next()
            except InvalidReply:
                self.close()  # the stream cannot be resynchronised
                raise
            if value is not NEED_DATA:
                return value
            self._fill(deadline, idle_ok)

    def _fill(self, deadline: float | None, idle_ok: bool) -> None:
        sock = self._live()
        try:
            sock.settimeout(None if deadline is None else max(deadline - time.monotonic(), 0.0))
            data = sock.recv(READ_SIZE)
        except (TimeoutError_, BlockingIOError) as exc:  # timeout 0 means a non-blocking recv
            if idle_ok:
                raise _Idle from exc
            self.close()
            raise TimeoutError(f"no reply from {self.host}:{self.port} in time") from exc
        except OSError as exc:
            self._fail(exc, "reading from")
        if not data:
            self.close()
            raise ConnectionError(f"{self.host}:{self.port} closed the connection")
        self._replies.feed(data)

    def _live(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionError(f"connection to {self.host}:{self.port} is closed")
        return self._sock

    def _fail(self, exc: OSError, doing: str) -> None:
        self.close()
        raise ConnectionError(f"{doing} {self.host}:{self.port}: {exc}") from exc

    @property
    def closed(self) -> bool:
        return self._sock is None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Pipeline(PipelineBase):
    """``p = conn.pipeline(); p.command("SET", "a", 1).command("GET", "a"); p.execute()``."""

    def __init__(self, conn: Connection, transaction: bool = False) -> None:
        super().__init__(transaction)
        self._conn = conn

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """One write, N reads. With ``raise_on_error=False`` errors are list items."""
        data, count = self.wire()
        self._conn.write(data)
        replies = [self._conn.read_reply() for _ in range(count)]
        return self.results(replies, raise_on_error)


class PubSub(PubSubBase):
    """Subscriptions on a dedicated connection; iterate it for messages.

    ``subscribe`` returns once the server confirmed every channel, so a
    PUBLISH sent after it is guaranteed to be delivered (no sleep needed).
    Messages that arrive while waiting for a confirmation are kept in order.
    """

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn

    def subscribe(self, *channels: Arg) -> None:
        self._request("subscribe", channels)

    def psubscribe(self, *patterns: Arg) -> None:
        self._request("psubscribe", patterns)

    def unsubscribe(self, *channels: Arg) -> None:
        self._request("unsubscribe", channels)

    def punsubscribe(self, *patterns: Arg) -> None:
        self._request("punsubscribe", patterns)

    def _request(self, kind: str, names: Sequence[Arg]) -> None:
        self.conn.send([self.subscriptions.request(kind, names)])
        while self.subscriptions.awaiting:
            self._keep(self.conn.read_value())

    def get_message(self, timeout: float | None = 0.0) -> Message | None:
        """The next data message, or None if none arrives within ``timeout`` seconds."""
        if self._pending:
            return self._pending.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                msg = self._take(self.conn.read_value(left, idle_ok=True))
            except _Idle:
                return None
            if msg is not None:
                return msg

    def listen(self) -> Iterator[Message]:
        """Messages forever (until the connection closes)."""
        while True:
            msg = self.get_message(timeout=None)
            if msg is not None:
                yield msg

    __iter__ = listen

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PubSub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
