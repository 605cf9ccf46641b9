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


def test_each_cause_is_classified_and_produced(broker, tmp_path):
    topic = f"disconnects-{uuid.uuid4().hex[:8]}"
    args = ("--dir", str(tmp_path), "--kafka", broker, "--topic", topic, "--ping-interval", "5",
            "--ping-timeout", "0.5")  # fmt: skip
    with chat_child(*args) as chat:
        clean = socketio.Client(reconnection=False)
        clean.connect(f"http://127.0.0.1:{chat.port}")
        clean.call("join", {"channel": "general", "user": "polite"}, timeout=10)
        time.sleep(0.2)
        clean.disconnect()  # a close packet: the goodbye

        raw_session(chat.port, "silent")  # stops: never polls, never pongs -> ping timeout after 5.5 s

        sid = raw_session(chat.port, "reset")
        pending_poll_then_reset(chat.port, sid)

        stays = socketio.Client(reconnection=False)
        stays.connect(f"http://127.0.0.1:{chat.port}")
        stays.call("join", {"channel": "general", "user": "stayer"}, timeout=10)
        deadline = time.monotonic() + 15
        while "ping timeout" not in chat.output() and time.monotonic() < deadline:
            time.sleep(0.1)
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
