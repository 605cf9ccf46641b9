"""N15-N17 attacked as a hostile user: each test here failed before its fix.

A request with no argument, or extra ones, must get its error in the ack (not a
handler's TypeError in the log and an ack that never comes)."""

from __future__ import annotations

import json

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


@pytest.mark.exercise("N17")
def test_the_star_survives_redis_killed_and_restarted_empty(tmp_path):
    """redis-server SIGKILLed mid-chat, then started again empty on its port: a message
    sent meanwhile gets an error ack (not a hang), the processes resubscribe, and the
    messages after that get new ids, reach both processes and are stored (they used
    to get ids 1, 2, ... again, which History.put dropped as duplicates after the ack)."""
    import threading
    import time

    from harness.services import RedisServer

    redis = RedisServer(tmp_path / "r0").start()
    port, url = redis.port, redis.url
    got: dict[int, list[tuple[int, str]]] = {0: [], 1: []}
    cond = threading.Condition()
    clients: list[socketio.Client] = []
    restarted: RedisServer | None = None

    def recorder(i: int):
        def record(m, *offset) -> None:
            with cond:
                got[i].append((m["id"], m["text"]))
                cond.notify_all()

        return record

    try:
        with chat_child("--redis", url, "--dir", str(tmp_path / "p0")) as p0, \
                chat_child("--redis", url, "--dir", str(tmp_path / "p1")) as p1:  # fmt: skip
            for i, proc in enumerate((p0, p1)):
                c = socketio.Client(reconnection=False)
                c.on("message", recorder(i))
                c.connect(f"http://127.0.0.1:{proc.port}")
                c.call("join", {"channel": "room", "user": f"u{i}"}, timeout=5)
                clients.append(c)
            before = [clients[n % 2].call("message", {"channel": "room", "text": f"pre{n}"}, timeout=5)["id"]
                      for n in range(3)]  # fmt: skip
            assert before == [1, 2, 3]
            redis.child.kill()
            answer = clients[0].call("message", {"channel": "room", "text": "during"}, timeout=5)
            assert "not stored" in answer["error"]
            restarted = RedisServer(tmp_path / "r1", port=port).start()
            after: list[int] = []
            deadline = time.monotonic() + 15
            while len(after) < 3 and time.monotonic() < deadline:
                a = clients[len(after) % 2].call("message", {"channel": "room", "text": f"post{len(after)}"},
                                                 timeout=5)  # fmt: skip
                if "id" in a:
                    after.append(a["id"])
                else:
                    time.sleep(0.3)  # the process is still reconnecting
            assert after == [4, 5, 6]
            want = [(1, "pre0"), (2, "pre1"), (3, "pre2"), (4, "post0"), (5, "post1"), (6, "post2")]
            with cond:
                assert cond.wait_for(lambda: got[0] == want and got[1] == want, 10), got
            for c in clients:
                c.disconnect()
            clients.clear()
        with chat_child("--dir", str(tmp_path / "p1")) as alone:  # stored on disk, too
            c = socketio.Client(reconnection=False)
            c.connect(f"http://127.0.0.1:{alone.port}")
            backlog = c.call("join", {"channel": "room", "user": "z"}, timeout=5)
            assert [(m["id"], m["text"]) for m in backlog] == want
            c.disconnect()
    finally:
        for c in clients:
            c.disconnect()
        redis.stop()
        if restarted is not None:
            restarted.stop()


@pytest.mark.exercise("N16")
def test_abandoned_sockets_kept_for_recovery_are_forgotten_when_their_window_ends():
    """Sessions opened, connected and abandoned (ping timeout): each is kept for recovery,
    but only for the window. They used to be purged only when some client came back
    with a pid, so a server whose clients never recover kept every one forever."""
    import asyncio
    import threading
    import time

    from netlib.http import App, serve
    from netlib.shell import ShellConfig
    from netlib.socketio.server import SocketIOServer
    from tests.chat_support import eio

    sio = SocketIOServer(recovery=2.0, ping_interval=0.2, ping_timeout=0.2)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict = {}

    async def main():
        app = App(access_log=False)
        sio.mount(app)
        holder["server"] = await serve(app, ShellConfig(port=0))
        holder["stop"] = stop = asyncio.Event()
        ready.set()
        await stop.wait()  # (ends main: stopping the loop under it raised in the thread)

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert ready.wait(10)
    port = holder["server"].address[1]
    kept = sio.namespaces["/"].kept

    def abandon(n: int) -> None:
        for _ in range(n):
            status, body = eio(port)
            sid = json.loads(body[1:])["sid"]
            assert eio(port, "POST", f"EIO=4&transport=polling&sid={sid}", b"40") == (200, "ok")
        deadline = time.monotonic() + 5
        while sio.clients and time.monotonic() < deadline:  # the ping timeouts end them
            time.sleep(0.05)
        assert not sio.clients

    try:
        abandon(50)
        assert len(kept) == 50  # within the window: recoverable
        time.sleep(2.2)  # the window is over
        abandon(1)
        assert len(kept) == 1
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


def test_a_connection_joins_at_most_max_channels(chat):
    """Joins without end would grow one connection's rooms and presence without bound."""
    from servers.chat.chat import MAX_CHANNELS

    c = socketio.Client(reconnection=False)
    c.connect(f"http://127.0.0.1:{chat.port}")
    try:
        for i in range(MAX_CHANNELS):
            assert c.call("join", {"channel": f"c{i}", "user": "ada"}, timeout=5) == []
        assert "at most" in c.call("join", {"channel": "one-too-many", "user": "ada"}, timeout=5)["error"]
        assert c.call("join", {"channel": "c0", "user": "ada"}, timeout=5) == []  # again: fine
        assert c.call("leave", {"channel": "c0"}, timeout=5) == {"ok": True}
        assert c.call("join", {"channel": "one-more", "user": "ada"}, timeout=5) == []
    finally:
        c.disconnect()


def test_a_post_to_a_session_on_a_websocket_is_refused(chat):
    """Once upgraded (or opened on a WebSocket) the session takes no polling POST (the
    reference server answers 400): it used to accept the packets as if they came
    from the client."""
    import websocket

    from tests.chat_support import eio

    ws = websocket.create_connection(f"ws://127.0.0.1:{chat.port}/socket.io/?EIO=4&transport=websocket",
                                     timeout=5)  # fmt: skip
    try:
        sid = json.loads(ws.recv()[1:])["sid"]
        status, body = eio(chat.port, "POST", f"EIO=4&transport=polling&sid={sid}", b"40")
        assert status == 400 and "upgraded" in body
        ws.send("40")
        assert ws.recv().startswith("40")  # the session is fine on its own transport
    finally:
        ws.close()
