"""Shared fixtures: private real services and server children.

Services come from ``harness.services`` (the demo uses the same code). When
``SYSLAB_MYSQL_URL`` / ``SYSLAB_REDIS_URL`` is set that server is used instead.
A missing binary fails the test with the package to install; nothing skips.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.procs import Child, python_module
from harness.replication import ReplicatedPair
from harness.services import MariaDB, RedisServer, ServiceAddress, from_env

# Test modules run on both event loops: the shell and HTTP serve on uvloop in
# production and on asyncio's loop wherever uvloop is missing; both must behave.
BOTH_LOOPS = ("test_shell", "test_http")


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Any:
    """pytest-asyncio's hook: each async test of those modules once per loop; the
    others on asyncio's loop only (one factory: no change to their test ids)."""
    if not item.path.name.startswith(BOTH_LOOPS):
        return {"asyncio": asyncio.new_event_loop}
    import uvloop

    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """For ``make list``: count the collected tests per exercise tag.

    Written where ``SYSLAB_EXERCISE_COUNTS`` says, and after every collection of the
    whole suite (``make test``) to the catalog's cache, so ``make list`` answers at
    once with the counts of the last full run.
    """
    from servers.catalog import COUNTS_CACHE

    counts: Counter[str] = Counter()
    for item in items:
        ids = {i for m in item.iter_markers("exercise") for i in m.args}
        counts.update(ids)
    targets = [os.environ["SYSLAB_EXERCISE_COUNTS"]] if os.environ.get("SYSLAB_EXERCISE_COUNTS") else []
    whole = not config.args or [str(a).rstrip("/") for a in config.args] == ["tests"]
    if whole and not config.option.keyword and not config.option.markexpr:
        COUNTS_CACHE.parent.mkdir(parents=True, exist_ok=True)
        targets.append(str(COUNTS_CACHE))
    for target in targets:
        with open(target, "w") as f:
            json.dump(counts, f)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDB]:
    """A private MariaDB process (for tests that need to kill or configure it)."""
    with MariaDB() as m:
        yield m


@pytest.fixture(scope="session")
def mariadb(request: pytest.FixtureRequest) -> ServiceAddress:
    """Where to reach MariaDB: SYSLAB_MYSQL_URL, else a private instance."""
    env = from_env("SYSLAB_MYSQL_URL", 3306)
    if env is not None:
        return env
    return request.getfixturevalue("mariadb_server").address


@pytest.fixture(scope="session")
def replicated_pair() -> Iterator[ReplicatedPair]:
    """A private MariaDB primary + replica with GTID replication (D4), shared by the session."""
    with ReplicatedPair() as pair:
        yield pair


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as r:
        yield r


@pytest.fixture(scope="session")
def redis_addr(request: pytest.FixtureRequest) -> ServiceAddress:
    """Where to reach a real redis-server: SYSLAB_REDIS_URL, else a private one."""
    env = from_env("SYSLAB_REDIS_URL", 6379)
    if env is not None:
        return env
    return request.getfixturevalue("redis_server").address


@pytest.fixture
def launch() -> Iterator[Callable[..., Child]]:
    """``launch("servers.echo", *args)`` starts a server child on port 0.

    It returns once the child logged the port it is listening on
    (``child.port``); every child is stopped at the end of the test.
    """
    children: list[Child] = []

    def _launch(module: str, *args: str, port: int | None = None) -> Child:
        child = python_module(module, *args, port=port or 0)
        children.append(child)
        return child.start()

    yield _launch
    for c in children:
        c.stop()
