"""N15-N17 attacked as a hostile user: each test here failed before its fix.

A request with no argument, or extra ones, must get its error in the ack (not a
handler's TypeError in the log and an ack that never comes)."""

from __future__ import annotations

import pytest
import socketio

from tests.chat_support import chat_child

pytestmark = pytest.mark.exercise("N15")


@pytest.fixture
def chat(tmp_path):
    with chat_child("--dir", str(tmp_path)) as c:
        yield c


@pytest.mark.parametrize("event", ["join", "message", "typing", "leave"])
def test_an_event_without_arguments_gets_its_error_in_the_ack(chat, event):
    c = socketio.Client(reconnection=False)
    c.connect(f"http://127.0.0.1:{chat.port}")
    try:
        # python-socketio sends no argument for data=None: "420[\"join\"]"
        assert "expected an object" in c.call(event, None, timeout=5)["error"]
        # a tuple is several arguments; the extra ones are ignored
        assert c.call("join", ({"channel": "general", "user": "ada"}, 5, "x"), timeout=5) == []
        assert c.connected
    finally:
        c.disconnect()


def test_a_second_upgrade_while_one_is_under_way_is_refused(chat):
    """Two WebSockets probing one polling sid: the second is closed (as the reference
    server does), not left open and silent beside the one that took the session."""
    import websocket

    from tests.chat_support import eio, handshake

    sid = handshake(chat.port)["sid"]
    q = f"EIO=4&transport=polling&sid={sid}"
    assert eio(chat.port, "POST", q, b"40") == (200, "ok")
    assert eio(chat.port, query=q)[1].startswith("40")
    url = f"ws://127.0.0.1:{chat.port}/socket.io/?EIO=4&transport=websocket&sid={sid}"
    first = websocket.create_connection(url, timeout=5)
    second = websocket.create_connection(url, timeout=5)
    try:
        first.send("2probe")
        assert first.recv() == "3probe"
        second.send("2probe")
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            if second.recv() in ("", b""):  # a close frame: no 3probe for it
                raise ConnectionError("closed")
        first.send("5")
        first.send('420["join",{"channel":"general","user":"ada"}]')
        assert any(first.recv().startswith("430[") for _ in range(2))
        assert "a second upgrade while one is under way" in chat.output()
    finally:
        first.close()
        second.close()
