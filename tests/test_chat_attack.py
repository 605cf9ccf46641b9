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
