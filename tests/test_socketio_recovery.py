"""Connection state recovery (Socket.IO v5 ``pid``/``offset``) on the wire, by hand over polling:
a socket whose transport died comes back with its sid and rooms and gets exactly the
broadcasts it missed; an unknown pid, a stale offset or an expired window starts afresh."""

from __future__ import annotations

import json
import time

import pytest

from tests.chat_support import chat_child, eio, handshake

pytestmark = pytest.mark.exercise("N15")


class Raw:
    """One Engine.IO polling session speaking Socket.IO by hand."""

    def __init__(self, port: int, connect: dict | None = None) -> None:
        self.port = port
        self.q = f"EIO=4&transport=polling&sid={handshake(port)['sid']}"
        self.post("40" + (json.dumps(connect) if connect else ""))
        self.connected = json.loads(self.until(lambda p: p.startswith("40"))[2:])

    def post(self, payload: str) -> None:
        assert eio(self.port, "POST", self.q, payload.encode()) == (200, "ok")

    def until(self, pred, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        self.seen: list[str] = getattr(self, "seen", [])
        while time.monotonic() < deadline:
            for p in self.seen:
                if pred(p):
                    self.seen.remove(p)
                    return p
            status, body = eio(self.port, query=self.q)
            assert status == 200, body
            self.seen += [p for p in body.split("\x1e") if p not in ("2",)]
            if "2" in body.split("\x1e"):
                self.post("3")
        raise AssertionError(f"not seen; got {self.seen}")

    def emit(self, ack: int, event: str, data: dict) -> object:
        self.post(f"42{ack}" + json.dumps([event, data]))
        return json.loads(self.until(lambda p: p.startswith(f"43{ack}["))[2 + len(str(ack)):])[0]

    def drop_transport(self) -> None:
        self.post("1")  # the Engine.IO session ends; the Socket.IO socket did not say goodbye


@pytest.fixture
def chat(tmp_path):
    with chat_child("--dir", str(tmp_path), "--recovery", "2") as c:
        yield c


def test_a_dropped_socket_recovers_its_sid_rooms_and_missed_broadcasts(chat):
    ada, bob = Raw(chat.port), Raw(chat.port)
    assert set(ada.connected) == {"sid", "pid"}
    ada.emit(1, "join", {"channel": "r", "user": "ada"})
    bob.emit(1, "join", {"channel": "r", "user": "bob"})
    bob.emit(2, "message", {"channel": "r", "text": "before"})
    _, _, offset = json.loads(ada.until(lambda p: p.startswith('42["message"') and '"before"' in p)[2:])
    ada.drop_transport()
    bob.emit(3, "message", {"channel": "r", "text": "missed 1"})
    bob.emit(4, "message", {"channel": "r", "text": "missed 2"})
    back = Raw(chat.port, {"pid": ada.connected["pid"], "offset": offset})
    assert back.connected == ada.connected  # the same sid (and pid): recovered
    m1 = json.loads(back.until(lambda p: '"missed 1"' in p)[2:])
    m2 = json.loads(back.until(lambda p: '"missed 2"' in p)[2:])
    assert int(offset) < int(m1[2]) < int(m2[2])
    assert not [p for p in back.seen if '"before"' in p or '"missed' in p]  # exactly the missed ones, once
    bob.emit(5, "message", {"channel": "r", "text": "live"})  # and its rooms came back
    back.until(lambda p: '"live"' in p)


def test_unknown_pid_stale_offset_and_expired_window_start_afresh(chat):
    fresh = Raw(chat.port, {"pid": "nope", "offset": "1"})
    assert fresh.connected["pid"] != "nope"
    a = Raw(chat.port)
    a.emit(1, "join", {"channel": "w", "user": "a"})
    a.drop_transport()
    stale = Raw(chat.port, {"pid": a.connected["pid"], "offset": "999999"})  # an offset never given
    assert stale.connected["sid"] != a.connected["sid"]
    b = Raw(chat.port)
    b.emit(1, "join", {"channel": "w", "user": "b"})
    b.drop_transport()
    time.sleep(2.5)  # past --recovery 2
    late = Raw(chat.port, {"pid": b.connected["pid"]})
    assert late.connected["sid"] != b.connected["sid"]
