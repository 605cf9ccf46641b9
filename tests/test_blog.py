"""D9: the sharded blog: per-shard auto-increment ids collide, Snowflake ids do not,
and a user's blog URLs stay valid after the user moves to another shard.

Three private MariaDB instances are the shards; the blog is a real process
(``python -m servers.blog``) spoken to over HTTP.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from clients.ids import decode_snowflake
from clients.mysql import Connection
from harness.procs import free_port
from harness.services import MariaDB

pytestmark = pytest.mark.exercise("D9")
_db_names = itertools.count()


@pytest.fixture(scope="module")
def shards() -> Iterator[list[MariaDB]]:
    servers = [MariaDB() for _ in range(3)]
    try:
        start_all(servers)
        yield servers
    finally:
        for s in servers:
            s.stop()


def start_all(servers: list[MariaDB]) -> None:
    """Start the instances in parallel (each takes a couple of seconds)."""
    with ThreadPoolExecutor(len(servers)) as pool:
        list(pool.map(lambda m: m.start(), servers))


def blog_server(launch, shards: list[MariaDB], ids: str) -> tuple[int, str]:
    """A blog process on fresh databases (one per shard); returns (port, database)."""
    db = f"blog{next(_db_names)}"
    args = ["--ids", ids]
    for s in shards:
        with Connection.from_address(s.address) as c:
            c.query(f"CREATE DATABASE {db}")
        args += ["--shard-url", f"mysql://root@127.0.0.1:{s.port}/{db}"]
    return launch("servers.blog", *args).port, db


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"error": raw.decode()}  # errors from the HTTP layer are text


def rows_on(shard: MariaDB, db: str, user: int) -> list[int]:
    with Connection.from_address(shard.address) as c:
        return [
            r[0]
            for r in c.query(
                f"SELECT id FROM {db}.blogs WHERE user_id = %s ORDER BY id", (user,)
            ).rows
        ]


def test_per_shard_auto_increment_hands_out_the_same_id_on_every_shard(launch, shards):
    port, db = blog_server(launch, shards, "autoinc")
    made = [
        call(port, "POST", f"/users/{u}/blogs", {"title": f"hello from {u}"})[1]
        for u in (30, 31, 32)
    ]
    assert [b["shard"] for b in made] == [0, 1, 2]  # home shard = user % 3
    assert [b["id"] for b in made] == [1, 1, 1]  # the collision
    status, doc = call(port, "GET", "/blogs/1")
    assert status == 300 and sorted(f["shard"] for f in doc["found"]) == [0, 1, 2]
    # moving user 31 to shard 0 would need id 1 there: refused, nothing lost
    status, doc = call(port, "POST", "/users/31/move?to=0")
    assert status == 409 and "already has a blog" in doc["error"]
    assert call(port, "GET", made[1]["url"])[1]["title"] == "hello from 31"
    assert rows_on(shards[1], db, 31) == [1] and rows_on(shards[0], db, 31) == []


def test_snowflake_ids_are_unique_across_shards_and_urls_survive_a_move(launch, shards):
    port, db = blog_server(launch, shards, "snowflake")
    made = []
    for u in (40, 41, 42, 41):
        status, b = call(port, "POST", f"/users/{u}/blogs", {"title": f"post by {u}", "body": "x"})
        assert status == 201
        made.append(b)
    ids = [b["id"] for b in made]
    assert len(set(ids)) == 4 and ids == sorted(ids)  # unique and k-sorted
    assert {decode_snowflake(i).worker for i in ids} == {1}
    for b in made:
        status, doc = call(port, "GET", f"/blogs/{b['id']}")
        assert status == 200 and len(doc["found"]) == 1
    # user 41 (home shard 2) moves to shard 0: both blogs move with their ids
    status, doc = call(port, "POST", "/users/41/move?to=0")
    assert (status, doc["from"], doc["to"], doc["moved"]) == (200, 2, 0, 2)
    for b in made[1::2]:
        status, doc = call(port, "GET", b["url"])  # the URL handed out before the move
        assert status == 200 and doc["id"] == b["id"] and doc["shard"] == 0
    assert rows_on(shards[2], db, 41) == [] and rows_on(shards[0], db, 41) == sorted(ids[1::2])
    status, newer = call(port, "POST", "/users/41/blogs", {"title": "after the move"})
    assert newer["shard"] == 0 and newer["id"] > max(ids)
    status, listing = call(port, "GET", "/users/41/blogs")
    assert [b["id"] for b in listing["blogs"]] == [newer["id"], ids[3], ids[1]]


def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(launch, shards):
    port, _ = blog_server(launch, shards, "snowflake")
    assert call(port, "POST", "/users/5/blogs", b"{not json")[0] == 400
    assert call(port, "POST", "/users/5/blogs", {"title": ""})[0] == 400
    assert call(port, "POST", "/users/5/blogs", {"title": "t" * 201})[0] == 400
    assert call(port, "POST", "/users/5/blogs", ["a list"])[0] == 400
    assert call(port, "POST", "/users/5/move?to=7")[0] == 400
    assert call(port, "POST", "/users/5/move?to=x")[0] == 400
    assert call(port, "GET", "/users/5/blogs/123")[0] == 404
    assert call(port, "GET", "/users/99999999999999999999/blogs")[0] == 400
    assert call(port, "GET", "/blogs/1")[0] == 404
    assert call(port, "POST", "/users/5/blogs", {"title": "still here"})[0] == 201


def test_a_dead_shard_fails_only_its_own_users(launch):
    shards = [MariaDB(), MariaDB()]
    try:
        start_all(shards)
        port, _ = blog_server(launch, shards, "snowflake")
        assert call(port, "POST", "/users/2/blogs", {"title": "on shard 0"})[0] == 201
        shards[1].kill()  # SIGKILL the shard of odd users
        status, doc = call(port, "POST", "/users/3/blogs", {"title": "on shard 1"})
        assert status == 503 and "database unavailable" in doc["error"]
        assert call(port, "POST", "/users/4/blogs", {"title": "still fine"})[0] == 201
        assert len(call(port, "GET", "/users/2/blogs")[1]["blogs"]) == 1
    finally:
        for s in shards:
            s.stop()


def test_unicode_digits_and_unreachable_shards_are_clear_errors(launch, shards, tmp_path):
    port, _ = blog_server(launch, shards, "snowflake")
    assert call(port, "POST", "/users/5/move?to=%C2%B2")[0] == 400  # "²" passes str.isdigit()
    dead = f"mysql://root@127.0.0.1:{free_port()}/x"
    r = subprocess.run([sys.executable, "-m", "servers.blog", "--port", "0", "--shard-url", dead],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 1 and "cannot use the shards" in r.stderr and "Traceback" not in r.stderr
