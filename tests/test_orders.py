"""D8: two-phase commit over three real MariaDB instances with XA, the food-ordering flow,
and recovery after SIGKILLs of the coordinator and of a participant."""

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from clients.mysql import Connection
from harness.procs import REPO_ROOT
from harness.services import MariaDB
from servers.orders.decisions import DecisionLog
from servers.orders.flow import PARTICIPANTS, check, order_work, seed
from servers.orders.twopc import Coordinator

pytestmark = pytest.mark.exercise("D8")

STOCK, AGENTS = 10, 3


@pytest.fixture(scope="module")
def dbs():
    servers = {n: MariaDB().start() for n in PARTICIPANTS}
    yield servers
    for m in servers.values():
        m.stop()


@pytest.fixture
def conns(dbs):
    cs = {n: Connection.from_address(m.address) for n, m in dbs.items()}
    for c in cs.values():  # settle anything a previous test left prepared
        for _f, glen, blen, data in c.query("XA RECOVER").rows:
            c.query("XA ROLLBACK %s, %s", (data[:glen], data[glen : glen + blen]))
    seed(cs, STOCK, AGENTS)
    yield cs
    for c in cs.values():
        c.close()


@pytest.fixture
def coordinator(dbs, conns, tmp_path):
    c = Coordinator(DecisionLog(tmp_path / "log"), {n: m.address for n, m in dbs.items()})
    yield c
    c.close()


def prepared(conns):
    return {n: sorted(bytes(r[3]).decode() for r in c.query("XA RECOVER").rows) for n, c in conns.items()}


def test_an_order_commits_on_all_three(coordinator, conns):
    out = coordinator.run("order-a", order_work(item=1, qty=2))
    assert out.committed and out.results["delivery"] == 1 and not out.unsettled
    state = check(conns, STOCK)
    assert state == {"committed": ["order-a"], "problems": []}
    assert conns["store"].query("SELECT stock FROM items WHERE id = 1").scalar() == STOCK - 2
    assert coordinator.decisions.outcome("order-a") == "commit" and coordinator.decisions.finished("order-a")


@pytest.mark.parametrize("qty, agents_busy, reason", [(STOCK + 1, 0, "stock"), (1, AGENTS, "agent")])
def test_a_refused_branch_rolls_back_every_branch(coordinator, conns, qty, agents_busy, reason):
    for i in range(agents_busy):
        assert coordinator.run(f"order-busy{i}", order_work(item=2, qty=1)).committed
    out = coordinator.run("order-x", order_work(item=1, qty=qty))
    assert not out.committed and reason in out.reason
    state = check(conns, STOCK)
    assert "order-x" not in state["committed"] and state["problems"] == []
    assert prepared(conns) == {n: [] for n in PARTICIPANTS}
    assert coordinator.decisions.outcome("order-x") == "abort"


def test_concurrent_orders_never_double_assign_an_agent(coordinator, conns):
    outcomes = []

    def place(i):
        outcomes.append(coordinator.run(f"order-c{i}", order_work(item=1 + i % 5, qty=1)))

    threads = [threading.Thread(target=place, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    committed = [o for o in outcomes if o.committed]
    assert len(committed) == AGENTS  # one order per agent, the rest refused cleanly
    assert len({o.results["delivery"] for o in committed}) == AGENTS
    state = check(conns, STOCK)
    assert state["problems"] == [] and len(state["committed"]) == AGENTS


def crash_child(dbs, log_dir, txid, step):
    """Run one order in a child process and SIGKILL it at ``step``."""
    args = ["--log", str(log_dir), "--txid", txid, "--item", "3", "--qty", "1", "--pause-at", step]
    for n, m in dbs.items():
        args += [f"--{n}", f"mysql:{m.address.url}"]
    proc = subprocess.Popen([sys.executable, "-m", "servers.orders.crashchild", *args], cwd=REPO_ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    line = proc.stdout.readline()
    assert line.split()[:2] == ["AT", step], line
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("step, outcome, settled", [
    ("after-prepare", "rolled_back", 3),       # no decision logged: presumed abort
    ("after-decision", "committed", 3),        # COMMIT was durable: finish it everywhere
    ("after-first-commit", "committed", 2),    # the store committed; the other two wait
])  # fmt: skip
def test_coordinator_killed_mid_protocol_recovers_to_one_outcome(dbs, conns, tmp_path, step,
                                                                 outcome, settled):  # fmt: skip
    crash_child(dbs, tmp_path / "log", "order-k", step)
    held = prepared(conns)
    assert sum(len(v) for v in held.values()) == settled  # branches left waiting in PREPARED
    c = Coordinator(DecisionLog(tmp_path / "log"), {n: m.address for n, m in dbs.items()})
    try:
        counts = c.recover()
        assert counts[outcome] == settled and counts["unreachable"] == 0
        assert prepared(conns) == {n: [] for n in PARTICIPANTS}
        state = check(conns, STOCK)
        assert state["problems"] == []
        assert ("order-k" in state["committed"]) == (outcome == "committed")
        assert c.recover() == {"committed": 0, "rolled_back": 0, "unreachable": 0}  # idempotent
    finally:
        c.close()


def test_participant_killed_while_prepared_commits_after_it_returns(dbs, conns, tmp_path):
    delivery = dbs["delivery"]

    def kill_delivery(step, txid):
        if step == "after-decision":
            delivery.child.proc.send_signal(signal.SIGKILL)
            delivery.child.proc.wait()

    c = Coordinator(DecisionLog(tmp_path / "log"), {n: m.address for n, m in dbs.items()},
                    pause_at=kill_delivery)  # fmt: skip
    try:
        out = c.run("order-p", order_work(item=4, qty=1))
        assert out.committed and out.unsettled == ["delivery"]
        assert not c.decisions.finished("order-p")
        assert c.recover()["unreachable"] == 1  # still down: nothing can be decided there
        delivery.start()  # the same data directory: InnoDB recovers the PREPARED branch
        conns["delivery"] = Connection.from_address(delivery.address)
        assert prepared(conns)["delivery"] == ["order-pdelivery"]
        assert c.recover()["committed"] == 1
        assert check(conns, STOCK) == {"committed": ["order-p"], "problems": []}
        assert c.decisions.finished("order-p")
    finally:
        c.close()


def test_http_api_places_orders_and_refuses_bad_input(dbs, conns, tmp_path, launch):
    urls = []
    for n, m in dbs.items():
        urls += [f"--{n}-url", f"mysql:{m.address.url}"]
    child = launch("servers.orders", "--dir", str(tmp_path), *urls)
    base = f"http://127.0.0.1:{child.port}"

    def call(method, path, body=None):
        req = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    status, body = call("POST", "/orders", {"item": 1, "qty": 2})
    assert status == 201 and body["agent"] == 1
    txid = body["order"]
    status, body = call("GET", f"/orders/{txid}")
    assert status == 200 and body["outcome"] == "commit" and body["row"]["agent"] == 1
    assert call("POST", "/orders", {"item": 1, "qty": 999})[0] == 422
    assert call("POST", "/orders", {"item": "x"})[0] == 422
    assert call("POST", "/orders", "not an object")[0] == 400
    status, body = call("POST", "/orders", {"item": 1, "qty": STOCK})
    assert status == 409 and "stock" in body["detail"] and body["status"] == 409
    assert call("GET", "/orders/order-nope")[0] == 404
    assert call("POST", f"/orders/{txid}/delivered")[1]["agent_free"] == 1
    stock = call("GET", "/stock")[1]
    assert stock["agents"] == {"total": AGENTS, "busy": 0}
    assert check(conns, STOCK)["problems"] == []


def test_decision_log_survives_reopen(tmp_path):
    log = DecisionLog(tmp_path)
    log.decide("order-1", "commit")
    log.decide("order-2", "abort")
    log.finish("order-2")
    log.close()
    again = DecisionLog(tmp_path)
    assert again.outcome("order-1") == "commit" and not again.finished("order-1")
    assert again.outcome("order-2") == "abort" and again.finished("order-2")
    assert again.outcome("order-3") is None and again.unfinished() == ["order-1"]
    with pytest.raises(ValueError):
        again.decide("order-4", "maybe")
    again.close()


def test_twopc_bench_quick_run_finds_no_inconsistency(tmp_path, monkeypatch, capsys):
    import bench.common
    from bench import twopc
    from tests.support import assert_bench_report

    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    twopc.main(["--runs", "4", "--orders", "20", "--threads", "2", "--rounds", "1"])
    doc = assert_bench_report(tmp_path, "twopc")
    assert {r["impl"] for r in doc["rows"]} == {"2PC", "3 local transactions"}
    assert all(r["extra"]["rounds"] == 1 for r in doc["rows"])
    outcomes = {r["impl"]: r for r in doc["outcomes"]}
    assert set(outcomes) == {"no kill", "coordinator after-prepare", "coordinator after-decision",
                             "coordinator after-first-commit"}  # fmt: skip
    assert all(r["value"] == 0 for r in outcomes.values())  # no inconsistent order
    assert outcomes["coordinator after-prepare"]["extra"]["aborted"] == 1
    assert outcomes["coordinator after-decision"]["extra"]["committed"] == 1
