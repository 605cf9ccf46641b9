"""What the load-balancer tests share: real backend processes and a balancer in the test's loop.

Backends are ``python -m servers.lb.backend`` children (each answers with its
name in ``X-Backend``). The balancer under test mostly runs in the test's own
event loop (``running_lb``), so a test can read its state directly; the reload
and CLI tests run it as a process.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

from harness.procs import Child, python_module
from netlib.http import HTTPClient
from netlib.shell import ShellConfig
from servers.lb.config import BackendSpec, LBConfig
from servers.lb.server import LoadBalancer


def backend(name: str, *extra: str, port: int = 0) -> Child:
    return python_module("servers.lb.backend", "--name", name, "--log-level", "warning", *extra,
                         port=port)  # fmt: skip


@contextlib.contextmanager
def backends(*names: str) -> Iterator[list[Child]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(backend(n)) for n in names]


def spec(child: Child, weight: int = 1) -> BackendSpec:
    assert child.port is not None
    return BackendSpec("127.0.0.1", child.port, weight)


# Active checks off unless a test turns them on: the distribution tests want no probes.
QUIET = LBConfig(health_interval=0.0, connect_timeout=1.0, read_timeout=5.0)


@contextlib.asynccontextmanager
async def running_lb(specs: list[BackendSpec], **settings: Any) -> AsyncIterator[LoadBalancer]:
    lb = LoadBalancer(replace(QUIET, backends=tuple(specs), **settings))
    await lb.start(ShellConfig(port=0, shutdown_grace=1.0), ShellConfig(port=0))
    try:
        yield lb
    finally:
        await lb.stop()


def url(lb: LoadBalancer, path: str = "/") -> str:
    assert lb.server is not None
    return f"http://127.0.0.1:{lb.server.port}{path}"


async def who(client: HTTPClient, lb: LoadBalancer, n: int, path: str = "/",
              **kw: Any) -> list[str]:  # fmt: skip
    """``n`` sequential GETs; the X-Backend of each answer, in order."""
    out = []
    for _ in range(n):
        r = await client.get(url(lb, path), **kw)
        assert r.status == 200, (r.status, r.body)
        out.append(r.headers["x-backend"])
    return out


def counts(names: list[str]) -> Counter[str]:
    return Counter(names)
