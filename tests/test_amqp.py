"""clients/amqp against a private rabbitmq-server, and with pika both ways."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator

import pytest

from clients.amqp import ChannelError, Connection, Message
from clients.amqp.frames import (
    FrameReader,
    ProtocolError,
    decode_header,
    decode_method,
    encode_frame,
    encode_header,
    encode_method,
)
from harness.services import RabbitMQ, ServiceAddress

pytestmark = pytest.mark.exercise("M1")


@pytest.fixture(scope="module")
def rabbit() -> Iterator[ServiceAddress]:
    with RabbitMQ() as r:
        yield r.address


def _conn(a: ServiceAddress, **kw: object) -> Connection:
    return Connection(a.host, a.port, a.user or "guest", a.password or "guest", **kw)  # type: ignore[arg-type]


def _name() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


# -- the codec ------------------------------------------------------------------------


def test_method_bits_pack_into_one_octet_exact_bytes() -> None:
    raw = encode_method("queue.declare", queue="q", durable=True, auto_delete=True)
    assert raw == struct.pack(">HHH", 50, 10, 0) + b"\x01q" + bytes([0b01010]) + b"\0\0\0\0"
    assert decode_method(raw).args["auto_delete"] is True


def test_content_header_round_trips_properties() -> None:
    props = {"content_type": "text/plain", "headers": {"n": 1, "l": [True, "x"], "t": {"a": b"b"}},
             "delivery_mode": 2, "correlation_id": "c"}  # fmt: skip
    assert decode_header(encode_header(60, 9, props)) == (9, props)


def test_frames_one_byte_at_a_time_and_bad_frames() -> None:
    raw = encode_frame(1, 3, encode_method("basic.ack", delivery_tag=5, multiple=True))
    fr = FrameReader(4096)
    got = []
    for b in raw * 2:
        fr.feed(bytes([b]))
        if (f := fr.next_frame()) is not None:
            got.append(f)
    assert len(got) == 2 and decode_method(got[0].payload).args == {"delivery_tag": 5, "multiple": True}
    bad = FrameReader(4096)
    bad.feed(raw[:-1] + b"\x00")
    with pytest.raises(ProtocolError):
        bad.next_frame()
    big = FrameReader(4096)
    big.feed(struct.pack(">BHI", 3, 1, 10_000))
    with pytest.raises(ProtocolError):
        big.next_frame()


# -- against rabbitmq-server --------------------------------------------------------------


def test_negotiation_heartbeat_and_frame_max(rabbit: ServiceAddress) -> None:
    with _conn(rabbit, heartbeat=5, frame_max=8192) as c:
        assert c.heartbeat == 5 and c.frame_max == 8192
        ch = c.channel()
        q, _, _ = ch.queue_declare("", exclusive=True)
        ch.confirm_select()
        body = bytes(range(256)) * 200  # 51 KB: split into body frames under frame_max
        ch.basic_publish("", q, body, {"content_type": "application/octet-stream"})
        assert ch.wait_for_confirms(10)
        m = ch.basic_get(q, no_ack=True)
        assert m is not None and m.body == body
        assert m.properties["content_type"] == "application/octet-stream"


def test_exchange_bind_publish_confirm_consume_ack(rabbit: ServiceAddress) -> None:
    with _conn(rabbit) as c:
        ch = c.channel()
        ex, q = _name(), _name()
        ch.exchange_declare(ex, "topic", auto_delete=True)
        ch.queue_declare(q, auto_delete=True)
        ch.queue_bind(q, ex, "news.*")
        ch.confirm_select()
        for i in range(20):
            ch.basic_publish(ex, "news.sport" if i % 2 else "weather.rain", b"m%d" % i,
                             {"delivery_mode": 2, "headers": {"i": i}})  # fmt: skip
        assert ch.wait_for_confirms(10)
        ch.basic_qos(prefetch_count=5)
        got: list[Message] = []
        ch.basic_consume(q, got.append)
        while len(got) < 5:
            c.drain_events(5)
        assert not c.drain_events(0.3)  # prefetch 5: nothing more until we ack
        assert len(got) == 5
        ch.basic_ack(got[-1].delivery_tag, multiple=True)
        while len(got) < 10:
            c.drain_events(5)
        for m in got[5:]:
            m.ack()
        assert [m.body for m in got] == [b"m%d" % i for i in range(1, 20, 2)]
        assert [m.properties["headers"]["i"] for m in got] == list(range(1, 20, 2))


def test_nack_requeues_and_redelivers(rabbit: ServiceAddress) -> None:
    with _conn(rabbit) as c:
        ch = c.channel()
        q, _, _ = ch.queue_declare("", exclusive=True)
        ch.basic_publish("", q, b"again")
        first = ch.basic_get(q)
        assert first is not None and not first.redelivered
        first.nack(requeue=True)
        second = ch.basic_get(q)
        assert second is not None and second.redelivered and second.body == b"again"
        second.ack()
        assert ch.basic_get(q) is None


def test_unacked_messages_return_when_a_consumer_dies(rabbit: ServiceAddress) -> None:
    q = _name()
    with _conn(rabbit) as setup:
        setup.channel().queue_declare(q, auto_delete=False)
    dying = _conn(rabbit)
    ch = dying.channel()
    ch.basic_publish("", q, b"work")
    ch.basic_consume(q)
    assert ch.next_message(5) is not None  # received, never acked
    dying.sock.close()  # the consumer dies without a clean close
    with _conn(rabbit) as c:
        ch2 = c.channel()
        ch2.basic_consume(q)
        m = ch2.next_message(10)
        assert m is not None and m.redelivered and m.body == b"work"
        m.ack()
        ch2.queue_delete(q)


def test_channel_exception_is_clear_and_spares_the_connection(rabbit: ServiceAddress) -> None:
    with _conn(rabbit) as c:
        ch = c.channel()
        with pytest.raises(ChannelError) as e:
            ch.queue_declare("no-such-" + _name(), passive=True)
        assert e.value.code == 404 and "NOT_FOUND" in e.value.text
        with pytest.raises(ChannelError):
            ch.queue_declare("x")  # the channel is gone: the same error again
        ch2 = c.channel()  # the connection lives on
        q = _name()
        ch2.queue_declare(q, durable=True, auto_delete=True)
        with pytest.raises(ChannelError) as e2:  # redeclare with other flags: 406
            ch2.queue_declare(q, durable=False)
        assert e2.value.code == 406


def test_pika_publishes_we_consume_and_back(rabbit: ServiceAddress) -> None:
    import pika

    params = pika.ConnectionParameters(rabbit.host, rabbit.port,
                                       credentials=pika.PlainCredentials("guest", "guest"))
    q1, q2 = _name(), _name()
    pc = pika.BlockingConnection(params)
    pch = pc.channel()
    pch.queue_declare(q1, auto_delete=True)
    pch.queue_declare(q2, auto_delete=True)
    pch.confirm_delivery()
    for i in range(10):
        pch.basic_publish("", q1, b"p%d" % i, pika.BasicProperties(message_id=str(i)))
    with _conn(rabbit) as c:
        ch = c.channel()
        ch.basic_consume(q1)
        got = [ch.next_message(5) for _ in range(10)]
        assert [m.body for m in got if m] == [b"p%d" % i for i in range(10)]
        assert [m.properties["message_id"] for m in got if m] == [str(i) for i in range(10)]
        for m in got:
            assert m is not None
            m.ack()
        ch.confirm_select()
        for i in range(10):
            ch.basic_publish("", q2, b"o%d" % i, {"headers": {"n": i}})
        assert ch.wait_for_confirms(10)
    theirs = []
    for _ in range(10):
        method, props, body = pch.basic_get(q2, auto_ack=True)
        theirs.append((body, props.headers["n"]))
    assert theirs == [(b"o%d" % i, i) for i in range(10)]
    pc.close()


def test_heartbeats_keep_an_idle_connection_alive(rabbit: ServiceAddress) -> None:
    with _conn(rabbit, heartbeat=1) as c:
        ch = c.channel()
        q, _, _ = ch.queue_declare("", exclusive=True)
        # Idle for over three intervals: RabbitMQ closes a peer silent for two of them.
        assert c.drain_events(3.5) is False
        ch.basic_publish("", q, b"still here")
        m = ch.basic_get(q, no_ack=True)
        assert m is not None and m.body == b"still here"


def test_a_stopped_rabbitmq_node_leaves_no_process_behind() -> None:
    node = RabbitMQ().start()
    assert node._node_pids(), "the node's processes are found by their data directory"
    node.stop()
    assert node._node_pids() == []  # the Erlang VM too, not only Debian's su wrapper
