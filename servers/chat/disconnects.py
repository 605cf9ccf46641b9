"""N16: every session's end, classified and produced to a Kafka topic (``--kafka HOST:PORT``).

One JSON record per Engine.IO session that ends, keyed by user::

    {"user": "ada", "reason": "clean close", "code": 1000, "sid": "...",
     "transport": "websocket", "peer": "127.0.0.1:50312",
     "connected_at": 1764561600.123, "disconnected_at": 1764561642.456, "duration": 42.333}

``reason`` is one of ``clean close`` (the client said goodbye: a close packet,
or a WebSocket close frame, whose ``code`` is given), ``ping timeout`` (the
client stopped answering pings), ``tcp reset`` (the connection was reset: an
RST, e.g. a peer closing with SO_LINGER 0), ``transport close`` (the connection
closed without a goodbye), ``server shutdown``, ``parse error`` (the client
sent what is not Engine.IO/Socket.IO), ``forced close``.

The producer is ``clients.kafka.Producer``, whose calls block on the network
(metadata, acks); the event loop only puts the record on a queue, and one
thread hands it to the producer, so a slow or absent broker never stalls the
chat. The queue is bounded (``max_queued``): while the broker is away, events
past it are dropped and counted (``dropped``, with a log line), rather than
growing the chat's memory for as long as the outage lasts.
``python -m servers.chat.disconnects --kafka HOST:PORT`` is the consumer that
shows them.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from typing import Any

log = logging.getLogger("servers.chat.disconnects")

DEFAULT_TOPIC = "chat.disconnects"
# The engine's reason -> the classification the events carry
REASONS = {"client close": "clean close", "transport error": "tcp reset"}
MAX_QUEUED = 10_000  # events waiting for the producer; past this they are dropped


def classify(engine_reason: str) -> str:
    if engine_reason.startswith("transport error"):
        return "tcp reset"
    return REASONS.get(engine_reason, engine_reason)


def event(sock: Any, engine_reason: str, now: float | None = None) -> dict[str, Any]:
    """The record for an Engine.IO socket (``netlib.engineio.server.Socket``) that ended."""
    end = time.time() if now is None else now
    return {"user": sock.data.get("user"), "reason": classify(engine_reason),
            "code": sock.close_code, "sid": sock.sid, "transport": sock.transport,
            "peer": sock.peer, "connected_at": round(sock.connected_at, 3),
            "disconnected_at": round(end, 3), "duration": round(end - sock.connected_at, 3)}  # fmt: skip


class DisconnectLog:
    """Records in, a background thread producing them to ``topic``."""

    def __init__(self, bootstrap: str, topic: str = DEFAULT_TOPIC, max_queued: int = MAX_QUEUED,
                 send_timeout: float = 30.0) -> None:  # fmt: skip
        from clients.kafka import Producer

        self.topic, self.send_timeout = topic, send_timeout
        self.producer = Producer(bootstrap, acks=1, linger_ms=5, client_id="syslab-chat")
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queued)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="disconnects", daemon=True)
        self._thread.start()

    def record(self, ev: dict[str, Any]) -> None:
        log.info("session end: %s", ev)
        try:
            self.queue.put_nowait(ev)
        except queue.Full:  # the producer is stuck on an absent broker: keep the chat's memory bounded
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("disconnect events: %d queued, broker not keeping up; %d dropped so far",
                            self.queue.maxsize, self.dropped)  # fmt: skip

    def _run(self) -> None:
        while (ev := self.queue.get()) is not None:
            key = (ev.get("user") or "").encode()
            try:
                self.producer.send(self.topic, json.dumps(ev).encode(), key or None).result(self.send_timeout)
                self.sent += 1
            except Exception as e:  # the broker is down: the event is lost, the chat goes on
                self.failed += 1
                log.warning("disconnect event not produced to %s: %s", self.topic, e)

    def close(self, timeout: float = 10.0) -> None:
        """Produce what is queued (the shutdown's own events included), then stop. A broker that
        is away cannot hold the shutdown: the producer's calls may block on it while holding its
        lock, so each step runs in a daemon thread given ``timeout`` seconds."""
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        closer = threading.Thread(target=self._close_producer, args=(timeout,), name="disconnects-close", daemon=True)
        closer.start()
        closer.join(timeout)
        if self._thread.is_alive() or closer.is_alive():
            log.warning("disconnect events: the broker did not answer at shutdown; %d queued not produced",
                        self.queue.qsize())  # fmt: skip

    def _close_producer(self, timeout: float) -> None:
        try:
            self.producer.close(timeout)
        except (TimeoutError, OSError) as e:
            log.warning("disconnect events: closing the producer: %s", e)


def main(argv: list[str] | None = None) -> int:
    """The consumer: print the disconnect events as they arrive (one JSON line each)."""
    from clients.kafka import Consumer
    from servers.cli import OneLineParser

    p = OneLineParser(prog="python -m servers.chat.disconnects", description="show the chat's disconnect events")
    p.add_argument("--kafka", required=True, metavar="HOST:PORT")
    p.add_argument("--topic", default=DEFAULT_TOPIC)
    p.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    args = p.parse_args(argv)
    consumer = Consumer(args.kafka, auto_offset_reset="earliest")
    consumer.assign([(args.topic, 0)])
    seen = 0
    try:
        while not args.count or seen < args.count:
            for records in consumer.poll(1000).values():
                for r in records:
                    print((r.value or b"").decode(), flush=True)
                    seen += 1
    except KeyboardInterrupt:
        pass
    except OSError as e:
        print(f"disconnects: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
