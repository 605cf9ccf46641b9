"""Helpers of the CDN tests: real origin and edge processes on port 0."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.procs import Child, python_module
from netlib.http import ClientResponse, HTTPClient


@contextmanager
def origin_proc(name: str = "origin", *args: str) -> Iterator[Child]:
    child = python_module("servers.cdn", "origin", "--name", name, "--events-per-second", "0",
                          "--log-level", "warning", *args, port=0)  # fmt: skip
    with child:
        yield child


@contextmanager
def edge_proc(*origins: str, args: tuple[str, ...] = (), dir: Path | None = None) -> Iterator[Child]:
    flags = [a for o in origins for a in ("--origin", o)]
    if dir is not None:
        flags += ["--dir", str(dir)]
    child = python_module("servers.cdn", "edge", "--log-level", "warning", *flags, *args, port=0)
    with child:
        yield child


def url(child: Child) -> str:
    return f"http://127.0.0.1:{child.port}"


async def origin_count(client: HTTPClient, origin: str, path: str) -> int:
    """How many requests for ``path`` the origin process itself has seen."""
    r = await client.get(f"{origin}/_origin/stats")
    return int(r.json()["requests"].get(path, 0))


async def edge_stats(client: HTTPClient, edge: str) -> dict[str, object]:
    r = await client.get(f"{edge}/_cdn/stats")
    return r.json()  # type: ignore[no-any-return]


def xcache(r: ClientResponse) -> str:
    return str(r.headers.get("x-cache"))
