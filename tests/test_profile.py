"""The profile API on a real primary + replica: stale reads, consistent reads by flag (D4)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from harness.procs import python_module
from harness.replication import ReplicatedPair
from servers.catalog import REPO_ROOT

pytestmark = pytest.mark.exercise("D4")


def url_of(server) -> str:
    a = server.address
    return f"mysql://{a.user}:{a.password}@{a.host}:{a.port}/{a.database}"


class API:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data, headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, hdrs, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, e.headers, e.read()
        ctype = hdrs.get("content-type", "")
        payload = json.loads(raw) if ctype.startswith("application/json") else raw.decode()
        return status, {k.lower(): v for k, v in hdrs.items()}, payload


@pytest.fixture(scope="module")
def api(replicated_pair: ReplicatedPair) -> Iterator[API]:
    child = python_module(
        "servers.profile", "--primary-url", url_of(replicated_pair.primary),
        "--replica-url", url_of(replicated_pair.replica), port=0,
    )  # fmt: skip
    with child:
        assert child.port is not None
        yield API(child.port)


def create(api: API, name: str) -> dict[str, Any]:
    status, headers, user = api.call("POST", "/users", {"name": name, "email": f"{name}@ex.org"})
    assert status == 201, user
    assert headers["x-served-by"] == "primary"
    assert headers["location"] == f"/users/{user['id']}"
    return user


def test_reads_go_to_the_replica_and_the_flag_sends_them_to_the_primary(api, replicated_pair):
    user = create(api, "ada")
    replicated_pair.wait_caught_up()
    status, headers, body = api.call("GET", f"/users/{user['id']}")
    assert (status, headers["x-served-by"], body) == (200, "replica", user)
    for path, hdrs in [
        (f"/users/{user['id']}?consistent=true", {}),
        (f"/users/{user['id']}", {"X-Consistent-Read": "true"}),
    ]:
        status, headers, body = api.call("GET", path, headers=hdrs)
        assert (status, headers["x-served-by"], body) == (200, "primary", user)
    _, headers, _ = api.call("GET", f"/users/{user['id']}?consistent=false")
    assert headers["x-served-by"] == "replica"


def test_a_lagging_replica_serves_stale_reads_until_it_catches_up(api, replicated_pair):
    user = create(api, "grace")
    replicated_pair.wait_caught_up()
    uid = user["id"]
    replicated_pair.pause_apply()  # the replica keeps receiving, stops applying
    try:
        status, headers, updated = api.call("PUT", f"/users/{uid}", {"bio": "compilers"})
        assert status == 200 and headers["x-served-by"] == "primary"
        assert updated["version"] == 2 and updated["bio"] == "compilers"
        newcomer = create(api, "edsger")

        _, headers, stale = api.call("GET", f"/users/{uid}")
        assert headers["x-served-by"] == "replica"
        assert (stale["version"], stale["bio"]) == (1, "")  # the write is not there yet
        status, _, _ = api.call("GET", f"/users/{newcomer['id']}")
        assert status == 404  # created on the primary, unknown to the replica

        _, headers, fresh = api.call("GET", f"/users/{uid}?consistent=true")
        assert headers["x-served-by"] == "primary" and fresh == updated
        status, _, body = api.call("GET", f"/users/{newcomer['id']}?consistent=1")
        assert status == 200 and body == newcomer

        _, _, lag = api.call("GET", "/replication")
        assert lag["io_running"] and not lag["sql_running"]
        assert lag["behind"] == 2  # the update and the insert
    finally:
        replicated_pair.resume_apply()
    replicated_pair.wait_caught_up()
    _, headers, caught_up = api.call("GET", f"/users/{uid}")
    assert headers["x-served-by"] == "replica" and caught_up == updated
    _, _, lag = api.call("GET", "/replication")
    assert lag["behind"] == 0 and lag["sql_running"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/users", {"name": "x"}, 422),  # email missing
        ("POST", "/users", {"name": "x", "email": "no-at-sign"}, 422),
        ("POST", "/users", {"name": "x", "email": "x@y", "admin": True}, 422),
        ("POST", "/users", {"name": "", "email": "x@y"}, 422),
        ("POST", "/users", {"name": "x" * 101, "email": "x@y"}, 422),
        ("POST", "/users", [1, 2], 422),
        ("POST", "/users", b"{not json", 400),
        ("PUT", "/users/1", {}, 422),
        ("PUT", "/users/999999", {"bio": "b"}, 404),
        ("GET", "/users/999999?consistent=true", None, 404),
        ("GET", "/users/abc", None, 404),
        ("DELETE", "/users/1", None, 405),
    ],
)
def test_bad_requests_get_clear_statuses(api, method, path, body, status):
    got, _, payload = api.call(method, path, body)
    assert got == status, payload


def test_a_duplicate_email_is_a_conflict(api):
    create(api, "barbara")
    status, headers, _ = api.call("POST", "/users", {"name": "b2", "email": "barbara@ex.org"})
    assert status == 409


def test_sql_injection_in_fields_is_stored_as_text(api):
    name = "Robert'); DROP TABLE users;--"
    status, _, user = api.call("POST", "/users", {"name": name, "email": "bobby@ex.org"})
    assert status == 201 and user["name"] == name
    _, _, again = api.call("GET", f"/users/{user['id']}?consistent=true")
    assert again["name"] == name


def test_only_one_url_is_refused():
    r = subprocess.run(
        [sys.executable, "-m", "servers.profile", "--primary-url", "mysql://root@127.0.0.1/test"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 2 and "--replica-url" in r.stderr


def test_without_urls_it_starts_its_own_primary_and_replica(tmp_path):
    with python_module("servers.profile", "--dir", str(tmp_path), port=0, start_timeout=60) as c:
        assert c.port is not None
        api = API(c.port)
        user = create(api, "alan")
        _, _, lag = api.call("GET", "/replication")
        assert lag["io_running"] and lag["sql_running"]
        _, headers, body = api.call("GET", f"/users/{user['id']}?consistent=true")
        assert headers["x-served-by"] == "primary" and body == user
    assert (tmp_path / "mysql" / "primary" / "data").is_dir()


def test_lag_can_be_switched_on_and_off_over_http(api, replicated_pair):
    user = create(api, "katherine")
    replicated_pair.wait_caught_up()
    status, _, lag = api.call("POST", "/replication/pause")
    try:
        assert status == 200 and not lag["sql_running"]
        api.call("PUT", f"/users/{user['id']}", {"name": "Katherine J."})
        _, _, stale = api.call("GET", f"/users/{user['id']}")
        assert stale["name"] == "katherine"
    finally:
        status, _, lag = api.call("POST", "/replication/resume")
    assert status == 200 and lag["sql_running"]
    replicated_pair.wait_caught_up()
    _, _, fresh = api.call("GET", f"/users/{user['id']}")
    assert fresh["name"] == "Katherine J."
