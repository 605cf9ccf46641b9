"""The CDN under failure and load, with real processes: coalescing counted at the origin,
an origin killed mid-load, a secondary origin, a timed-out origin, a dead edge, the
byte-bounded LRU and its disk tier, and the five-process cluster of ``make serve-cdn``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from clients.hashring import HashRing
from harness.procs import free_port, python_module
from netlib.http import HTTPClient
from servers.catalog import REPO_ROOT
from servers.cdn.router import EdgeRouter
from tests.cdn_support import edge_proc, edge_stats, origin_count, origin_proc, url, xcache

pytestmark = pytest.mark.exercise("N8")


@pytest.fixture
async def client() -> AsyncIterator[HTTPClient]:
    async with HTTPClient(timeout=10) as c:
        yield c


async def test_100_concurrent_misses_make_one_origin_request(client: HTTPClient) -> None:
    with origin_proc() as o, edge_proc(url(o)) as e:
        path = "/lab/hot?cc=max-age%3D60&delay=1"  # the origin is slow: all 100 arrive in time
        clients = [HTTPClient(timeout=10) for _ in range(100)]
        try:
            got = await asyncio.gather(*(c.get(url(e) + path) for c in clients))
        finally:
            await asyncio.gather(*(c.close() for c in clients))
        assert {r.status for r in got} == {200} and len({r.body for r in got}) == 1
        assert await origin_count(client, url(o), "/lab/hot") == 1
        stats = await edge_stats(client, url(e))
        assert stats["coalesced"] == 99 and stats["origin_requests"] == 1


async def test_killing_the_origin_mid_load_gives_no_client_error_while_stale_is_allowed(
    client: HTTPClient,
) -> None:
    with origin_proc() as o, edge_proc(url(o), args=("--origin-timeout", "2")) as e:
        paths = [f"/lab/load-{i}?cc=max-age%3D0%2C%20stale-if-error%3D300&etag=1" for i in range(10)]
        for p in paths:
            assert xcache(await client.get(url(e) + p)) == "MISS"
        statuses, how = [], []
        for round_ in range(6):
            if round_ == 2:
                o.kill()  # SIGKILL, mid-load
            for r in await asyncio.gather(*(client.get(url(e) + p) for p in paths)):
                statuses.append(r.status)
                how.append(xcache(r))
        assert set(statuses) == {200}
        assert how[:20] == ["REVALIDATED"] * 20 and set(how[20:]) == {"STALE"}


async def test_without_stale_the_secondary_origin_answers(client: HTTPClient) -> None:
    with origin_proc("primary") as o1, origin_proc("secondary") as o2, edge_proc(url(o1), url(o2)) as e:
        r = await client.get(url(e) + "/lab/fo?cc=no-store")
        assert r.headers["x-origin"] == "primary"
        o1.kill()
        r = await client.get(url(e) + "/lab/fo?cc=no-store")
        assert (r.status, r.headers["x-origin"]) == (200, "secondary")
        # the primary is skipped while it cools down: no connect attempt per request
        r = await client.get(url(e) + "/lab/fo2?cc=max-age%3D60")
        assert r.headers["x-origin"] == "secondary"
        stats = await edge_stats(client, url(e))
        assert stats["origin_errors"] == 1 and stats["failovers"] >= 1


async def test_stale_if_error_is_preferred_to_the_secondary(client: HTTPClient) -> None:
    with origin_proc("primary") as o1, origin_proc("secondary") as o2, edge_proc(url(o1), url(o2)) as e:
        path = "/lab/prefer?cc=max-age%3D0%2C%20stale-if-error%3D60&etag=1"
        assert (await client.get(url(e) + path)).headers["x-origin"] == "primary"
        await client.post(url(o1) + "/_origin/fail", json={"status": 503})
        r = await client.get(url(e) + path)
        assert (r.status, xcache(r), r.headers["x-origin"]) == (200, "STALE", "primary")
        assert await origin_count(client, url(o2), "/lab/prefer") == 0


async def test_a_failing_origin_5xx_fails_over_and_must_revalidate_forbids_stale(client: HTTPClient) -> None:
    with origin_proc("primary") as o1, edge_proc(url(o1)) as e:
        strict = "/lab/strict?cc=max-age%3D0%2C%20must-revalidate%2C%20stale-if-error%3D60&etag=1"
        assert (await client.get(url(e) + strict)).status == 200
        await client.post(url(o1) + "/_origin/fail", json={"status": 503})
        r = await client.get(url(e) + strict)
        assert r.status == 503  # must-revalidate: the error, never the stale copy
        await client.post(url(o1) + "/_origin/fail", json={"status": 0})


async def test_an_origin_that_times_out_is_a_504(client: HTTPClient) -> None:
    with origin_proc() as o, edge_proc(url(o), args=("--origin-timeout", "0.3")) as e:
        r = await client.get(url(e) + "/lab/slow?delay=1.5&cc=max-age%3D60")
        assert r.status == 504 and "timed out" in r.text()
        t0 = time.monotonic()
        r = await client.get(url(e) + "/lab/stall?stall=1.5&size=1000&cc=max-age%3D60")  # head, half, silence
        assert r.status == 502 and "broke off" in r.text() and time.monotonic() - t0 < 1.4


async def test_the_router_steers_around_a_dead_edge(client: HTTPClient) -> None:
    with origin_proc() as o, edge_proc(url(o)) as e1, edge_proc(url(o)) as e2, edge_proc(url(o)) as e3:
        edges = [url(e1), url(e2), url(e3)]
        router = EdgeRouter(edges, cooldown=60)
        try:
            paths = [f"/lab/r{i}?cc=max-age%3D60" for i in range(30)]
            owners = {p: router.resolve(p) for p in paths}
            assert len(set(owners.values())) == 3  # the ring spreads objects over all edges
            for p in paths:
                await router.get(p)
            for p in paths:
                assert xcache(await router.get(p)) == "HIT"  # each object lives on its owner
            dead = edges[0]
            {e.port: e for e in (e1, e2, e3)}[int(dead.rsplit(":", 1)[1])].kill()
            results = [await router.get(p) for p in paths]
            assert {r.status for r in results} == {200}
            moved = [p for p in paths if owners[p] == dead]
            assert router.resolve(moved[0]) != dead and not router.healthy(dead)
            for p, r in zip(paths, results, strict=True):  # only the dead edge's objects missed
                assert xcache(r) == ("MISS" if owners[p] == dead else "HIT")
        finally:
            await router.close()


async def test_edges_shard_objects_by_the_ring_and_fall_back_to_the_origin(client: HTTPClient) -> None:
    ports = [free_port() for _ in range(3)]
    peers = [f"http://127.0.0.1:{p}" for p in ports]
    flags = [a for u in peers for a in ("--peer", u)]
    with origin_proc() as o, ExitStack() as stack:
        edges = [stack.enter_context(python_module("servers.cdn", "edge", "--origin", url(o), *flags,
                                                   "--log-level", "warning", port=p)) for p in ports]  # fmt: skip
        ring = HashRing(peers)
        paths = [f"/lab/shard-{i}?cc=max-age%3D60" for i in range(9)]
        for path in paths:  # every edge asked for every object: the origin still sees each once
            got = [await client.get(e + path) for e in peers]
            assert {r.status for r in got} == {200} and len({r.body for r in got}) == 1
            assert await origin_count(client, url(o), path.split("?")[0]) == 1
        stats = [await edge_stats(client, e) for e in peers]
        assert sum(s["peer_requests"] for s in stats) == 2 * len(paths)  # type: ignore[misc]
        owner = ring.lookup("/lab/orphan?cc=max-age%3D60")
        edges[peers.index(owner)].kill()
        other = next(e for e in peers if e != owner)
        r = await client.get(other + "/lab/orphan?cc=max-age%3D60")  # the owner is dead: the origin answers
        assert (r.status, xcache(r)) == (200, "MISS")
        assert await origin_count(client, url(o), "/lab/orphan") == 1


async def test_lru_by_bytes_evicts_the_coldest_and_the_disk_tier_keeps_it(
    client: HTTPClient, tmp_path: Path
) -> None:
    with origin_proc() as o, edge_proc(url(o), args=("--max-bytes", "10kb")) as mem_only, \
            edge_proc(url(o), args=("--max-bytes", "10kb", "--disk-bytes", "1mb"), dir=tmp_path) as tiered:  # fmt: skip
        for e in (mem_only, tiered):
            paths = [f"/lab/lru-{e.port}-{i}?cc=max-age%3D60&size=3000" for i in range(4)]
            for p in paths:
                await client.get(url(e) + p)
            await client.get(url(e) + paths[1])  # touch: now paths[0] is the coldest... and gone
            stats = await edge_stats(client, url(e))
            assert stats["bytes_memory"] <= 10 * 1024 and stats["evictions"] >= 1  # type: ignore[operator]
            again = await client.get(url(e) + paths[0])
            assert xcache(again) == ("HIT" if e is tiered else "MISS")
            assert xcache(await client.get(url(e) + paths[1])) == "HIT"
        assert list((tmp_path / "disk").glob("*.entry"))


def test_make_serve_cdn_starts_two_origins_and_three_edges_and_stops_them() -> None:
    with python_module("servers.cdn", port=0, start_timeout=60) as cluster:
        out = cluster.output()
        ports = {name: int(line.rsplit(":", 1)[1]) for line in out.splitlines()
                 for name in ("origin", "secondary", "edge-1", "edge-2", "edge-3")
                 if f"cdn: {name} " in line}  # fmt: skip
        assert len(ports) == 5 and cluster.port == ports["edge-1"]

        async def probe() -> list[str]:
            async with HTTPClient() as c:
                return [xcache(await c.get(f"http://127.0.0.1:{ports[n]}/api/popular-searches?region=eu"))
                        for n in ("edge-1", "edge-2", "edge-3", "edge-1")]  # fmt: skip

        assert asyncio.run(probe()) == ["MISS", "MISS", "MISS", "HIT"]
        cluster.signal(signal.SIGTERM)
        assert cluster.proc is not None and cluster.proc.wait(20) == 0


@pytest.mark.parametrize("argv", [
    ["edge"], ["edge", "--origin", "ftp://x"], ["--bogus"], ["edge", "--origin", "http://x", "--max-bytes", "lots"],
])  # fmt: skip
def test_cli_mistakes_are_one_line_and_a_nonzero_exit(argv: list[str]) -> None:
    p = subprocess.run([sys.executable, "-m", "servers.cdn", *argv], cwd=REPO_ROOT, capture_output=True,
                       text=True, timeout=30)  # fmt: skip
    assert p.returncode != 0 and "Traceback" not in p.stderr and p.stderr.strip()


@pytest.mark.parametrize("role", [["origin"], ["edge", "--origin", "http://127.0.0.1:1"]])
def test_a_port_in_use_is_one_line_on_stderr(role: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = subprocess.run([sys.executable, "-m", "servers.cdn", *role, "--port", str(port)], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=30)  # fmt: skip
    assert p.returncode == 1 and p.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in p.stderr


@contextlib.contextmanager
def third_port_taken() -> Iterator[int]:
    """A listening port whose two ports below and two above are free (checked by binding
    them): the only one of the five the cluster can find in use. An ephemeral port's
    neighbours may be other programs' (a CI run once had port - 1 taken)."""
    for _ in range(50):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        free = True
        for other in (port - 2, port - 1, port + 1, port + 2):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", other))
                except OSError:
                    free = False
                    break
        if free:
            taken.listen()
            try:
                yield port
            finally:
                taken.close()
            return
        taken.close()
    raise RuntimeError("no port with four free neighbours")


def test_the_cluster_checks_all_five_ports_before_starting_any(tmp_path: Path) -> None:
    with third_port_taken() as port:  # the cluster's third port (the first edge's)
        p = subprocess.run([sys.executable, "-m", "servers.cdn", "--port", str(port - 2), "--dir", str(tmp_path / "d")],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert p.returncode == 1 and p.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in p.stderr
    assert not list((tmp_path / "d").glob("*"))  # no child was started
