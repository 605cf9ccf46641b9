"""N2: servers.sse as a real process: events, replay by Last-Event-ID, reset, heartbeats,
slow clients dropped, publish validation, ids kept across a graceful restart, curl."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import urllib.error

import pytest

from clients.sse import EventStream, StreamError
from tests.sse_support import publish, sse_child, stats
from tests.support import until, wait_until

pytestmark = pytest.mark.exercise("N2")


@pytest.fixture
def srv(tmp_path):
    with sse_child("--dir", str(tmp_path), "--buffer", "5", "--queue", "8", "--heartbeat", "0.2") as c:
        yield c


async def test_events_arrive_with_type_id_and_multiline_data(srv):
    s = await EventStream.open("127.0.0.1", srv.port)
    assert dict(s.head.headers)[b"cache-control"] == b"no-cache"
    await until(lambda: stats(srv.port)["clients"] == 1, what="subscribed")
    assert publish(srv.port, "line one\nline two", "greet") == 1
    assert publish(srv.port, {"n": 2}) == 2
    a, b = await s.next(), await s.next()
    assert (a.event, a.data, a.id) == ("greet", "line one\nline two", "1")
    assert (b.event, json.loads(b.data), b.id) == ("message", {"n": 2}, "2")
    assert s.parser.retry == 2000
    await s.aclose()


async def test_replay_from_last_event_id_then_live(srv):
    for i in range(1, 5):
        publish(srv.port, f"e{i}")
    s = await EventStream.open("127.0.0.1", srv.port, last_event_id="2")
    assert [(await s.next()).data for _ in range(2)] == ["e3", "e4"]
    publish(srv.port, "e5")
    assert (await s.next()).id == "5"
    await s.aclose()


async def test_an_id_older_than_the_buffer_gets_an_explicit_reset(srv):
    for i in range(8):  # the buffer keeps 5: ids 4..8
        publish(srv.port, f"e{i + 1}")
    s = await EventStream.open("127.0.0.1", srv.port, last_event_id="1")
    ev = await s.next()
    assert ev.event == "reset" and ev.id == "8"
    assert json.loads(ev.data) == {"reason": "id older than the replay buffer", "last_event_id": 1,
                                   "oldest": 4, "latest": 8}  # fmt: skip
    s2 = await EventStream.open("127.0.0.1", srv.port, last_event_id="3")  # just in: 4..8
    assert [(await s2.next()).id for _ in range(5)] == ["4", "5", "6", "7", "8"]
    for x in (s, s2):
        await x.aclose()


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "9" * 40, "3a", "\u0663"])
async def test_a_malformed_last_event_id_is_treated_as_absent(srv, bad):
    publish(srv.port, "old")
    s = await EventStream.open("127.0.0.1", srv.port, last_event_id=bad)
    await until(lambda: stats(srv.port)["clients"] == 1, what="subscribed")
    publish(srv.port, "new")
    ev = await s.next()
    assert ev.data == "new" and ev.event == "message"
    await s.aclose()


async def test_heartbeat_comments_keep_a_quiet_stream_alive(srv):
    s = await EventStream.open("127.0.0.1", srv.port)
    with pytest.raises(asyncio.TimeoutError):
        await s.next(timeout=0.7)  # no events, only comments
    assert s.parser.comments >= 2
    await s.aclose()


async def test_a_client_that_never_reads_is_dropped_and_others_get_everything(srv):
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", srv.port))
    slow.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    fast = await EventStream.open("127.0.0.1", srv.port)
    await until(lambda: stats(srv.port)["clients"] == 2, what="both subscribed")
    big = "x" * 60_000
    got = []
    for _ in range(60):  # 3.6 MB: far past the socket buffers, the write buffer and 8 queued
        publish(srv.port, big)
        got.append(await fast.next())
    await until(lambda: stats(srv.port)["dropped"] == 1, what="the slow client dropped")
    assert stats(srv.port)["clients"] == 1
    assert [e.id for e in got] == [str(i) for i in range(1, 61)]
    wait_until(lambda: "dropped: slow client: 8 events queued unread" in srv.output(), what="logged")
    slow.close()
    await fast.aclose()


@pytest.mark.parametrize("body, why", [
    (b"{}", b"expected a JSON object"), (b"[1]", b"expected a JSON object"), (b"nope", b"invalid JSON"),
    (b'{"data": 1, "event": "a\\nb"}', b"event must be"), (b'{"data": 1, "event": ""}', b"event must be"),
])  # fmt: skip
def test_bad_publish_is_400(srv, body, why):
    p = subprocess.run(["curl", "-sS", "-XPOST", "--data-binary", body, "-w", "%{http_code}",
                        f"http://127.0.0.1:{srv.port}/publish"], capture_output=True, timeout=10)  # fmt: skip
    assert p.stdout.endswith(b"400") and why in p.stdout


def test_curl_reads_the_stream(srv):
    p = subprocess.Popen(["curl", "-sSN", f"http://127.0.0.1:{srv.port}/events"], stdout=subprocess.PIPE)
    try:
        wait_until(lambda: stats(srv.port)["clients"] == 1, what="curl subscribed")
        publish(srv.port, "to curl", "note")
        lines = []
        while b"data: to curl\n" not in lines:
            lines.append(p.stdout.readline())  # type: ignore[union-attr]
        assert b"event: note\n" in lines and b"id: 1\n" in lines
    finally:
        p.kill()
        p.wait()


async def test_ids_go_on_after_a_graceful_restart_and_streams_end_cleanly(tmp_path):
    with sse_child("--dir", str(tmp_path)) as c:
        for i in range(3):
            publish(c.port, f"e{i + 1}")
        s = await EventStream.open("127.0.0.1", c.port)
        await until(lambda: stats(c.port)["clients"] == 1, what="subscribed")
        c.signal(signal.SIGTERM)
        with pytest.raises(StreamError):
            await s.next()  # the stream ends (after a comment), it is not cut
        assert s.parser.comments >= 1
        assert c.proc.wait(10) == 0
    with sse_child("--dir", str(tmp_path)) as c:
        s = await EventStream.open("127.0.0.1", c.port, last_event_id="2")
        assert (await s.next()).data == "e3"
        assert publish(c.port, "e4") == 4
        assert (await s.next()).id == "4"
        await s.aclose()


def test_publish_of_a_body_too_large_is_413(srv):
    with pytest.raises(urllib.error.HTTPError) as e:
        publish(srv.port, "x" * 70_000)
    assert e.value.code == 413
