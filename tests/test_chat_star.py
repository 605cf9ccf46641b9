"""N17: three servers.chat processes around one real redis-server (the star).

Clients spread over the three; messages sent to every process reach every client
exactly once, in id order per channel, with ids that only grow per channel;
presence is global (a user on process 3 is online for a client of process 1);
a process started later has the history for its joins."""

from __future__ import annotations

import contextlib
import signal
import uuid

import pytest

from tests.chat_support import chat_child
from tests.test_chat import Peer

pytestmark = pytest.mark.exercise("N17")


@pytest.fixture
def star(redis_addr, tmp_path):
    url = f"redis://{redis_addr.host}:{redis_addr.port}/0"
    prefix = f"t{uuid.uuid4().hex[:8]}"  # the channels of this test only
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(chat_child("--redis", url, "--dir", str(tmp_path / f"p{i}")))
                 for i in range(3)]  # fmt: skip
        yield procs, prefix, url, tmp_path


def test_messages_reach_every_process_once_in_order_and_presence_is_global(star):
    procs, prefix, _, _ = star
    a, b = f"{prefix}-a", f"{prefix}-b"
    peers = [Peer(procs[i % 3].port) for i in range(6)]  # two clients per process
    try:
        for i, p in enumerate(peers):
            p.call("join", {"channel": a, "user": f"u{i}"})
            if i % 2:
                p.call("join", {"channel": b, "user": f"u{i}"})
        peers[0].wait("presence", lambda e: e["channel"] == a and len(e["users"]) == 6)
        peers[1].wait("presence", lambda e: e["channel"] == b and e["users"] == ["u1", "u3", "u5"])
        sent: dict[str, list[int]] = {a: [], b: []}
        for n in range(30):  # from every process, interleaved over two channels
            p = peers[n % 6]
            ch = b if n % 2 and n % 3 == 0 else a
            if ch == b and n % 2 == 0:
                ch = a
            ack = p.call("message", {"channel": ch, "text": f"{ch} #{n}"})
            assert "id" in ack, ack
            sent[ch].append(ack["id"])
        for ch in (a, b):
            assert sent[ch] == list(range(1, len(sent[ch]) + 1))  # one counter per channel, for the star
        for i, p in enumerate(peers):
            channels = (a, b) if i % 2 else (a,)
            for ch in channels:
                last = sent[ch][-1]
                p.wait("message", lambda m, ch=ch, last=last: m["channel"] == ch and m["id"] == last)
            for ch in channels:
                got = [m["id"] for m in p.events["message"] if m["channel"] == ch]
                assert got == sent[ch], f"client {i} on {ch}"  # exactly once, in order
            assert all(m["channel"] in channels for m in p.events["message"])
    finally:
        for p in peers:
            p.close()
    # presence is global: everyone left, every process shows it
    watcher = Peer(procs[2].port)
    assert watcher.call("join", {"channel": a, "user": "watcher"})[-1]["text"].startswith(a)
    watcher.wait("presence", lambda e: e["channel"] == a and e["users"] == ["watcher"])
    watcher.close()


def test_a_process_started_later_has_the_history(star):
    procs, prefix, url, tmp_path = star
    ch = f"{prefix}-late"
    p = Peer(procs[0].port)
    p.call("join", {"channel": ch, "user": "early"})
    for i in range(5):
        p.call("message", {"channel": ch, "text": f"m{i}"})
    p.close()
    with chat_child("--redis", url, "--dir", str(tmp_path / "late")) as late:
        q = Peer(late.port)
        assert [m["text"] for m in q.call("join", {"channel": ch, "user": "late"})] == [f"m{i}" for i in range(5)]
        assert q.call("message", {"channel": ch, "text": "next"})["id"] == 6
        q.close()


def test_the_users_of_a_killed_process_go_offline_within_the_presence_ttl(redis_addr, tmp_path):
    """A process SIGKILLed (no -1 for its connections) leaves its users in the presence hash;
    its heartbeat stops, so once its presence TTL has run out the next sweep of a live
    process takes them out and publishes the list: offline within TTL + a heartbeat."""
    url = f"redis://{redis_addr.host}:{redis_addr.port}/0"
    ch = f"t{uuid.uuid4().hex[:8]}-crash"
    ttl = ("--presence-ttl", "1")
    with chat_child("--redis", url, "--dir", str(tmp_path / "a"), *ttl) as a, \
            chat_child("--redis", url, "--dir", str(tmp_path / "b"), *ttl) as b:  # fmt: skip
        watcher, bob = Peer(a.port), Peer(b.port)
        try:
            watcher.call("join", {"channel": ch, "user": "watcher"})
            bob.call("join", {"channel": ch, "user": "bob"})
            watcher.wait("presence", lambda e: e["channel"] == ch and e["users"] == ["bob", "watcher"])
            with watcher.cond:
                watcher.events["presence"].clear()  # what follows the crash only
            b.kill()
            watcher.wait("presence", lambda e: e["channel"] == ch and e["users"] == ["watcher"],
                         timeout=15)  # fmt: skip
            # a process joining now sees the live users only
            with chat_child("--redis", url, "--dir", str(tmp_path / "c"), *ttl) as c:
                late = Peer(c.port)
                late.call("join", {"channel": ch, "user": "late"})
                late.wait("presence", lambda e: e["channel"] == ch and e["users"] == ["late", "watcher"])
                late.close()
        finally:
            watcher.close()
            with contextlib.suppress(Exception):  # its server is gone
                bob.close()


def test_the_users_of_a_process_paused_past_its_ttl_come_back_when_it_resumes(redis_addr, tmp_path):
    """SIGSTOP past the presence TTL: a live process sweeps the paused one's users out.
    SIGCONT: its next heartbeat finds itself swept (ZADD added it again) and writes its
    counts again, so its users, still connected, are online again."""
    url = f"redis://{redis_addr.host}:{redis_addr.port}/0"
    ch = f"t{uuid.uuid4().hex[:8]}-pause"
    ttl = ("--presence-ttl", "1")
    with chat_child("--redis", url, "--dir", str(tmp_path / "a"), *ttl) as a, \
            chat_child("--redis", url, "--dir", str(tmp_path / "b"), *ttl) as b:  # fmt: skip
        watcher, bob = Peer(a.port), Peer(b.port)
        assert b.proc is not None
        try:
            watcher.call("join", {"channel": ch, "user": "watcher"})
            bob.call("join", {"channel": ch, "user": "bob"})
            watcher.wait("presence", lambda e: e["channel"] == ch and e["users"] == ["bob", "watcher"])
            with watcher.cond:
                watcher.events["presence"].clear()
            b.proc.send_signal(signal.SIGSTOP)
            try:
                watcher.wait("presence", lambda e: e["channel"] == ch and e["users"] == ["watcher"],
                             timeout=15)  # fmt: skip
            finally:
                b.proc.send_signal(signal.SIGCONT)
            watcher.wait("presence", lambda e: e["channel"] == ch and e["users"] == ["bob", "watcher"],
                         timeout=15)  # fmt: skip
        finally:
            watcher.close()
            bob.close()
