"""One blocking connection to a broker: send a request, read its response.

Version negotiation: the first request is ApiVersions (v3, falling back to the
v0 answer a broker sends when it does not know v3); afterwards ``request``
picks, per API, the highest version both sides implement. Requests may be
pipelined (``send`` several, then ``receive`` them in order): the broker
answers in order on one connection.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from typing import Any

from .protocol import errors as E
from .protocol.apis import API_VERSIONS, APIS, Api
from .protocol.framing import FrameReader, encode_request, parse_response

log = logging.getLogger(__name__)


class ConnectionError_(OSError):
    """The broker closed the connection or could not be reached."""


class BrokerConnection:
    def __init__(self, host: str, port: int, client_id: str = "syslab", timeout: float = 30.0):
        self.host, self.port, self.client_id = host, port, client_id
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = FrameReader()
        self._corr = 0
        self._pending: deque[tuple[int, Api, int]] = deque()
        self.versions: dict[int, int] = {}
        self._negotiate()

    def _negotiate(self) -> None:
        body = {"client_software_name": "syslab", "client_software_version": "0.1"}
        resp = self.request(API_VERSIONS, body, version=3)
        if resp["error_code"] == E.UNSUPPORTED_VERSION:
            resp = self.request(API_VERSIONS, {}, version=0)
        for k in resp["api_keys"]:
            ours = APIS.get(k["api_key"])
            if ours is not None:
                hi = min(ours.hi, k["max_version"])
                if hi >= max(ours.lo, k["min_version"]):
                    self.versions[ours.key] = hi

    def version(self, api: Api) -> int:
        v = self.versions.get(api.key)
        if v is None:
            raise E.KafkaError(E.UNSUPPORTED_VERSION, f"{api.name}: no common version")
        return v

    def send(self, api: Api, body: dict[str, Any], version: int | None = None,
             expect_response: bool = True) -> int:  # fmt: skip
        v = self.version(api) if version is None else version
        self._corr = (self._corr + 1) & 0x7FFFFFFF
        self.sock.sendall(encode_request(api, v, self._corr, self.client_id, body))
        if expect_response:
            self._pending.append((self._corr, api, v))
        return self._corr

    def receive(self) -> dict[str, Any]:
        corr, api, v = self._pending.popleft()
        data = self._read_frame()
        got, body = parse_response(api, v, data)
        if got != corr:
            raise ConnectionError_(f"correlation id {got}, expected {corr}")
        return body

    def request(self, api: Api, body: dict[str, Any], version: int | None = None) -> dict[str, Any]:
        self.send(api, body, version)
        return self.receive()

    def _read_frame(self) -> bytes:
        while (f := self._reader.next_frame()) is None:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError_(f"broker {self.host}:{self.port} closed the connection")
            self._reader.feed(data)
        return f

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> BrokerConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
