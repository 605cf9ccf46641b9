"""N6: operating the balancer: a backend killed and recovered under steady traffic,
draining, SIGHUP reload without a failed request, TCP mode, the command line."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lb_support import backend, backends, running_lb, spec, url, who
from support import until

from harness.procs import REPO_ROOT, python_module
from netlib.http import HTTPClient
from servers.lb.config import LBConfig

pytestmark = pytest.mark.exercise("N6")


class Steady:
    """GETs one after another until stopped; every status and backend recorded."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.results: list[tuple[int, str]] = []
        self._stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with HTTPClient(timeout=10) as client:
            while not self._stop.is_set():
                try:
                    r = await client.get(self.target)
                    self.results.append((r.status, r.headers.get("x-backend", "")))
                except ConnectionError as e:
                    self.results.append((0, str(e)))

    def start(self) -> Steady:
        self.task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> list[tuple[int, str]]:
        self._stop.set()
        assert self.task is not None
        await self.task
        return self.results

    def errors(self, since: int = 0) -> list[tuple[int, str]]:
        return [r for r in self.results[since:] if r[0] != 200]

    def seen(self, since: int = 0) -> set[str]:
        return {name for status, name in self.results[since:] if status == 200}


async def test_killed_backend_is_routed_around_and_used_again_when_it_recovers():
    with backends("a", "b", "c") as (a, b, c):
        settings = dict(health_interval=0.1, health_rise=2, health_fall=2, connect_timeout=0.5)
        async with running_lb([spec(a), spec(b), spec(c)], **settings) as lb:
            steady = Steady(url(lb, "/")).start()
            await until(lambda: steady.seen() == {"a", "b", "c"})
            victim = lb.backends.backends[spec(b).name]
            port = b.port
            b.kill()
            await until(lambda: victim.state() == "down", what="b detected down")
            detected = len(steady.results)
            await until(lambda: len(steady.results) > detected + 100)
            assert steady.seen(detected) == {"a", "c"}
            assert steady.errors(detected) == []  # after the detection window: no error
            with backend("b", port=port):
                await until(lambda: victim.state() == "up", what="b back up")
                back = len(steady.results)
                await until(lambda: "b" in steady.seen(back), what="b used again")
            results = await steady.stop()
    # before detection the retry on another backend hid the failure too
    assert [r for r in results[:detected] if r[0] != 200] == []


async def test_removed_backend_drains_in_flight_requests_finish():
    with backends("a", "b") as (a, b):
        async with running_lb([spec(a), spec(b)]) as lb, HTTPClient() as client:
            slow = asyncio.create_task(client.get(url(lb, "/slow?ms=800")))  # round robin: a
            drained = lb.backends.backends[spec(a).name]
            await until(lambda: drained.active == 1)
            lb.reload(LBConfig(backends=(spec(b),), health_interval=0))
            assert drained.state() == "draining"
            async with HTTPClient() as other:
                assert set(await who(other, lb, 6)) == {"b"}  # nothing new for a
            r = await slow
            assert r.status == 200 and r.headers["x-backend"] == "a"  # in flight: finished
            assert spec(a).name not in lb.backends.backends  # then gone


TOML = """
algorithm = "roundrobin"
[health]
interval = 0.2
[timeouts]
connect = 0.5
{backends}
"""


def _write(path: Path, *ports: int) -> None:
    lines = "".join(f'[[backend]]\naddress = "127.0.0.1:{p}"\n' for p in ports)
    path.write_text(TOML.format(backends=lines))


async def test_sighup_reload_changes_routing_with_no_failed_request(tmp_path):
    conf = tmp_path / "lb.toml"
    with backends("a", "b") as (a, b):
        _write(conf, a.port)
        lb = python_module("servers.lb", "--config", str(conf), "--admin-port", "0", port=0)
        with lb:
            steady = Steady(f"http://127.0.0.1:{lb.port}/").start()
            await until(lambda: len(steady.results) > 50)
            _write(conf, b.port)
            lb.signal(signal.SIGHUP)
            await until(lambda: "b" in steady.seen(), what="b serving after SIGHUP")
            switched = next(i for i, r in enumerate(steady.results) if r[1] == "b")
            await until(lambda: len(steady.results) > switched + 50)
            conf.write_text("algorithm = [not toml")  # a broken file: refused, nothing changes
            lb.signal(signal.SIGHUP)
            await until(lambda: "reload refused" in lb.output())
            mark = len(steady.results)
            await until(lambda: len(steady.results) > mark + 50)
            results = await steady.stop()
            admin = int(re.search(r"admin on 127\.0\.0\.1:(\d+)", lb.output())[1])
            async with HTTPClient() as client:
                st = (await client.get(f"http://127.0.0.1:{admin}/_lb/status")).json()
    assert [r for r in results if r[0] != 200] == []
    assert {r[1] for r in results[:switched]} == {"a"}
    assert {r[1] for r in results[switched:]} == {"b"}
    assert st["reloads"] == 1 and [x["port"] for x in st["backends"]] == [b.port]


async def test_tcp_mode_pipes_bytes_both_ways_per_connection():
    with contextlib.ExitStack() as stack:
        echoes = [stack.enter_context(python_module("servers.echo", port=0)) for _ in range(2)]
        async with running_lb([spec(e) for e in echoes], mode="tcp") as lb:
            for i in range(4):
                reader, writer = await asyncio.open_connection("127.0.0.1", lb.server.port)
                payload = bytes([i]) * 200_000
                writer.write(payload)
                writer.write_eof()  # the half-close reaches the echo server, which then ends
                got = await asyncio.wait_for(reader.read(), 10)
                writer.close()
                assert got == payload
            await until(lambda: all(b.active == 0 for b in lb.backends))
            assert [b.requests for b in lb.backends] == [2, 2]  # round robin per connection


async def test_tcp_mode_fronts_the_cache_for_redis_cli():
    with python_module("servers.cache", port=0) as cache:
        async with running_lb([spec(cache)], mode="tcp") as lb:
            def cli(*args: str) -> str:
                return subprocess.run(["redis-cli", "-p", str(lb.server.port), *args],
                                      capture_output=True, text=True, timeout=10).stdout.strip()  # fmt: skip

            assert await asyncio.to_thread(cli, "SET", "k", "through the balancer") == "OK"
            assert await asyncio.to_thread(cli, "GET", "k") == "through the balancer"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "servers.lb", "--port", "0", "--admin-port", "0",
                           *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)  # fmt: skip


@pytest.mark.parametrize("args,says", [
    (["--backend", "nonsense"], "a backend is HOST:PORT"),
    (["--backend", "127.0.0.1:1,weight=0"], "bad backend option"),
    (["--config", "/nonexistent/lb.toml"], "cannot read"),
    (["--backend", "127.0.0.1:1", "--hash-key", "cookie"], "hash_key must be"),
])  # fmt: skip
def test_command_line_mistakes_are_one_line(args, says):
    out = _cli(*args)
    assert out.returncode != 0
    assert says in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_port_in_use_is_one_line():
    with backend("a") as a:
        out = _cli("--backend", f"127.0.0.1:{a.port}", "--admin-port", str(a.port))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "cannot listen" in out.stderr.strip().splitlines()[-1]
