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


def test_two_clients_chat_with_acks_broadcast_and_presence(chat):
    ada, bob = Peer(chat.port), Peer(chat.port)
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
        carol = Peer(chat.port)
        assert [m["text"] for m in carol.call("join", {"channel": "general", "user": "carol"})] == [
            "hello bob", "hi ada"]
        carol.close()
        ada.wait("presence", lambda p: p["users"] == ["ada", "bob"] and len(ada.events["presence"]) >= 4)
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
