"""N5: servers.ec2 as a real process: pending -> running, short polls, long polls (200 on change,
304 on timeout), thousands of long polls held and leaving at once without a leak."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import struct
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.procs import python_module
from tests.support import until

pytestmark = pytest.mark.exercise("N5")


@pytest.fixture(scope="module")
def srv():
    with python_module("servers.ec2", "--delay", "0.3", "--no-access-log", port=0) as c:
        yield c


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def create(port: int, **kw: Any) -> dict[str, Any]:
    status, doc = call(port, "POST", "/instances", kw)
    assert status == 201, doc
    return doc  # type: ignore[no-any-return]


def fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_an_instance_goes_pending_then_running_seen_by_short_polls(srv):
    inst = create(srv.port, name="web-1")
    assert inst["state"] == "pending" and inst["id"].startswith("i-")
    polls = 0
    while (doc := call(srv.port, "GET", f"/instances/{inst['id']}")[1])["state"] == "pending":
        polls += 1
        time.sleep(0.05)  # the short-polling client's interval: what N5 measures
    assert doc["state"] == "running" and doc["version"] == 2 and polls >= 1
    assert doc["changed_at"] - doc["created_at"] >= 0.29


def test_a_long_poll_returns_as_soon_as_the_state_changes(srv):
    inst = create(srv.port, delay=0.5)
    status, doc = call(srv.port, "GET", f"/instances/{inst['id']}?wait=10&state=pending")
    seen = time.time()
    assert status == 200 and doc["state"] == "running"
    assert 0 <= seen - doc["changed_at"] < 0.25  # noticed at once, not at the next poll


def test_a_long_poll_that_times_out_is_304_without_a_body(srv):
    inst = create(srv.port, delay=60)
    t0 = time.monotonic()
    status, body = call(srv.port, "GET", f"/instances/{inst['id']}?wait=0.3&state=pending")
    assert status == 304 and body == "" and 0.29 <= time.monotonic() - t0 < 5
    status, doc = call(srv.port, "GET", f"/instances/{inst['id']}?wait=5&state=running")
    assert status == 200 and doc["state"] == "pending"  # not KNOWN: answered at once


def test_failed_outcome_and_terminate_wake_long_polls(srv):
    failing = create(srv.port, delay=0.1, outcome="failed")
    assert call(srv.port, "GET", f"/instances/{failing['id']}?wait=10&state=pending")[1]["state"] == "failed"
    slow = create(srv.port, delay=600)

    async def poll_and_terminate() -> tuple[int, Any]:
        poll = asyncio.create_task(asyncio.to_thread(call, srv.port, "GET", f"/instances/{slow['id']}?wait=20&state=pending"))
        await until(lambda: call(srv.port, "GET", "/stats")[1]["waiting"] >= 1, what="the poll waiting")
        call(srv.port, "DELETE", f"/instances/{slow['id']}")
        return await poll

    status, doc = asyncio.run(poll_and_terminate())
    assert status == 200 and doc["state"] == "terminated"


@pytest.mark.parametrize("path, why", [
    ("/instances/i-nope", "no such instance"),
    ("/instances/{id}?wait=abc&state=pending", "wait must be a number"),
    ("/instances/{id}?wait=-1&state=pending", "wait must be between"),
    ("/instances/{id}?wait=nan&state=pending", "wait must be between"),
    ("/instances/{id}?wait=999&state=pending", "wait must be between"),
    ("/instances/{id}?wait=1&state=bogus", "state must be one of"),
])  # fmt: skip
def test_bad_polls_are_refused(srv, path, why):
    inst = create(srv.port)
    status, body = call(srv.port, "GET", path.format(id=inst["id"]))
    assert status in (400, 404) and why in body


@pytest.mark.parametrize("body", [[1], {"delay": -1}, {"delay": "5"}, {"delay": True}, {"outcome": "exploded"},
                                  {"name": 5}, {"name": "x" * 200}])  # fmt: skip
def test_bad_creates_are_400(srv, body):
    assert call(srv.port, "POST", "/instances", body)[0] == 400


async def test_thousands_of_long_polls_held_then_leaving_at_once_leak_nothing(srv):
    """2000 polls held; they all reset their connections at once (SO_LINGER 0: RST) and are
    cleaned up at once; 200 more half-close politely (FIN), which HTTP allows a client that
    still wants its answer, so they are answered when their wait ends, then cleaned too."""
    n, polite = 2000, 200
    inst = create(srv.port, delay=600)
    base_fds = fds(srv.pid)
    base_tasks = call(srv.port, "GET", "/stats")[1]["tasks"]

    async def open_polls(count: int, wait: float) -> list[asyncio.StreamWriter]:
        request = f"GET /instances/{inst['id']}?wait={wait}&state=pending HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        out = []
        for _ in range(count // 200):
            pairs = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", srv.port) for _ in range(200)))
            for _, w in pairs:
                w.write(request)
                out.append(w)
        return out

    rude = await open_polls(n, 30)
    await until(lambda: call(srv.port, "GET", "/stats")[1]["waiting"] == n, what=f"{n} polls waiting")
    assert fds(srv.pid) >= base_fds + n
    for w in rude:
        w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()
    await until(lambda: call(srv.port, "GET", "/stats")[1]["waiting"] == 0, what="no poll waiting")
    nice = await open_polls(polite, 1)
    await until(lambda: call(srv.port, "GET", "/stats")[1]["waiting"] == polite, what="polite polls waiting")
    for w in nice:
        w.close()
    await until(lambda: call(srv.port, "GET", "/stats")[1]["waiting"] == 0, what="polite polls answered")
    await until(lambda: fds(srv.pid) <= base_fds, what="the fds closed")
    await until(lambda: call(srv.port, "GET", "/stats")[1]["tasks"] <= base_tasks, what="the tasks ended")


def test_shutdown_answers_held_polls_at_once():
    with python_module("servers.ec2", "--delay", "600", port=0) as c:
        inst = create(c.port)

        async def go() -> tuple[int, Any]:
            poll = asyncio.create_task(asyncio.to_thread(call, c.port, "GET", f"/instances/{inst['id']}?wait=30&state=pending"))
            await until(lambda: call(c.port, "GET", "/stats")[1]["waiting"] == 1, what="the poll waiting")
            t0 = time.monotonic()
            c.signal(signal.SIGTERM)
            result = await poll
            assert time.monotonic() - t0 < 5
            return result

        status, _ = asyncio.run(go())
        assert status == 304  # still pending: "no change", and the server goes away
        assert c.proc.wait(10) == 0
