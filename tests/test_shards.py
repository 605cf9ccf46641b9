"""D3: a users/posts API over four real MariaDB instances: routing by slot (range and hash),
a fanned-out feed, and a live move of a slot while writes and reads keep going."""

import json
import threading
import urllib.error
import urllib.request

import pytest

from clients.mysql import Connection
from harness.services import MariaDB, start_all
from servers.shards.directory import ShardMap, initial_slots

pytestmark = pytest.mark.exercise("D3")


@pytest.fixture(scope="module")
def instances():
    servers = start_all([MariaDB() for _ in range(4)])
    yield servers
    for s in servers:
        s.stop()


_db_counter = iter(range(1000))


@pytest.fixture
def api(instances, launch, tmp_path):
    """Start the API on a fresh database on each instance; returns (call, connections)."""

    def start(*flags):
        db = f"shards{next(_db_counter)}"
        urls, conns = [], []
        for s in instances:
            with Connection.from_address(s.address) as c:
                c.query(f"CREATE DATABASE {db}")
            a = s.address
            urls += ["--shard-url", f"mysql://{a.user}@{a.host}:{a.port}/{db}"]
            conns.append(Connection(host=a.host, port=a.port, user=a.user, database=db))
        child = launch("servers.shards", "--dir", str(tmp_path), *urls, *flags)
        return Client(f"http://127.0.0.1:{child.port}"), conns

    return start


class Client:
    def __init__(self, base):
        self.base = base

    def __call__(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read()), r.headers.get("x-shard")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}"), None


def test_range_slots_put_neighbouring_ids_together():
    smap = ShardMap("range", 10, initial_slots("range", 8, 10, ["a", "b", "c", "d"]))
    assert [smap.shard_of(u) for u in (0, 9, 10, 19, 20, 79, 10**9)] == ["a", "a", "a", "a", "b", "d", "d"]
    h = ShardMap("hash", 10, initial_slots("hash", 8, 10, ["a", "b", "c", "d"]))
    assert len({h.shard_of(u) for u in range(1, 9)}) > 1  # consecutive ids spread out
    assert h.slot_of(12345) == ShardMap("hash", 10, initial_slots("hash", 8, 10, list("abcd"))).slot_of(12345)


def test_users_are_routed_to_their_slots_shard_and_the_feed_fans_out(api):
    call, conns = api("--mode", "range", "--slots", "8", "--width", "3")
    users = [call("POST", "/users", {"name": f"u{i}"}) for i in range(12)]
    assert all(s == 201 for s, _, _ in users)
    shards_used = {b["shard"] for _, b, _ in users}
    assert len(shards_used) >= 3  # ids 1..12 with 3 per slot span several shards
    for _, b, _ in users:
        status, got, shard = call("GET", f"/users/{b['id']}")
        assert status == 200 and got["name"] == b["name"] and shard == b["shard"]
        # ... and the row really is in that shard's database, and nowhere else
        holders = [i for i, c in enumerate(conns) if c.query("SELECT 1 FROM users WHERE id = %s", (b["id"],)).rows]
        assert holders == [int(b["shard"].removeprefix("shard"))]
    a, z = users[0][1], users[-1][1]
    assert a["shard"] != z["shard"]
    call("POST", f"/users/{a['id']}/posts", {"body": "first"})
    call("POST", f"/users/{z['id']}/posts", {"body": "second"})
    status, feed, _ = call("GET", f"/feed?users={a['id']},{z['id']}")
    assert status == 200 and len(feed["shards"]) == 2
    assert [p["body"] for p in feed["posts"]] == ["second", "first"]  # merged newest first


def test_a_slot_moves_live_while_writes_and_reads_continue(api):
    call, conns = api("--mode", "range", "--slots", "4", "--width", "1000")
    uids = [call("POST", "/users", {"name": f"w{i}"})[1]["id"] for i in range(5)]
    slot0 = call("GET", "/shards")[1]["slots"][0]
    assert slot0["shard"] == "shard0"
    for i in range(300):  # enough rows that the copy takes several batches
        call("POST", f"/users/{uids[i % 5]}/posts", {"body": f"before {i}"})
    errors, written, stop = [], [], threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            status, body, _ = call("POST", f"/users/{uids[i % 5]}/posts", {"body": f"during {i}"})
            (written.append(body["id"]) if status == 201 else errors.append((status, body)))
            s, _, _ = call("GET", f"/users/{uids[i % 5]}")
            if s != 200:
                errors.append(("read", s))
            i += 1

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        status, report, _ = call("POST", "/admin/move", {"slot": 0, "to": "shard3"})
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert status == 200, report
    assert errors == []
    assert written  # writes really went on during the move
    assert report["copied"]["posts"] >= 300 and report["verified"]["posts"][0] >= 300
    status, state, _ = call("GET", "/shards")
    assert state["slots"][0]["shard"] == "shard3" and state["slots"][0]["state"] == "stable"
    total = 300 + len(written)
    assert conns[3].query("SELECT COUNT(*) FROM posts WHERE slot = 0").scalar() == total
    assert conns[0].query("SELECT COUNT(*) FROM posts WHERE slot = 0").scalar() == 0  # old copy gone
    got = conns[3].query("SELECT id FROM posts WHERE id IN (" + ",".join(map(str, written)) + ")").rows
    assert len(got) == len(written)  # every acknowledged write survived the move
    status, user, shard = call("GET", f"/users/{uids[0]}")
    assert status == 200 and shard == "shard3"
    assert call("POST", f"/users/{uids[0]}/posts", {"body": "after"})[2] == "shard3"


def test_bad_requests_and_bad_moves_are_refused(api):
    call, _ = api("--mode", "hash", "--slots", "8")
    uid = call("POST", "/users", {"name": "x"})[1]["id"]
    assert call("POST", "/users", {"name": ""})[0] == 422
    assert call("POST", "/users", {"name": "n" * 101})[0] == 422
    assert call("POST", "/users", "nope")[0] == 422
    assert call("GET", "/users/999999")[0] == 404
    assert call("POST", "/users/999999/posts", {"body": "x"})[0] == 404
    assert call("GET", "/feed?users=a,b")[0] == 400
    assert call("GET", "/feed")[0] == 400
    slot = call("GET", "/shards")[1]["slots"][0]
    status, body, _ = call("POST", "/admin/move", {"slot": 0, "to": slot["shard"]})
    assert status == 409 and "already" in body["detail"]
    assert call("POST", "/admin/move", {"slot": 99, "to": "shard1"})[0] == 409
    assert call("POST", "/admin/move", {"slot": 0, "to": "nowhere"})[0] == 409
    assert call("POST", "/admin/move", {"slot": "0"})[0] == 422
    assert call("GET", f"/users/{uid}")[0] == 200
