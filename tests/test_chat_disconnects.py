"""N16: every session end classified and produced to our Kafka-protocol broker (servers/kafka)
through clients/kafka, each cause made to happen: a clean close, a client that stops
answering pings, a TCP reset (SO_LINGER 0 under a pending poll), a server shutdown.
The events are read back with our consumer (``python -m servers.chat.disconnects``)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
import uuid

import pytest
import socketio

from servers.catalog import REPO_ROOT
from tests.chat_support import chat_child, eio, handshake
from tests.kafka_support import start_broker

pytestmark = pytest.mark.exercise("N16")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = start_broker(tmp_path_factory.mktemp("kafka"))
    yield f"127.0.0.1:{b.port}"
    b.stop()


def consume(bootstrap: str, topic: str, count: int) -> list[dict]:
    """Our consumer CLI, as a user would run it: one JSON line per event."""
    p = subprocess.run([sys.executable, "-m", "servers.chat.disconnects", "--kafka", bootstrap, "--topic", topic,
                        "--count", str(count)], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)  # fmt: skip
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def raw_session(port: int, user: str) -> str:
    """A hand-made polling client: handshake, connect, join as ``user``, read what is queued."""
    sid = handshake(port)["sid"]
    q = f"EIO=4&transport=polling&sid={sid}"
    assert eio(port, "POST", q, b"40") == (200, "ok")
    body = json.dumps(["join", {"channel": "general", "user": user}]).encode()
    assert eio(port, "POST", q, b"421" + body) == (200, "ok")
    deadline = time.monotonic() + 5
    got = ""
    while "431" not in got and time.monotonic() < deadline:  # until the join's ack
        got += eio(port, query=q)[1]
    return sid


def pending_poll_then_reset(port: int, sid: str) -> None:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.3)  # the poll is pending (nothing queued; the ping is seconds away)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # RST, not FIN


def check_times(ev: dict) -> None:
    assert ev["disconnected_at"] >= ev["connected_at"] > time.time() - 300
    assert ev["duration"] == pytest.approx(ev["disconnected_at"] - ev["connected_at"], abs=0.01)


def chat_producing(broker: str, tmp_path, ping_interval: str):
    """A chat child producing to a topic of its own (returned with it)."""
    topic = f"disconnects-{uuid.uuid4().hex[:8]}"
    args = ("--dir", str(tmp_path), "--kafka", broker, "--topic", topic, "--ping-interval", ping_interval,
            "--ping-timeout", "0.5")  # fmt: skip
    return chat_child(*args), topic


def joined(port: int, user: str, transports: list[str]) -> socketio.Client:
    c = socketio.Client(reconnection=False)
    c.connect(f"http://127.0.0.1:{port}", transports=transports)
    c.call("join", {"channel": "general", "user": user}, timeout=10)
    return c


def wait_for_output(child, text: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while text not in child.output() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_each_cause_is_classified_and_produced(broker, tmp_path):
    child, topic = chat_producing(broker, tmp_path, "5")
    with child as chat:
        clean = joined(chat.port, "polite", ["polling"])
        time.sleep(0.2)
        clean.disconnect()  # a close packet: the goodbye

        raw_session(chat.port, "silent")  # stops: never polls, never pongs -> ping timeout after 5.5 s

        sid = raw_session(chat.port, "reset")
        pending_poll_then_reset(chat.port, sid)

        joined(chat.port, "stayer", ["polling"])
        wait_for_output(chat, "ping timeout")
        assert chat.stop() == 0  # SIGTERM: the server stops, the last session ends with it
    events = {e["user"]: e for e in consume(broker, topic, 4)}
    assert events["polite"]["reason"] == "clean close"
    assert events["silent"]["reason"] == "ping timeout"
    assert 5.0 <= events["silent"]["duration"] < 9
    assert events["reset"]["reason"] == "tcp reset"
    assert events["stayer"]["reason"] == "server shutdown"
    for e in events.values():
        check_times(e)
        assert e["transport"] == "polling" and e["sid"]


def ws_session(port: int, user: str):
    """A hand-made WebSocket session (websocket-client): open, connect, join as ``user``."""
    import websocket

    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", timeout=5)
    assert ws.recv()[0] == "0"
    ws.send("40")
    assert ws.recv().startswith("40")
    ws.send("421" + json.dumps(["join", {"channel": "general", "user": user}]))
    while not ws.recv().startswith("431"):
        pass
    return ws


def test_each_cause_over_websocket(broker, tmp_path):
    child, topic = chat_producing(broker, tmp_path, "3")
    with child as chat:
        joined(chat.port, "polite", ["websocket"]).disconnect()  # a close packet, then the close frame (1000)

        coded = ws_session(chat.port, "coded")
        coded.close(status=4001, reason=b"bye")  # a close frame with an application code

        silent = ws_session(chat.port, "silent")  # never answers the Engine.IO ping

        reset = ws_session(chat.port, "reset")
        reset.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reset.sock.close()  # RST

        joined(chat.port, "stayer", ["websocket"])
        wait_for_output(chat, "ping timeout")
        assert chat.stop() == 0
        silent.close()
    events = {e["user"]: e for e in consume(broker, topic, 5)}
    assert (events["polite"]["reason"], events["polite"]["code"]) == ("clean close", 1000)
    assert (events["coded"]["reason"], events["coded"]["code"]) == ("clean close", 4001)
    assert events["silent"]["reason"] == "ping timeout"
    assert 3.0 <= events["silent"]["duration"] < 6
    assert events["reset"]["reason"] == "tcp reset"
    assert events["stayer"]["reason"] == "server shutdown"
    for e in events.values():
        check_times(e)
        assert e["transport"] == "websocket"


def test_a_silent_broker_bounds_the_queue_and_cannot_hold_shutdown():
    """A broker that accepts connections and never answers: the producer waits on each record, so
    events pile up. The queue stops at ``max_queued`` (the rest are counted as dropped) and
    ``close`` returns within its timeout instead of waiting for the broker."""
    from servers.chat.disconnects import DisconnectLog

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections complete in the backlog; nothing is ever read or answered
    try:
        log = DisconnectLog(f"127.0.0.1:{silent.getsockname()[1]}", topic="t", max_queued=5, send_timeout=5)
        for i in range(50):
            log.record({"user": f"u{i}", "reason": "clean close"})
        assert log.queue.qsize() <= 5
        assert log.dropped >= 50 - 5 - 1  # at most one taken by the producing thread
        assert log.sent == 0
        started = time.monotonic()
        log.close(timeout=1.0)
        assert time.monotonic() - started < 20  # 3 steps of 1 s; it took 90 s when close waited on the broker
    finally:
        silent.close()
