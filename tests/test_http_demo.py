"""The demo server as a user runs it: ``python -m servers.http`` on a port, poked with
our client and raw sockets; it logs ``listening on`` and stops cleanly on SIGTERM,
also with an upgraded echo connection still open."""

import asyncio

from netlib.http import HTTPClient
from servers.catalog import SERVERS


async def test_demo_server_hello_echo_static_and_clean_stop(launch):
    child = launch("servers.http", "--log-level", "info")
    base = f"http://127.0.0.1:{child.port}"
    async with HTTPClient() as c:
        r = await c.get(base + "/hello")
        assert (r.status, r.body) == (200, b"Hello, world!\n")
        r = await c.post(base + "/echo", json={"x": [1, 2]})
        assert r.json() == {"x": [1, 2]}
        assert (await c.post(base + "/echo", json=3)).status == 422
        r = await c.get(base + "/static/")
        assert r.status == 200 and b"syslab" in r.body
        assert r.headers["content-type"].startswith("text/html")
        assert (await c.get(base + "/")).headers["location"] == "/static/"
    r, w = await asyncio.open_connection("127.0.0.1", child.port)
    w.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhi")
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert await asyncio.wait_for(r.readexactly(2), 5) == b"hi"
    assert child.stop() == 0  # the idle echo peer does not hold the shutdown
    assert await asyncio.wait_for(r.read(), 5) == b""
    w.close()
    out = child.output()
    assert f"listening on 127.0.0.1:{child.port}" in out
    assert '"GET /hello HTTP/1.1" 200 14' in out  # the access log
    assert SERVERS["http"].port == 8080
