"""The connection loop: frames in, one request at a time, responses out in order.

Kafka's broker handles one request per connection at a time and answers in
order (clients match responses by correlation id but expect the order); a
long-polling Fetch therefore holds its connection, which is why clients keep
separate connections for fetching and for group coordination.

Bad input is the connection's problem only: an oversized or negative frame
size, a header or body that does not parse, or an API key we do not know ends
that connection (Kafka does the same: there is no error frame for a request it
cannot read). An unsupported *version* of ApiVersions gets a v0 answer with
UNSUPPORTED_VERSION and our ranges (KIP-511), so a newer client can retry.
"""

from __future__ import annotations

import logging
from pathlib import Path

from clients.kafka.protocol import errors as E
from clients.kafka.protocol.apis import API_VERSIONS
from clients.kafka.protocol.framing import (
    FrameReader,
    RemoteProtocolError,
    encode_response,
    parse_request,
)
from netlib.shell import Connection, Server, ShellConfig, start

from .broker import Broker, BrokerConfig, Ctx, supported_versions

log = logging.getLogger(__name__)


class KafkaServer:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.shell: Server | None = None

    async def handle(self, conn: Connection) -> None:
        reader = FrameReader()
        host, port = conn.sockname[0], conn.sockname[1]
        ctx = Ctx(host, port, conn.peer.rsplit(":", 1)[0])
        while True:
            data = await conn.recv(1 << 20)
            if not data:
                return
            reader.feed(data)
            try:
                while (frame := reader.next_frame()) is not None:
                    if not await self._one(conn, frame, ctx):
                        conn.close()
                        return
            except RemoteProtocolError as e:
                conn.log.warning("closing: %s", e)
                conn.close()
                return
            await conn.drain()

    async def _one(self, conn: Connection, frame: bytes, ctx: Ctx) -> bool:
        req = parse_request(frame)
        if isinstance(req, tuple):
            key, version, corr = req
            if key == API_VERSIONS.key:
                body = {"error_code": E.UNSUPPORTED_VERSION, "api_keys": supported_versions()}
                conn.write(encode_response(API_VERSIONS, 0, corr, body))
                return True
            conn.log.warning("closing: unsupported API key %d version %d", key, version)
            return False
        body = await self.broker.handle(req, ctx)
        if req.api.key == 0 and req.body["acks"] == 0:
            return True  # acks=0: the producer expects no response at all
        conn.write(encode_response(req.api, req.version, req.correlation_id, body))
        return True


async def serve(shell: ShellConfig, config: BrokerConfig) -> tuple[Server, Broker]:
    """Open the data directory, recover the logs, start listening."""
    broker = Broker(config)
    ks = KafkaServer(broker)
    server = await start(ks.handle, shell)
    ks.shell = server
    return server, broker


def default_config(data_dir: Path) -> BrokerConfig:
    return BrokerConfig(data_dir=data_dir)
