"""A blocking AMQP 0-9-1 client: one socket, channels multiplexed on it.

Strategy. Everything runs in the caller's thread. A synchronous method
(``queue.declare``...) is sent and then frames are read until its reply arrives
on that channel; frames for other purposes read meanwhile (deliveries, publisher
confirms, a server-side close) are dispatched to their channel's state, so
nothing is lost while waiting. ``Connection.drain_events(timeout)`` reads
frames and runs consumer callbacks; ``Channel.wait_for_confirms`` reads until
every published message is acked or nacked.

Heartbeats: the interval is negotiated in Connection.Tune (the smaller non-zero
of ours and the server's). While blocked reading we wake every half interval to
send a heartbeat frame, and give up on the server after two silent intervals
(spec 4.2.7).

Errors: a server ``channel.close`` (404 NOT_FOUND, 406 PRECONDITION_FAILED...)
becomes ``ChannelError`` raised on that channel only, after we answer
close-ok; a ``connection.close`` becomes ``ConnectionClosed`` for every call.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .frames import (
    BODY,
    HEADER,
    HEARTBEAT,
    METHOD,
    PROTOCOL_HEADER,
    FrameReader,
    Method,
    ProtocolError,
    decode_header,
    decode_method,
    encode_frame,
    encode_header,
    encode_method,
    encode_table,
)

log = logging.getLogger(__name__)

# Channels per connection we ask for (RabbitMQ's default channel_max is 2047).
CHANNEL_MAX = 2047


class AMQPError(Exception):
    def __init__(self, code: int, text: str, method: tuple[int, int] = (0, 0)) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text, self.method = code, text, method


class ChannelError(AMQPError):
    """The server closed one channel (the connection and other channels live on)."""


class ConnectionClosed(AMQPError):
    """The server closed the connection, or it was lost."""


@dataclass
class Message:
    body: bytes
    properties: dict[str, Any]
    delivery_tag: int = 0
    redelivered: bool = False
    exchange: str = ""
    routing_key: str = ""
    consumer_tag: str = ""
    channel: Channel | None = None

    def ack(self) -> None:
        assert self.channel is not None
        self.channel.basic_ack(self.delivery_tag)

    def nack(self, requeue: bool = True) -> None:
        assert self.channel is not None
        self.channel.basic_nack(self.delivery_tag, requeue=requeue)


@dataclass
class _Content:
    method: Method
    size: int = -1
    props: dict[str, Any] = field(default_factory=dict)
    parts: list[bytes] = field(default_factory=list)
    got: int = 0


class Connection:
    def __init__(self, host: str = "127.0.0.1", port: int = 5672, user: str = "guest",
                 password: str = "guest", vhost: str = "/", heartbeat: int = 60,
                 frame_max: int = 131072, timeout: float = 30.0) -> None:  # fmt: skip
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = FrameReader(frame_max)
        self.channels: dict[int, Channel] = {}
        self.closed: ConnectionClosed | None = None
        self.heartbeat = 0
        self.frame_max = frame_max
        self._last_recv = self._last_send = time.monotonic()
        self._ch0 = Channel(self, 0)
        self._handshake(user, password, vhost, heartbeat, frame_max)

    # -- negotiation -----------------------------------------------------------------
    def _handshake(self, user: str, password: str, vhost: str, heartbeat: int, frame_max: int) -> None:
        self._send_raw(PROTOCOL_HEADER)
        start = self._ch0.wait({"connection.start"})
        if b"PLAIN" not in start.args["mechanisms"].split():
            raise ConnectionClosed(504, "server offers no PLAIN authentication")
        self._ch0.send("connection.start_ok", client_properties={
            "product": "syslab", "capabilities": {"publisher_confirms": True,
                                                  "basic.nack": True, "consumer_cancel_notify": True}},
            mechanism="PLAIN", response=b"\0" + user.encode() + b"\0" + password.encode(),
            locale="en_US")  # fmt: skip
        tune = self._ch0.wait({"connection.tune"}).args
        self.heartbeat = _negotiate(heartbeat, tune["heartbeat"])
        self.frame_max = _negotiate(frame_max, tune["frame_max"])
        self.reader.frame_max = self.frame_max
        channel_max = _negotiate(CHANNEL_MAX, tune["channel_max"])
        self._ch0.send("connection.tune_ok", channel_max=channel_max, frame_max=self.frame_max,
                       heartbeat=self.heartbeat)  # fmt: skip
        self.channel_max = channel_max
        self._ch0.rpc("connection.open", {"connection.open_ok"}, virtual_host=vhost)

    # -- channels ----------------------------------------------------------------------
    def channel(self) -> Channel:
        self._check()
        n = next(i for i in range(1, self.channel_max + 1) if i not in self.channels)
        ch = self.channels[n] = Channel(self, n)
        ch.rpc("channel.open", {"channel.open_ok"})
        return ch

    # -- I/O ----------------------------------------------------------------------------
    def _send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            self._lost(f"send failed: {e}")
        self._last_send = time.monotonic()

    def send_frame(self, ftype: int, channel: int, payload: bytes) -> None:
        self._send_raw(encode_frame(ftype, channel, payload))

    def _check(self) -> None:
        if self.closed is not None:
            raise self.closed

    def _lost(self, why: str) -> None:
        self.closed = self.closed or ConnectionClosed(320, why)
        raise self.closed

    def read_one(self, timeout: float | None) -> bool:
        """Read and dispatch one frame other than a heartbeat; False when ``timeout`` ran
        out first (heartbeats are answered meanwhile)."""
        self._check()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            frame = self.reader.next_frame()
            if frame is None:
                if not self._fill(deadline):
                    return False
                continue
            self._beat()
            if frame.type != HEARTBEAT:
                self._dispatch(frame.type, frame.channel, frame.payload)
                return True

    def _fill(self, deadline: float | None) -> bool:
        """Read some bytes (sending heartbeats while waiting); False past the deadline."""
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return False
        wait = 1.0 if not self.heartbeat else self.heartbeat / 2
        if deadline is not None:
            wait = min(wait, deadline - now)
        self.sock.settimeout(max(wait, 0.001))
        try:
            data = self.sock.recv(1 << 16)
        except TimeoutError:
            self._beat()
            return True
        except OSError as e:
            self._lost(f"connection lost: {e}")
        if not data:
            self._lost("server closed the socket")
        self._last_recv = time.monotonic()
        self.reader.feed(data)
        return True

    def _beat(self) -> None:
        if not self.heartbeat:
            return
        now = time.monotonic()
        if now - self._last_recv > 2 * self.heartbeat:
            self._lost(f"no heartbeat from the server for {2 * self.heartbeat}s")
        if now - self._last_send >= self.heartbeat / 2:
            self.send_frame(HEARTBEAT, 0, b"")

    def _dispatch(self, ftype: int, channel: int, payload: bytes) -> None:
        ch = self._ch0 if channel == 0 else self.channels.get(channel)
        if ch is None:
            raise ProtocolError(f"frame for unknown channel {channel}")
        ch.on_frame(ftype, payload)

    def drain_events(self, timeout: float | None = None) -> bool:
        """Read frames (running consumer callbacks) until one arrives or ``timeout``."""
        return self.read_one(timeout)

    def close(self) -> None:
        if self.closed is None:
            try:
                self._ch0.rpc("connection.close", {"connection.close_ok"}, reply_code=200,
                              reply_text="bye")  # fmt: skip
            except AMQPError:
                pass
            self.closed = ConnectionClosed(200, "closed by the client")
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _negotiate(ours: int, theirs: int) -> int:
    """The smaller of two limits where 0 means 'no limit'."""
    if not ours or not theirs:
        return ours or theirs
    return min(ours, theirs)


class Channel:
    def __init__(self, conn: Connection, number: int) -> None:
        self.conn, self.number = conn, number
        self.replies: deque[Method] = deque()
        self.messages: deque[Message] = deque()  # deliveries without a callback
        self.callbacks: dict[str, Callable[[Message], None]] = {}
        self.returned: list[Message] = []
        self.closed: AMQPError | None = None
        self._content: _Content | None = None
        self.confirming = False
        self._published = 0
        self.unconfirmed: set[int] = set()
        self.nacked: set[int] = set()

    # -- frames in ----------------------------------------------------------------------
    def on_frame(self, ftype: int, payload: bytes) -> None:
        if ftype == METHOD:
            self._on_method(decode_method(payload))
        elif ftype == HEADER and self._content is not None:
            self._content.size, self._content.props = decode_header(payload)
            self._maybe_done()
        elif ftype == BODY and self._content is not None:
            self._content.parts.append(payload)
            self._content.got += len(payload)
            self._maybe_done()
        else:
            raise ProtocolError(f"unexpected frame type {ftype} on channel {self.number}")

    def _on_method(self, m: Method) -> None:
        if m.name in ("basic.deliver", "basic.get_ok", "basic.return"):
            self._content = _Content(m)
        elif m.name in ("basic.ack", "basic.nack"):
            self._confirmed(m)
        elif m.name == "channel.close":
            self.send("channel.close_ok")
            self._closed_by_server(ChannelError(m.args["reply_code"], m.args["reply_text"],
                                                (m.args["class_id"], m.args["method_id"])))
        elif m.name == "connection.close":
            self.send("connection.close_ok")
            err = ConnectionClosed(m.args["reply_code"], m.args["reply_text"])
            self.conn.closed = err
            raise err
        elif m.name == "basic.cancel":  # the queue went away (consumer_cancel_notify)
            self.callbacks.pop(m.args["consumer_tag"], None)
        else:
            self.replies.append(m)

    def _closed_by_server(self, err: ChannelError) -> None:
        self.closed = err
        self.conn.channels.pop(self.number, None)
        log.info("channel %d closed by the server: %s", self.number, err)

    def _maybe_done(self) -> None:
        c = self._content
        assert c is not None
        if c.size < 0 or c.got < c.size:
            return
        self._content = None
        a = c.method.args
        msg = Message(b"".join(c.parts), c.props, a.get("delivery_tag", 0),
                      a.get("redelivered", False), a.get("exchange", ""), a.get("routing_key", ""),
                      a.get("consumer_tag", ""), self)  # fmt: skip
        if c.method.name == "basic.return":
            self.returned.append(msg)
        elif c.method.name == "basic.get_ok":
            self.replies.append(Method("basic.get_ok", {"message": msg}))
        elif (cb := self.callbacks.get(msg.consumer_tag)) is not None:
            cb(msg)
        else:
            self.messages.append(msg)

    def _confirmed(self, m: Method) -> None:
        tag = m.args["delivery_tag"]
        done = {t for t in self.unconfirmed if t <= tag} if m.args["multiple"] else {tag}
        self.unconfirmed -= done
        if m.name == "basic.nack":
            self.nacked |= done

    # -- frames out ---------------------------------------------------------------------
    def _check(self) -> None:
        self.conn._check()
        if self.closed is not None:
            raise self.closed

    def send(self, name: str, **args: Any) -> None:
        self.conn.send_frame(METHOD, self.number, encode_method(name, **args))

    def wait(self, names: set[str]) -> Method:
        while True:
            for i, m in enumerate(self.replies):
                if m.name in names:
                    del self.replies[i]
                    return m
            self._check()
            self.conn.read_one(None)

    def rpc(self, name: str, replies: set[str], **args: Any) -> Method:
        self._check()
        self.send(name, **args)
        return self.wait(replies)

    # -- the AMQP model -------------------------------------------------------------------
    def exchange_declare(self, exchange: str, type: str = "direct", *, passive: bool = False,
                         durable: bool = False, auto_delete: bool = False,
                         arguments: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.rpc("exchange.declare", {"exchange.declare_ok"}, exchange=exchange, type=type,
                 passive=passive, durable=durable, auto_delete=auto_delete, arguments=arguments)

    def exchange_delete(self, exchange: str) -> None:
        self.rpc("exchange.delete", {"exchange.delete_ok"}, exchange=exchange)

    def queue_declare(self, queue: str = "", *, passive: bool = False, durable: bool = False,
                      exclusive: bool = False, auto_delete: bool = False,
                      arguments: dict[str, Any] | None = None) -> tuple[str, int, int]:  # fmt: skip
        """Returns (queue name, messages ready, consumers)."""
        r = self.rpc("queue.declare", {"queue.declare_ok"}, queue=queue, passive=passive,
                     durable=durable, exclusive=exclusive, auto_delete=auto_delete,
                     arguments=arguments)  # fmt: skip
        return r.args["queue"], r.args["message_count"], r.args["consumer_count"]

    def queue_bind(self, queue: str, exchange: str, routing_key: str = "") -> None:
        self.rpc("queue.bind", {"queue.bind_ok"}, queue=queue, exchange=exchange,
                 routing_key=routing_key)  # fmt: skip

    def queue_purge(self, queue: str) -> int:
        return self.rpc("queue.purge", {"queue.purge_ok"}, queue=queue).args["message_count"]

    def queue_delete(self, queue: str) -> int:
        return self.rpc("queue.delete", {"queue.delete_ok"}, queue=queue).args["message_count"]

    def basic_qos(self, prefetch_count: int, prefetch_size: int = 0) -> None:
        self.rpc("basic.qos", {"basic.qos_ok"}, prefetch_size=prefetch_size,
                 prefetch_count=prefetch_count)  # fmt: skip

    def confirm_select(self) -> None:
        self.rpc("confirm.select", {"confirm.select_ok"})
        self.confirming = True

    def basic_publish(self, exchange: str, routing_key: str, body: bytes,
                      properties: dict[str, Any] | None = None, mandatory: bool = False) -> int:  # fmt: skip
        """Publish; in confirm mode returns the delivery tag the broker will confirm."""
        self._check()
        frames = [encode_frame(METHOD, self.number, encode_method(
            "basic.publish", exchange=exchange, routing_key=routing_key, mandatory=mandatory)),
            encode_frame(HEADER, self.number, encode_header(60, len(body), properties))]
        chunk = self.conn.frame_max - 8
        frames += [encode_frame(BODY, self.number, body[i : i + chunk])
                   for i in range(0, len(body), chunk)]  # fmt: skip
        self.conn._send_raw(b"".join(frames))
        if self.confirming:
            self._published += 1
            self.unconfirmed.add(self._published)
        return self._published

    def wait_for_confirms(self, timeout: float = 30.0) -> bool:
        """True when every publish so far was acked; False if the broker nacked any."""
        deadline = time.monotonic() + timeout
        while self.unconfirmed:
            self._check()
            left = deadline - time.monotonic()
            if left <= 0 or not self.conn.read_one(left):
                raise TimeoutError(f"{len(self.unconfirmed)} publish(es) still unconfirmed")
        nacked, self.nacked = self.nacked, set()
        return not nacked

    def basic_consume(self, queue: str, callback: Callable[[Message], None] | None = None, *,
                      no_ack: bool = False, consumer_tag: str = "", exclusive: bool = False) -> str:  # fmt: skip
        r = self.rpc("basic.consume", {"basic.consume_ok"}, queue=queue, consumer_tag=consumer_tag,
                     no_ack=no_ack, exclusive=exclusive)  # fmt: skip
        tag = r.args["consumer_tag"]
        if callback is not None:
            self.callbacks[tag] = callback
        return tag

    def basic_cancel(self, consumer_tag: str) -> None:
        self.rpc("basic.cancel", {"basic.cancel_ok"}, consumer_tag=consumer_tag)
        self.callbacks.pop(consumer_tag, None)

    def next_message(self, timeout: float | None = None) -> Message | None:
        """The next delivery of a consumer without a callback (None after ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.messages:
            self._check()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            self.conn.read_one(left)
        return self.messages.popleft()

    def basic_get(self, queue: str, no_ack: bool = False) -> Message | None:
        r = self.rpc("basic.get", {"basic.get_ok", "basic.get_empty"}, queue=queue, no_ack=no_ack)
        return r.args["message"] if r.name == "basic.get_ok" else None

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        self._check()
        self.send("basic.ack", delivery_tag=delivery_tag, multiple=multiple)

    def basic_nack(self, delivery_tag: int, multiple: bool = False, requeue: bool = True) -> None:
        self._check()
        self.send("basic.nack", delivery_tag=delivery_tag, multiple=multiple, requeue=requeue)

    def basic_reject(self, delivery_tag: int, requeue: bool = True) -> None:
        self._check()
        self.send("basic.reject", delivery_tag=delivery_tag, requeue=requeue)

    def close(self) -> None:
        if self.closed is None and self.conn.closed is None:
            self.rpc("channel.close", {"channel.close_ok"}, reply_code=200, reply_text="bye")
            self.conn.channels.pop(self.number, None)
            self.closed = ChannelError(200, "closed by the client")


__all__ = ["AMQPError", "Channel", "ChannelError", "Connection", "ConnectionClosed", "Message",
           "encode_table"]  # fmt: skip
