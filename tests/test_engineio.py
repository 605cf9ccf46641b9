"""Engine.IO v4: the sans-IO codec and session, then the polling transport of servers/chat on the wire."""

from __future__ import annotations

import json
import time

import pytest

from netlib.engineio import (
    Closed,
    Message,
    Packet,
    PacketType,
    ProtocolError,
    Session,
    decode,
    decode_payload,
    encode,
    encode_payload,
)
from tests.chat_support import chat_child, eio, handshake

pytestmark = pytest.mark.exercise("N15")


# -- packets ------------------------------------------------------------------------
def test_text_and_binary_packets_round_trip():
    assert encode(Packet(PacketType.MESSAGE, "hello")) == "4hello"
    assert encode(Packet(PacketType.PING)) == "2"
    assert encode(Packet(PacketType.MESSAGE, b"\x01\x02")) == b"\x01\x02"  # a WebSocket binary frame
    assert encode(Packet(PacketType.MESSAGE, b"\x01\x02"), b64=True) == "bAQI="
    assert decode("4hello") == Packet(PacketType.MESSAGE, "hello")
    assert decode("bAQI=") == Packet(PacketType.MESSAGE, b"\x01\x02")
    assert decode(b"\xff") == Packet(PacketType.MESSAGE, b"\xff")


def test_a_payload_joins_packets_with_the_record_separator():
    pkts = [Packet(PacketType.MESSAGE, "a"), Packet(PacketType.MESSAGE, b"\x00"), Packet(PacketType.PING)]
    wire = encode_payload(pkts)
    assert wire == "4a\x1ebAA==\x1e2"
    assert decode_payload(wire.encode()) == pkts


@pytest.mark.parametrize("bad", [b"", b"9x", b"b!!!", b"\xff\xfe", b"4a\x1e", "4\x1e" * 2000])
def test_payloads_that_are_not_engine_io_raise(bad):
    with pytest.raises(ProtocolError):
        decode_payload(bad if isinstance(bad, bytes) else bad.encode())


def test_a_payload_over_max_payload_raises():
    with pytest.raises(ProtocolError, match="maxPayload"):
        decode_payload(b"4" + b"x" * 100, max_payload=50)


# -- the session ----------------------------------------------------------------------
def test_open_packet_carries_the_handshake():
    s = Session("abc", 0.0, ping_interval=25, ping_timeout=20, max_payload=1000, upgrades=("websocket",))
    p = s.open_packet()
    assert p.type == PacketType.OPEN
    assert json.loads(p.data) == {"sid": "abc", "upgrades": ["websocket"], "pingInterval": 25000,
                                  "pingTimeout": 20000, "maxPayload": 1000}  # fmt: skip


def test_server_pings_after_the_interval_and_a_pong_resets_the_clock():
    s = Session("x", 100.0, ping_interval=10, ping_timeout=5)
    assert s.deadline() == 110.0
    assert s.on_timer(109.9) is None and not s.outbox
    s.on_timer(110.0)
    assert s.take() == [Packet(PacketType.PING)]
    assert s.deadline() == 115.0
    assert s.receive(Packet(PacketType.PONG), 112.0) == []
    assert s.deadline() == 122.0
    assert s.on_timer(115.0) is None and s.closed is None


def test_a_missing_pong_ends_the_session_with_ping_timeout():
    s = Session("x", 0.0, ping_interval=1, ping_timeout=1)
    s.on_timer(1.0)
    assert s.on_timer(1.99) is None
    assert s.on_timer(2.0) == Closed("ping timeout")
    assert s.closed == "ping timeout"


def test_messages_and_close_from_the_client():
    s = Session("x", 0.0)
    assert s.receive(Packet(PacketType.MESSAGE, "hi"), 0) == [Message("hi")]
    assert s.receive(Packet(PacketType.CLOSE), 0) == [Closed("client close")]
    assert s.receive(Packet(PacketType.MESSAGE, "late"), 0) == []


def test_packets_only_a_server_sends_are_refused():
    s = Session("x", 0.0)
    for t in (PacketType.OPEN, PacketType.UPGRADE):
        with pytest.raises(ProtocolError):
            s.receive(Packet(t), 0)


def test_upgrade_probe_then_upgrade():
    s = Session("x", 0.0, upgrades=("websocket",))
    assert s.probe(Packet(PacketType.PING, "probe")) == Packet(PacketType.PONG, "probe")
    assert s.upgrading
    s.upgraded("websocket")
    assert s.transport == "websocket" and not s.upgrading
    with pytest.raises(ProtocolError):
        s.probe(Packet(PacketType.MESSAGE, "x"))


# -- the polling transport on the wire ------------------------------------------------------
@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    d = tmp_path_factory.mktemp("chat")
    with chat_child("--dir", str(d), "--ping-interval", "0.4", "--ping-timeout", "0.4") as c:
        yield c


def test_handshake_fields(chat):
    h = handshake(chat.port)
    assert set(h) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert h["pingInterval"] == 400 and h["pingTimeout"] == 400 and h["maxPayload"] == 1_000_000


@pytest.mark.parametrize("query,code", [("EIO=3&transport=polling", 5), ("EIO=4&transport=carrier-pigeon", 0),
                                        ("EIO=4&transport=polling&sid=nope", 1)])  # fmt: skip
def test_bad_handshakes_get_the_reference_error_codes(chat, query, code):
    status, body = eio(chat.port, query=query)
    assert status == 400 and json.loads(body)["code"] == code


def test_socket_io_connect_and_ping_over_polling(chat):
    sid = handshake(chat.port)["sid"]
    q = f"EIO=4&transport=polling&sid={sid}"
    assert eio(chat.port, "POST", q, b"40") == (200, "ok")
    status, body = eio(chat.port, query=q)
    assert status == 200 and body.startswith('40{"sid":')
    status, body = eio(chat.port, query=q)  # held until the server's ping
    assert body == "2"
    assert eio(chat.port, "POST", q, b"3") == (200, "ok")
    assert eio(chat.port, "POST", q, b"1") == (200, "ok")  # close
    assert json.loads(eio(chat.port, query=q)[1])["code"] == 1  # the session is gone


def test_a_client_that_never_pongs_is_dropped_after_ping_timeout(chat):
    sid = handshake(chat.port)["sid"]
    q = f"EIO=4&transport=polling&sid={sid}"
    t0 = time.monotonic()
    assert eio(chat.port, query=q)[1] == "2"
    status, body = eio(chat.port, query=q)  # no pong sent: the session ends, the poll says so
    assert (status, body) == (200, "1")
    assert 0.7 <= time.monotonic() - t0 < 3
    assert json.loads(eio(chat.port, query=q)[1])["code"] == 1


@pytest.mark.parametrize("garbage", [b"9nonsense", b"b***", b"\xff\xfe", b"40\x1e" * 1001])
def test_a_post_that_does_not_parse_gets_400_and_closes_the_session(chat, garbage):
    sid = handshake(chat.port)["sid"]
    q = f"EIO=4&transport=polling&sid={sid}"
    status, _ = eio(chat.port, "POST", q, garbage)
    assert status == 400
    assert json.loads(eio(chat.port, query=q)[1])["code"] == 1
    assert "input is not Engine.IO" in chat.output()
    other = handshake(chat.port)["sid"]  # everyone else goes on
    assert eio(chat.port, "POST", f"EIO=4&transport=polling&sid={other}", b"40") == (200, "ok")


def test_a_post_over_max_payload_is_refused_unread(chat):
    sid = handshake(chat.port)["sid"]
    status, _ = eio(chat.port, "POST", f"EIO=4&transport=polling&sid={sid}", b"4" + b"x" * 1_000_000)
    assert status == 413


def test_a_socket_io_packet_that_does_not_parse_closes_the_connection(chat):
    sid = handshake(chat.port)["sid"]
    q = f"EIO=4&transport=polling&sid={sid}"
    assert eio(chat.port, "POST", q, b"42[not json") == (200, "ok")
    assert "not a Socket.IO packet" in chat.output()
    assert json.loads(eio(chat.port, query=q)[1])["code"] == 1  # the session is closed


def test_a_second_pending_poll_closes_the_session(chat):
    import threading

    sid = handshake(chat.port)["sid"]
    q = f"EIO=4&transport=polling&sid={sid}"
    first: list[tuple[int, str]] = []
    t = threading.Thread(target=lambda: first.append(eio(chat.port, query=q)))
    t.start()
    time.sleep(0.1)  # the first poll is pending (it waits up to the ping interval)
    status, _ = eio(chat.port, query=q)
    t.join()
    assert status == 400 and first == [(200, "1")]


# -- the WebSocket transport (websocket-client: a client nobody here wrote) ------------------------
def ws_url(port: int, sid: str | None = None) -> str:
    return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")


def test_a_session_opened_on_a_websocket(chat):
    import websocket

    ws = websocket.create_connection(ws_url(chat.port), timeout=5)
    try:
        first = ws.recv()
        assert first[0] == "0" and json.loads(first[1:])["upgrades"] == []
        ws.send("40")
        assert ws.recv().startswith('40{"sid":')
        assert ws.recv() == "2"  # the server's ping, as a text frame
        ws.send("3")
        ws.send('420["join",{"channel":"general","user":"wsuser"}]')
        frames = [ws.recv() for _ in range(2)]
        assert any(f.startswith("430[") for f in frames)  # the join's ack
    finally:
        ws.close()


def test_upgrade_from_polling_probe_noop_then_upgrade(chat):
    import threading

    import websocket

    h = handshake(chat.port)
    assert h["upgrades"] == ["websocket"]
    q = f"EIO=4&transport=polling&sid={h['sid']}"
    assert eio(chat.port, "POST", q, b"40") == (200, "ok")
    assert eio(chat.port, query=q)[1].startswith("40")
    pending: list[tuple[int, str]] = []
    poll = threading.Thread(target=lambda: pending.append(eio(chat.port, query=q)))
    poll.start()
    time.sleep(0.1)
    ws = websocket.create_connection(ws_url(chat.port, h["sid"]), timeout=5)
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
        poll.join(5)
        assert pending == [(200, "6")]  # the poll ends with a noop
        ws.send("5")
        ws.send('420["join",{"channel":"general","user":"upgraded"}]')
        got = [ws.recv() for _ in range(2)]
        assert any(g.startswith("430[") for g in got)  # now over the WebSocket
        status, body = eio(chat.port, query=q)
        assert status == 400  # polling is over for this session
    finally:
        ws.close()


def test_an_upgrade_for_an_unknown_sid_is_refused(chat):
    import websocket

    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(ws_url(chat.port, "nope"), timeout=5)
    assert e.value.status_code == 400


def test_a_websocket_frame_that_is_not_engine_io_closes_the_session(chat):
    import websocket

    ws = websocket.create_connection(ws_url(chat.port), timeout=5)
    ws.recv()
    ws.send("9garbage")
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        for _ in range(5):
            if ws.recv() == "":
                raise ConnectionError("closed")
    assert "input is not Engine.IO" in chat.output()
