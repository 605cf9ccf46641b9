"""N15: servers/chat with python-socketio's client (a Socket.IO client nobody here wrote).

The contract of issue 14: ``join`` (ack: the last 50 messages), ``message`` (ack:
the stored message with its id), the server's ``message`` to everyone in the
channel and ``presence`` with who is online; typing indicators; durable history
across a restart; bad requests answered in the ack, changing nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import socketio

from tests.chat_support import chat_child, stats

pytestmark = pytest.mark.exercise("N15")


class Peer:
    """A python-socketio client that records what the server emits to it."""

    def __init__(self, port: int, **kw: Any) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.events: dict[str, list[Any]] = {"message": [], "presence": [], "typing": []}
        self.cond = threading.Condition()
        for name in self.events:
            self.sio.on(name, self._recorder(name))
        self.sio.connect(f"http://127.0.0.1:{port}", **kw)

    def _recorder(self, name: str):
        def record(data: Any, *offset: Any) -> None:  # recovery appends the broadcast's offset
            with self.cond:
                self.events[name].append(data)
                self.cond.notify_all()

        return record

    def wait(self, name: str, pred, timeout: float = 10.0) -> Any:
        with self.cond:
            assert self.cond.wait_for(lambda: any(pred(e) for e in self.events[name]), timeout), (
                f"no {name} matching; got {self.events[name]}")
            return next(e for e in self.events[name] if pred(e))

    def call(self, event: str, data: Any) -> Any:
        return self.sio.call(event, data, timeout=10)

    def close(self) -> None:
        self.sio.disconnect()


@pytest.fixture
def chat(tmp_path):
    with chat_child("--dir", str(tmp_path)) as c:
        yield c


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
def test_two_clients_chat_with_acks_broadcast_and_presence(chat, transports):
    ada, bob = Peer(chat.port, transports=transports), Peer(chat.port, transports=transports)
    try:
        assert ada.call("join", {"channel": "general", "user": "ada"}) == []
        ada.wait("presence", lambda p: p == {"channel": "general", "users": ["ada"]})
        assert bob.call("join", {"channel": "general", "user": "bob"}) == []
        ada.wait("presence", lambda p: p["users"] == ["ada", "bob"])
        stored = ada.call("message", {"channel": "general", "text": "hello bob"})
        assert stored["id"] == 1 and stored["user"] == "ada" and stored["text"] == "hello bob"
        assert stored["channel"] == "general" and abs(stored["ts"] - time.time()) < 60
        assert bob.wait("message", lambda m: m["id"] == 1) == stored
        assert ada.wait("message", lambda m: m["id"] == 1) == stored  # the sender too
        reply = bob.call("message", {"channel": "general", "text": "hi ada"})
        assert reply["id"] == 2
        ada.wait("message", lambda m: m["id"] == 2)
        bob.sio.emit("typing", {"channel": "general", "typing": True})
        assert ada.wait("typing", lambda t: True) == {"channel": "general", "user": "bob", "typing": True}
        assert bob.events["typing"] == []  # not to the typist
        carol = Peer(chat.port, transports=transports)
        assert [m["text"] for m in carol.call("join", {"channel": "general", "user": "carol"})] == [
            "hello bob", "hi ada"]
        carol.close()
        ada.wait("presence", lambda p: p["users"] == ["ada", "bob"] and len(ada.events["presence"]) >= 4)
        if transports != ["polling"]:
            assert ada.sio.transport() == "websocket"  # upgraded (or opened) on the WebSocket
    finally:
        ada.close()
        bob.close()


def test_channels_are_rooms(chat):
    ada, bob = Peer(chat.port), Peer(chat.port)
    try:
        ada.call("join", {"channel": "random", "user": "ada"})
        bob.call("join", {"channel": "general", "user": "bob"})
        ada.call("message", {"channel": "random", "text": "only random"})
        bob.call("message", {"channel": "general", "text": "only general"})
        ada.wait("message", lambda m: m["text"] == "only random")
        bob.wait("message", lambda m: m["text"] == "only general")
        time.sleep(0.2)
        assert [m["text"] for m in ada.events["message"]] == ["only random"]
        assert [m["text"] for m in bob.events["message"]] == ["only general"]
    finally:
        ada.close()
        bob.close()


@pytest.mark.parametrize("event,payload,why", [
    ("join", "general", "expected an object"),
    ("join", {"channel": "general"}, "missing 'user'"),
    ("join", {"channel": "bad channel!", "user": "x"}, "channel"),
    ("join", {"channel": "general", "user": "x" * 33}, "user"),
    ("message", {"channel": "general", "text": "hi"}, "join 'general' first"),
    ("message", {"channel": "general"}, "missing 'text'"),
])  # fmt: skip
def test_bad_requests_are_answered_in_the_ack(chat, event, payload, why):
    p = Peer(chat.port)
    try:
        answer = p.call(event, payload)
        assert why in answer["error"]
        assert p.sio.connected  # only the request failed
    finally:
        p.close()


def test_too_long_and_wrong_user_are_refused(chat):
    p = Peer(chat.port)
    try:
        p.call("join", {"channel": "general", "user": "ada"})
        assert "text" in p.call("message", {"channel": "general", "text": "x" * 4001})["error"]
        assert "this connection is 'ada'" in p.call("join", {"channel": "other", "user": "eve"})["error"]
        assert p.call("join", {"channel": "general", "user": "ada"}) == []  # nothing was stored
    finally:
        p.close()


def test_join_returns_the_last_50_and_history_survives_a_restart(tmp_path):
    with chat_child("--dir", str(tmp_path)) as c:
        p = Peer(c.port)
        p.call("join", {"channel": "general", "user": "ada"})
        ids = [p.call("message", {"channel": "general", "text": f"m{i}"})["id"] for i in range(60)]
        assert ids == list(range(1, 61))
        p.close()
    with chat_child("--dir", str(tmp_path)) as c:
        p = Peer(c.port)
        backlog = p.call("join", {"channel": "general", "user": "bob"})
        assert [m["text"] for m in backlog] == [f"m{i}" for i in range(10, 60)]
        assert p.call("message", {"channel": "general", "text": "after"})["id"] == 61
        p.close()


def test_an_unknown_namespace_gets_connect_error(chat):
    sio = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(f"http://127.0.0.1:{chat.port}", namespaces=["/nope"], wait_timeout=5)
    sio.disconnect()


def test_presence_follows_disconnects(chat):
    ada, bob = Peer(chat.port), Peer(chat.port)
    ada.call("join", {"channel": "general", "user": "ada"})
    bob.call("join", {"channel": "general", "user": "bob"})
    ada.wait("presence", lambda p: p["users"] == ["ada", "bob"])
    bob.close()
    ada.wait("presence", lambda p: len(ada.events["presence"]) >= 3 and ada.events["presence"][-1]["users"] == ["ada"])
    assert stats(chat.port)["channels"] == {"general": ["ada"]}
    ada.close()


def test_the_chat_also_serves_the_plain_websocket_echo(chat):
    import websocket

    ws = websocket.create_connection(f"ws://127.0.0.1:{chat.port}/ws/echo", timeout=5)
    try:
        ws.send("héllo")
        assert ws.recv() == "héllo"
        ws.send_binary(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
    finally:
        ws.close()


def test_a_websocket_client_that_stops_reading_is_cut_off_not_buffered(tmp_path):
    import socket

    import websocket

    with chat_child("--dir", str(tmp_path), "--sync", "never") as c:
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", c.port))
        stuck.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")  # fmt: skip

        def frame(text: str) -> bytes:  # masked with the zero key: the payload as is
            data = text.encode()
            return bytes([0x81, 0xFE]) + len(data).to_bytes(2, "big") + b"\0\0\0\0" + data

        stuck.sendall(frame("40") + frame('420["join",{"channel":"flood","user":"stuck"}]'))
        # ... and never reads again
        sender = Peer(c.port, transports=["websocket"])
        sender.call("join", {"channel": "flood", "user": "sender"})
        text = "x" * 4000
        for i in range(4000):  # up to 16 MB towards the stuck reader (the kernel's buffers take ~4 MB first)
            sender.sio.emit("message", {"channel": "flood", "text": text})
            if i % 200 == 199 and "not reading" in c.output():
                break
        deadline = time.monotonic() + 30
        while "not reading" not in c.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "bytes unsent (not reading)" in c.output()
        still = sender.sio.call("message", {"channel": "flood", "text": "still here"}, timeout=60)  # after the flood
        assert still["text"] == "still here"
        sender.close()
        stuck.close()
        ws = websocket.create_connection(f"ws://127.0.0.1:{c.port}/ws/echo", timeout=5)  # the server is fine
        ws.send("ok")
        assert ws.recv() == "ok"
        ws.close()
