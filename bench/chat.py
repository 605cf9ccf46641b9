"""The chat (N15, N17): connections held, broadcast latency, messages/s through the star.

``make bench-chat`` (``python -m bench.chat [--clients 2000] [--messages 20] [--rounds 2]
[--star-messages 2000]``)

1. **Held connections and broadcast latency**, ours (``python -m servers.chat``)
   against python-socketio's ``AsyncServer`` on aiohttp (the reference: the same
   ``join``/``message`` contract in a dozen lines, a child of this module). N
   clients join one channel over Engine.IO long-polling, each a small asyncio
   loop on one keep-alive connection (GET, answer pings with a POST ``3``, GET
   again), so the client side stays cheap. The server's RSS before and after gives
   the memory per connection. Then one client sends M messages, one at a time: the
   time from just before its POST to each client reading the broadcast gives p50,
   p99 over N x M samples. Rounds interleave the two servers.
2. **The star**: three ``servers.chat --redis`` processes around a private
   redis-server, 10 clients on each; S messages sent from all three processes at
   once; the rate at which every client has them all is messages/s delivered
   (each message counts once, however many processes and clients got it).

The client side runs in this process on the same machine, its wake-ups inside
the figures for both servers alike; polling costs a request per delivery, so
the latency includes an HTTP round trip (a WebSocket client would not).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.procs import Child, free_port, python_module

from .common import Row, header, interleaved, measured, percentile, save, table
from .http_streams import raise_fd_limit, rss_kib

BATCH = 200  # clients connecting at once


# -- the reference server (a child: python -m bench.chat --serve-reference PORT) -------------
def serve_reference(port: int) -> None:
    import socketio
    from aiohttp import web

    raise_fd_limit(0)
    sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=25, ping_timeout=20)
    app = web.Application()
    sio.attach(app)
    last: dict[str, int] = {}

    @sio.on("join")
    async def join(sid: str, data: dict[str, Any]) -> list[Any]:
        await sio.enter_room(sid, data["channel"])
        return []

    @sio.on("message")
    async def message(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        ch = data["channel"]
        last[ch] = last.get(ch, 0) + 1
        msg = {"id": last[ch], "channel": ch, "user": "u", "text": data["text"], "ts": time.time()}
        await sio.emit("message", msg, room=ch)
        return msg

    print(f"listening on 127.0.0.1:{port}", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- a cheap polling client ---------------------------------------------------------------------
class PollClient:
    """Engine.IO v4 long-polling by hand on one keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sid = ""
        self.seen: dict[int, float] = {}  # message id -> when read
        self.acks: dict[int, Any] = {}
        self.task: asyncio.Task[None] | None = None

    async def _request(self, method: str, query: str, body: bytes = b"") -> str:
        head = (f"{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: x\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
        self.w.write(head.encode() + body)
        status = await self.r.readline()
        length = 0
        while (line := await self.r.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.r.readexactly(length)
        if b" 200 " not in status:
            raise ConnectionError(f"{status!r} {data[:100]!r}")
        return data.decode()

    async def connect(self, channel: str) -> None:
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        opened = await self._request("GET", "")
        self.sid = json.loads(opened[1:])["sid"]
        q = f"&sid={self.sid}"
        await self._request("POST", q, b"40")
        await self._request("POST", q, b"420" + json.dumps(["join", {"channel": channel, "user": "b"}]).encode())
        while 0 not in self.acks:
            self._take(await self._request("GET", q))

    def _take(self, payload: str) -> list[str]:
        pongs = []
        now = time.perf_counter()
        for p in payload.split("\x1e"):
            if p == "2":
                pongs.append("3")
            elif p.startswith("42"):
                ev = json.loads(p[2:])
                if ev[0] == "message":
                    self.seen.setdefault(ev[1]["id"], now)
            elif p.startswith("43"):
                i = 2
                while p[i].isdigit():
                    i += 1
                self.acks[int(p[2:i])] = json.loads(p[i:])
        return pongs

    async def send(self, ack: int, channel: str, text: str) -> None:
        body = f"42{ack}" + json.dumps(["message", {"channel": channel, "text": text}])
        await self._request("POST", f"&sid={self.sid}", body.encode())

    async def poll_forever(self) -> None:
        q = f"&sid={self.sid}"
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            while True:
                for pong in self._take(await self._request("GET", q)):
                    await self._request("POST", q, pong.encode())

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.w.close()


# -- 1. held connections and broadcast latency ----------------------------------------------------
async def _fanout(port: int, pid: int, clients: int, messages: int) -> dict[str, float]:
    base = rss_kib(pid)
    held: list[PollClient] = []
    for i in range(0, clients, BATCH):
        batch = [PollClient(port) for _ in range(min(BATCH, clients - i))]
        await asyncio.gather(*(c.connect("bench") for c in batch))
        held += batch
    for c in held:
        c.task = asyncio.ensure_future(c.poll_forever())
    await asyncio.sleep(0.3)
    per_conn = (rss_kib(pid) - base) * 1024 / clients
    sender = PollClient(port)
    await sender.connect("bench")
    sender.task = asyncio.ensure_future(sender.poll_forever())
    lat: list[float] = []
    s2 = PollClient(port)  # the sender's POSTs on their own connection (its GET is pending)
    s2.r, s2.w, s2.sid = *(await asyncio.open_connection("127.0.0.1", port)), sender.sid
    for k in range(messages):
        t0 = time.perf_counter()
        await s2.send(k + 1, "bench", f"m{k}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = [c.seen.get(k + 1) for c in held]
            if all(g is not None for g in got):
                break
            await asyncio.sleep(0.002)
        else:
            raise RuntimeError(f"message {k + 1} did not reach every client")
        lat += [g - t0 for g in got if g is not None]
    for c in [*held, sender, s2]:
        c.close()
    return {"p50": percentile(lat, 50) * 1000, "p99": percentile(lat, 99) * 1000,
            "rss": per_conn}  # fmt: skip


def fanout_round(child: Child, clients: int, messages: int) -> dict[str, float]:
    return asyncio.run(_fanout(child.port, child.pid, clients, messages))  # type: ignore[arg-type]


# -- 2. the star ----------------------------------------------------------------------------
async def _star(ports: list[int], per_proc: int, messages: int) -> float:
    clients = [PollClient(p) for p in ports for _ in range(per_proc)]
    await asyncio.gather(*(c.connect("star") for c in clients))
    for c in clients:
        c.task = asyncio.ensure_future(c.poll_forever())
    senders = []
    for p in ports:
        s = PollClient(p)
        await s.connect("star")
        s.task = asyncio.ensure_future(s.poll_forever())
        post = PollClient(p)
        post.r, post.w, post.sid = *(await asyncio.open_connection("127.0.0.1", p)), s.sid
        senders.append((s, post))
    t0 = time.perf_counter()

    async def send_all(post: PollClient, n: int) -> None:
        for k in range(n):
            await post.send(k + 1, "star", f"s{k}")

    share = messages // len(senders)
    await asyncio.gather(*(send_all(post, share) for _, post in senders))
    want = share * len(senders)
    deadline = time.monotonic() + 60
    while not all(len(c.seen) >= want for c in clients):
        if time.monotonic() > deadline:
            raise RuntimeError("the star did not deliver every message to every client")
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.close()
    for s, post in senders:
        s.close()
        post.close()
    return share * len(senders) / elapsed


def star_rate(per_proc: int, messages: int, rounds: int) -> list[float]:
    from harness.services import RedisServer

    out = []
    with RedisServer() as redis, tempfile.TemporaryDirectory() as d:
        procs = [python_module("servers.chat", "--redis", redis.url, "--dir", f"{d}/p{i}", "--no-access-log",
                               "--log-level", "warning", port=0).start() for i in range(3)]  # fmt: skip
        try:
            for _ in range(rounds):
                out.append(asyncio.run(_star([p.port for p in procs], per_proc, messages)))  # type: ignore[misc]
        finally:
            for p in procs:
                p.stop()
                p.close()
    return out


# -- main -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--messages", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--star-clients", type=int, default=10, help="clients per star process")
    p.add_argument("--star-messages", type=int, default=2000)
    p.add_argument("--serve-reference", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_reference:
        serve_reference(args.serve_reference)
        return 0
    raise_fd_limit(args.clients * 2 + 200)
    print(header(f"chat: {args.clients} polling clients, {args.messages} broadcasts; the star"))
    with tempfile.TemporaryDirectory() as d:
        ours = python_module("servers.chat", "--dir", d, "--no-access-log", "--log-level", "warning",
                             "--max-connections", str(args.clients + 100), port=0).start()  # fmt: skip
        ref_port = free_port()
        ref = Child([sys.executable, "-m", "bench.chat", "--serve-reference", str(ref_port)], port=ref_port,
                    name="python-socketio", cwd=Path(__file__).resolve().parent.parent,
                    ready_line=None).start()  # fmt: skip
        try:
            runs = interleaved({"syslab": lambda: fanout_round(ours, args.clients, args.messages),
                                "python-socketio": lambda: fanout_round(ref, args.clients, args.messages)},
                               args.rounds)  # fmt: skip
        finally:
            for c in (ours, ref):
                c.stop()
                c.close()
    n = args.clients
    rows: list[Row] = []
    for impl, rs in runs.items():
        rows.append(measured(f"broadcast p50 ({n})", impl, [r["p50"] for r in rs], "ms"))
        rows.append(measured(f"broadcast p99 ({n})", impl, [r["p99"] for r in rs], "ms"))
        rows.append(measured(f"RSS per conn ({n})", impl, [r["rss"] for r in rs], "bytes"))
    star = star_rate(args.star_clients, args.star_messages, args.rounds)
    rows.append(measured(f"star msgs/s (3x{args.star_clients})", "syslab", star, "msg/s"))
    print(table(rows, "python-socketio", higher_is_better=False))
    print("(the star row: higher is better; no reference)")
    path = save("chat", rows, clients=n, messages=args.messages, star_messages=args.star_messages)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
