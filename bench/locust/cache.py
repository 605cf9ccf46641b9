"""``make load-cache``: a bounded locust run against the cache, speaking RESP on a raw socket.

Each simulated user opens one TCP connection (locust's gevent makes the
blocking socket cooperative) and loops over a cache workload: mostly GETs of a
small hot key set, some SETs with a TTL, INCR counters and a list push/pop.
Requests are encoded and replies decoded with netlib.resp, the same codec the
server uses, and each one is reported to locust as a request event (name =
the command) with its latency, so locust's table reads like redis-benchmark's.
"""

from __future__ import annotations

import random
import socket
import time
from urllib.parse import urlparse

from locust import User, between, task

from netlib.resp import NEED_DATA, ReplyError, ReplyParser, encode_command

KEYS = 1000  # the hot key set
VALUE = b"v" * 64


class RespConnection:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.parser = ReplyParser()

    def call(self, *args: object) -> object:
        self.sock.sendall(encode_command(*args))  # type: ignore[arg-type]
        while (reply := self.parser.next_reply()) is NEED_DATA:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.parser.feed(data)
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def close(self) -> None:
        self.sock.close()


class CacheUser(User):
    wait_time = between(0.001, 0.01)

    def on_start(self) -> None:
        u = urlparse(self.host or "http://127.0.0.1:6380")
        self.conn = RespConnection(u.hostname or "127.0.0.1", u.port or 6380)
        # One of each first: a short run on a busy machine (locust's run-time timer can
        # start from a stale clock after slow imports) still reports every command.
        for visit in (self.get, self.set, self.incr, self.push_pop):
            visit()

    def on_stop(self) -> None:
        self.conn.close()

    def _timed(self, name: str, *args: object) -> None:
        start = time.perf_counter()
        exc: Exception | None = None
        length = 0
        try:
            reply = self.conn.call(name, *args)
            length = len(reply) if isinstance(reply, bytes) else 0
        except Exception as e:  # reported to locust as a failure, not raised
            exc = e
        self.environment.events.request.fire(
            request_type="RESP", name=name,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=length, exception=exc, context={},
        )  # fmt: skip

    @task(10)
    def get(self) -> None:
        self._timed("GET", f"key:{random.randrange(KEYS)}")

    @task(3)
    def set(self) -> None:
        self._timed("SET", f"key:{random.randrange(KEYS)}", VALUE, "EX", 60)

    @task(2)
    def incr(self) -> None:
        self._timed("INCR", f"counter:{random.randrange(10)}")

    @task(1)
    def push_pop(self) -> None:
        self._timed("LPUSH", "queue", VALUE)
        self._timed("RPOP", "queue")
