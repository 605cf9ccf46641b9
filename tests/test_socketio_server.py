"""netlib.socketio's server in-process, driven by python-socketio's client: namespaces with
CONNECT and CONNECT_ERROR (auth), acks both ways, binary attachments both ways, rooms."""

from __future__ import annotations

import asyncio
import threading

import pytest
import socketio

from netlib.http import App, serve
from netlib.shell import ShellConfig
from netlib.socketio.server import Refused, SocketIOServer

pytestmark = pytest.mark.exercise("N15")


@pytest.fixture(scope="module")
def server():
    sio = SocketIOServer(recovery=None)
    got: dict[str, list] = {"client_acks": []}

    @sio.on("connect", namespace="/admin")
    def admin_connect(sock, auth):
        if auth.get("token") != "s3cret":
            raise Refused("not authorized", {"hint": "token"})

    @sio.on("whoami", namespace="/admin")
    def whoami(sock):
        return "admin", sock.sid

    @sio.on("echo")
    def echo(sock, *args):
        return args

    @sio.on("room")
    def room(sock, name):
        sock.join(name)
        return sio.emit("hello", name, to=name)

    @sio.on("ask_back")
    def ask_back(sock, question):
        sock.emit("question", question, callback=lambda *answer: got["client_acks"].append(answer))
        return "asked"

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict = {}

    async def main():
        app = App(access_log=False)
        sio.mount(app)
        holder["stop"] = stop = asyncio.Event()
        holder["server"] = server = await serve(app, ShellConfig(port=0))
        ready.set()
        await stop.wait()
        await server.shutdown(grace=1)

    t = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    t.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{holder['server'].address[1]}", got
    loop.call_soon_threadsafe(holder["stop"].set)  # the server shuts down, then main() ends
    t.join(10)
    assert not t.is_alive()
    loop.close()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
def test_acks_and_binary_both_ways(server, transports):
    url, got = server
    c = socketio.Client(reconnection=False)
    c.on("question", lambda q: f"answer to {q}")
    c.connect(url, transports=transports)
    try:
        blob = bytes(range(256)) * 10
        assert c.call("echo", ("text", {"nested": [blob, 1]}, blob)) == ("text", {"nested": [blob, 1]}, blob)
        assert c.call("ask_back", "life?") == "asked"
        for _ in range(100):
            if got["client_acks"]:
                break
            threading.Event().wait(0.05)
        assert ("answer to life?",) in got["client_acks"]
    finally:
        c.disconnect()


def test_namespaces_connect_with_auth_and_refuse_without(server):
    url, _ = server
    ok = socketio.Client(reconnection=False)
    ok.connect(url, namespaces=["/", "/admin"], auth={"token": "s3cret"})
    try:
        role, sid = ok.call("whoami", namespace="/admin")
        assert role == "admin" and sid == ok.get_sid("/admin") and sid != ok.get_sid("/")
    finally:
        ok.disconnect()
    errors = []
    bad = socketio.Client(reconnection=False)
    bad.on("connect_error", lambda data: errors.append(data), namespace="/admin")
    with pytest.raises(socketio.exceptions.ConnectionError):
        bad.connect(url, namespaces=["/admin"], auth={"token": "wrong"}, wait_timeout=5)
    bad.disconnect()
    assert errors and errors[0]["message"] == "not authorized" and errors[0]["data"] == {"hint": "token"}


def test_rooms_scope_a_broadcast(server):
    url, _ = server
    a, b = socketio.Client(reconnection=False), socketio.Client(reconnection=False)
    seen: dict[str, list] = {"a": [], "b": []}
    a.on("hello", lambda x: seen["a"].append(x))
    b.on("hello", lambda x: seen["b"].append(x))
    a.connect(url)
    b.connect(url)
    try:
        assert a.call("room", "r1") == 1
        assert b.call("room", "r2") == 1
        assert a.call("room", "r2") == 2  # now both are in r2
        for _ in range(100):
            if len(seen["a"]) == 2 and len(seen["b"]) == 2:
                break
            threading.Event().wait(0.05)
        assert seen == {"a": ["r1", "r2"], "b": ["r2", "r2"]}
    finally:
        a.disconnect()
        b.disconnect()
