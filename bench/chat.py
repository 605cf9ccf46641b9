"""The chat (N15, N17): connections held, broadcast latency, messages/s through the star.

``make bench-chat`` (``python -m bench.chat [--clients 10000] [--reference-clients 2000]
[--messages 20] [--rounds 2] [--star-messages 2000]``)

1. **Held connections and broadcast latency**, ours (``python -m servers.chat``)
   against python-socketio's ``AsyncServer`` on aiohttp (the reference: the same
   ``join``/``message`` contract in a dozen lines, a child of this module). N
   clients join one channel, each an Engine.IO session on its own WebSocket (an
   asyncio protocol in this process that answers pings and records what it
   reads, no task per client). The server's RSS before and after gives
   the memory per connection. Then one client sends M messages, one at a time: the
   time from just before its POST to each client reading the broadcast gives p50,
   p99 over N x M samples. Rounds interleave the two servers, each round a fresh
   process. python-socketio is compared at ``--reference-clients`` (2,000): at
   10,000 on this shared machine its joins outlast any sane timeout, so the
   10,000 rows are ours alone.
2. **The star**: three ``servers.chat --redis`` processes around a private
   redis-server, 10 clients on each; S messages sent from all three processes at
   once; the rate at which every client has them all is messages/s delivered
   (each message counts once, however many processes and clients got it). Run
   with the history's default ``--sync always`` (each process fsyncs every
   message before delivering it) and with ``--sync never``, to show what the
   fsync costs.

The client side runs in this process on the same machine, its wake-ups inside
the figures for both servers alike.

A run here (2 shared cores, load average ~11 from other work; medians of 2
rounds, min..max in the JSON): at 2,000 clients ours 259 ms p50 / 552 ms p99
and 15.0 kB RSS per connection, python-socketio on aiohttp 602 / 2,198 ms and
30.9 kB; at 10,000 clients ours 590 ms p50 / 2,088 ms p99, 15.2 kB per
connection, none dropped. The star: 178 msg/s delivered to all 30 clients with
the per-message fsync, 389 msg/s without it. A broadcast is encoded and framed
once (``EngineServer.broadcast``), so the per-socket cost is one write; the
rest is this one Python process reading 10,000 sockets (and the client side,
also Python, parsing what they get).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from harness.procs import Child, free_port, python_module

from .common import Row, header, interleaved, measured, median_bars, percentile, save, table
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


# -- a cheap WebSocket client ------------------------------------------------------------------
class WSClient(asyncio.Protocol):
    """Engine.IO over one WebSocket by hand: an asyncio protocol, no task per client.

    Frames it sends are masked with the all-zero key (legal, RFC 6455 5.3: the
    payload is then unchanged), so sending costs no XOR; frames it reads are the
    server's unmasked text frames."""

    lost_total = 0  # clients whose connection ended before the bench closed it (all instances)

    def __init__(self, channel: str, arrived: Callable[[int], None] | None = None) -> None:
        self.channel = channel
        self.closing = False
        self.arrived = arrived  # called with each new message id
        self.buf = bytearray()
        self.upgraded = False
        self.joined = asyncio.get_running_loop().create_future()
        self.seen: dict[int, float] = {}  # message id -> when read
        self.acks = 0
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, port: int, channel: str, arrived: Callable[[int], None] | None = None) -> WSClient:
        loop = asyncio.get_running_loop()
        _, c = await loop.create_connection(lambda: cls(channel, arrived), "127.0.0.1", port)
        await asyncio.wait_for(c.joined, 30)
        return c

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        t = self.transport = cast(asyncio.Transport, transport)
        t.write(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                             b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")  # fmt: skip

    def send(self, text: str) -> None:
        data = text.encode()
        n = len(data)
        head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
        assert self.transport is not None
        self.transport.write(head + b"\0\0\0\0" + data)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in self.buf[:end]:
                self.joined.set_exception(ConnectionError(bytes(self.buf[:80])))
                return
            del self.buf[: end + 4]
            self.upgraded = True
        while len(self.buf) >= 2:
            n, at = self.buf[1] & 0x7F, 2
            if n == 126:
                n, at = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                n, at = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < at + n:
                return
            opcode, payload = self.buf[0] & 0x0F, bytes(self.buf[at : at + n])
            del self.buf[: at + n]
            if opcode == 1:
                self.packet(payload.decode())

    def packet(self, p: str) -> None:
        if p == "2":
            self.send("3")
        elif p.startswith("42"):
            ev = json.loads(p[2:])
            if ev[0] == "message" and ev[1]["id"] not in self.seen:
                self.seen[ev[1]["id"]] = time.perf_counter()
                if self.arrived is not None:
                    self.arrived(ev[1]["id"])
        elif p.startswith("43"):
            self.acks += 1
            if not self.joined.done():
                self.joined.set_result(None)
        elif p.startswith("40"):
            self.send("420" + json.dumps(["join", {"channel": self.channel, "user": "b"}]))
        elif p.startswith("0"):
            self.send("40")

    def message(self, ack: int, text: str) -> None:
        self.send(f"42{ack}" + json.dumps(["message", {"channel": self.channel, "text": text}]))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            WSClient.lost_total += 1
        if not self.joined.done():
            self.joined.set_exception(ConnectionError("closed before the join's ack"))

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


# -- 1. held connections and broadcast latency ----------------------------------------------------
class Arrivals:
    """How many clients have each message id; an event once all ``want`` do."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.counts: dict[int, int] = {}
        self.all_in: dict[int, asyncio.Event] = {}

    def event(self, msg_id: int) -> asyncio.Event:
        return self.all_in.setdefault(msg_id, asyncio.Event())

    def __call__(self, msg_id: int) -> None:
        n = self.counts[msg_id] = self.counts.get(msg_id, 0) + 1
        if n == self.want:
            self.event(msg_id).set()


async def _fanout(port: int, pid: int, clients: int, messages: int) -> dict[str, float]:
    WSClient.lost_total = 0
    base = rss_kib(pid)
    arrivals = Arrivals(clients)
    held: list[WSClient] = []
    for i in range(0, clients, BATCH):
        n = min(BATCH, clients - i)
        held += await asyncio.gather(*(WSClient.open(port, "bench", arrivals) for _ in range(n)))
    await asyncio.sleep(0.3)
    per_conn = (rss_kib(pid) - base) * 1024 / clients
    sender = await WSClient.open(port, "bench")
    lat: list[float] = []
    for k in range(messages):
        t0 = time.perf_counter()
        sender.message(k + 1, f"m{k}")
        while not sender.seen:  # its id, as the server numbered it (ids go on across rounds)
            await asyncio.sleep(0.0005)
        msg_id = max(sender.seen)
        deadline = time.monotonic() + 60  # every client still connected must have it
        while arrivals.counts.get(msg_id, 0) < clients - WSClient.lost_total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"message {msg_id} reached {arrivals.counts.get(msg_id)} of {clients}")
            await asyncio.sleep(0.002)
        lat += [c.seen[msg_id] - t0 for c in held if msg_id in c.seen]
        sender.seen.clear()
    for c in [*held, sender]:
        c.close()
    return {"p50": percentile(lat, 50) * 1000, "p99": percentile(lat, 99) * 1000,
            "rss": per_conn, "dropped": WSClient.lost_total}  # fmt: skip


def fanout_round(child: Child, clients: int, messages: int) -> dict[str, float]:
    """One measurement against a started child."""
    return asyncio.run(_fanout(child.port, child.pid, clients, messages))  # type: ignore[arg-type]


# -- 2. the star ----------------------------------------------------------------------------
async def _star(ports: list[int], per_proc: int, messages: int) -> float:
    senders = [await WSClient.open(p, "star") for p in ports]
    share = messages // len(senders)
    want = share * len(senders)
    arrivals = Arrivals(per_proc * len(ports))
    done = 0
    everyone = asyncio.Event()

    def arrived(msg_id: int) -> None:
        nonlocal done
        before = arrivals.counts.get(msg_id, 0)
        arrivals(msg_id)
        if before + 1 == arrivals.want:
            done += 1
            if done == want:
                everyone.set()

    clients = [await WSClient.open(p, "star", arrived) for p in ports for _ in range(per_proc)]
    t0 = time.perf_counter()
    for k in range(share):  # from the three processes at once
        for s in senders:
            s.message(k + 1, f"s{k}")
        if k % 50 == 49:
            await asyncio.sleep(0)
    try:
        await asyncio.wait_for(everyone.wait(), 120)
    except TimeoutError:
        raise RuntimeError(f"the star delivered {done} of {want} messages to every client") from None
    elapsed = time.perf_counter() - t0
    for c in [*clients, *senders]:
        c.close()
    return want / elapsed


def star_rate(per_proc: int, messages: int, rounds: int, sync: str) -> list[float]:
    from harness.services import RedisServer

    out = []
    with RedisServer() as redis, tempfile.TemporaryDirectory() as d:
        procs = [python_module("servers.chat", "--redis", redis.url, "--dir", f"{d}/p{i}", "--no-access-log",
                               "--log-level", "warning", "--sync", sync, port=0).start() for i in range(3)]  # fmt: skip
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
    p.add_argument("--clients", type=int, default=10000)
    p.add_argument("--reference-clients", type=int, default=2000,
                   help="the size compared with python-socketio (which cannot hold 10,000 here in time)")  # fmt: skip
    p.add_argument("--messages", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--star-clients", type=int, default=10, help="clients per star process")
    p.add_argument("--star-messages", type=int, default=2000)
    p.add_argument("--serve-reference", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_reference:
        serve_reference(args.serve_reference)
        return 0
    raise_fd_limit(args.clients + 500)  # this process holds the clients; the servers inherit the limit
    print(header(f"chat: {args.clients} WebSocket clients, {args.messages} broadcasts; the star"))
    def ours(n: int) -> Child:
        return python_module("servers.chat", "--dir", tempfile.mkdtemp(prefix="bench-chat-"), "--no-access-log",
                             "--log-level", "warning", "--max-connections", str(n + 100), port=0)  # fmt: skip

    def reference(n: int) -> Child:
        port = free_port()
        return Child([sys.executable, "-m", "bench.chat", "--serve-reference", str(port)], port=port,
                     name="python-socketio", cwd=Path(__file__).resolve().parent.parent)  # fmt: skip

    def one_round(make: Callable[[int], Child], n: int) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            with make(n) as child:  # a fresh process each round: its RSS grows from a clean start
                return fanout_round(child, n, args.messages)

        return run

    rows: list[Row] = []
    sizes = sorted({min(args.reference_clients, args.clients), args.clients})
    for n in sizes:
        runners = {"syslab": one_round(ours, n)}
        if n <= args.reference_clients:
            runners["python-socketio"] = one_round(reference, n)
        for impl, rs in interleaved(runners, args.rounds).items():
            rows.append(measured(f"broadcast p50 ({n})", impl, [r["p50"] for r in rs], "ms"))
            rows.append(measured(f"broadcast p99 ({n})", impl, [r["p99"] for r in rs], "ms"))
            rows.append(measured(f"RSS per conn ({n})", impl, [r["rss"] for r in rs], "bytes"))
            rows.append(measured(f"conns dropped ({n})", impl, [r["dropped"] for r in rs], "conns"))
    for sync in ("always", "never"):  # every process fsyncs each message it stores, or not
        star = star_rate(args.star_clients, args.star_messages, args.rounds, sync)
        rows.append(measured(f"star msgs/s (sync {sync})", "syslab", star, "msg/s"))
    print(table(rows, "python-socketio", higher_is_better=False))
    print("(the star row: higher is better; no reference)")
    path = save("chat", rows, clients=args.clients, messages=args.messages, star_messages=args.star_messages)
    png = median_bars(rows, path.with_suffix(".png"), f"chat: syslab (ours) vs python-socketio, median of "
                      f"{args.rounds} round(s), whiskers min..max; the star is ours alone",
                      {"ms": "broadcast latency, ms", "bytes": "server RSS per connection, bytes",
                       "conns": "connections dropped (lower is better)", "msg/s": "star: messages / s"},
                      size=(20, 4.8))  # fmt: skip
    print(f"results: {path} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
