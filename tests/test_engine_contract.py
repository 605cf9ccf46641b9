"""One contract for every KV engine: Bitcask, the B+ tree, the LSM, and the MySQL-backed
KV of servers/kvsql (D7), whose rows live in three private MariaDB instances.

Parametrised over ``storage.engines.available()`` plus kvsql: the same
get/put/delete/scan, reopen and SIGKILL tests, and a Hypothesis state machine
against a dict model with reopen steps (and crash steps for engines that can be
abandoned in-process). A kvsql "directory" holds only ``shards.json``, naming a
fresh database on each instance, so every test starts from empty tables.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from clients.mysql import Connection
from harness.services import MariaDB, start_all
from servers.kvsql.engine import SHARDS_FILE
from storage import engines

REPO = Path(__file__).resolve().parent.parent
KVSQL = "servers.kvsql.engine:open_dir"
NAMES = [*engines.available(), KVSQL]
pytestmark = pytest.mark.exercise("S8")
_databases = itertools.count()


def test_the_registry_has_bitcask_and_the_bptree():
    assert {"bitcask", "bptree"} <= set(NAMES)


@pytest.fixture(scope="module")
def mariadbs():
    servers = start_all([MariaDB() for _ in range(3)])
    yield [s.address for s in servers]
    for s in servers:
        s.stop()


def prepare(name: str, path: Path, mariadbs) -> Path:
    """Make ``path`` ready for ``engines.open(name, path)``: nothing for an engine on
    files; for kvsql, a new database on each instance and the shards.json naming them."""
    if name == KVSQL:
        path.mkdir(parents=True, exist_ok=True)
        db = f"contract{next(_databases)}"
        shards = {}
        for i, a in enumerate(mariadbs):
            with Connection.from_address(a) as c:
                c.query(f"CREATE DATABASE {db}")
            shards[f"s{i}"] = f"mysql://{a.user}@{a.host}:{a.port}/{db}"
        (path / SHARDS_FILE).write_text(json.dumps({"shards": shards}))
    return path


@pytest.fixture(params=NAMES, ids=lambda n: "kvsql" if n == KVSQL else n)
def name(request):
    return request.param


@pytest.fixture
def db_path(request, name, tmp_path):
    """The engine's directory, prepared (MariaDB started only when kvsql is in play)."""
    dbs = request.getfixturevalue("mariadbs") if name == KVSQL else None
    return prepare(name, tmp_path / "db", dbs)


def test_get_put_delete(name, db_path):
    db = engines.open(name, db_path)
    try:
        assert db.get(b"missing") is None
        db.put(b"k", b"v1")
        db.put(b"k", b"v2")
        assert db.get(b"k") == b"v2"
        assert db.delete(b"k") is True
        assert db.get(b"k") is None
        assert db.delete(b"k") is False
        db.put(b"empty", b"")
        assert db.get(b"empty") == b""
    finally:
        db.close()


def test_scan_is_ordered_and_half_open(name, db_path):
    db = engines.open(name, db_path)
    try:
        keys = [b"%04d" % i for i in range(500)]
        for k in random.Random(1).sample(keys, len(keys)):
            db.put(k, k[::-1])
        db.delete(b"0100")
        assert [k for k, _ in db.scan()] == [k for k in keys if k != b"0100"]
        got = list(db.scan(b"0098", b"0103"))
        assert got == [(b"0098", b"8900"), (b"0099", b"9900"), (b"0101", b"1010"), (b"0102", b"2010")]
        assert list(db.scan(b"9", None)) == []
    finally:
        db.close()


def test_reopen_keeps_everything_put_and_nothing_deleted(name, db_path):
    model = {}
    rng = random.Random(2)
    for _ in range(3):
        db = engines.open(name, db_path)
        for _ in range(400):
            k = b"key%d" % rng.randrange(150)
            if rng.random() < 0.3:
                db.delete(k)
                model.pop(k, None)
            else:
                model[k] = b"v" * rng.randrange(0, 200)
                db.put(k, model[k])
        db.close()
        db = engines.open(name, db_path)
        assert dict(db.scan()) == model
        assert len(db) == len(model)
        db.close()


def _run_and_kill(name: str, directory: Path, ops: list[str], kill_after: int) -> int:
    """Feed ``ops`` to an engine child, SIGKILL it after ``kill_after`` acks; return acks."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "storage.enginechild", name, str(directory), "--sync", "always"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin and proc.stdout
    try:
        assert proc.stdout.readline() == b"READY\n", proc.stderr.read() if proc.stderr else ""
        proc.stdin.write("".join(ops).encode())  # all queued at once: the kill lands mid-write
        proc.stdin.flush()
        acked = 0
        while acked < kill_after and proc.stdout.readline():
            acked += 1
        proc.send_signal(signal.SIGKILL)
        acked += proc.stdout.read().count(b"\n")
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return acked


def test_sigkill_loses_no_acknowledged_write_and_resurrects_no_delete(name, db_path):
    rng = random.Random(3)
    model: dict[bytes, bytes] = {}
    for round_ in range(3):
        ops, models = [], [dict(model)]
        for i in range(600):
            k = b"k%d" % rng.randrange(80)
            m = dict(models[-1])
            if rng.random() < 0.3:
                ops.append(f"D {i} {k.decode()}\n")
                m.pop(k, None)
            else:
                v = b"r%d-%d-" % (round_, i) + b"x" * rng.randrange(100)
                ops.append(f"P {i} {k.decode()} {v.decode()}\n")
                m[k] = v
            models.append(m)
        acked = _run_and_kill(name, db_path, ops, rng.randrange(50, 500))
        db = engines.open(name, db_path)
        state = dict(db.scan())
        db.close()
        # Everything acknowledged is there; at most the one write in flight is too.
        assert state in (models[acked], models[min(acked + 1, len(ops))]), f"{acked} acked"
        model = state


class EngineVsDict(RuleBasedStateMachine):
    """Random puts, deletes, scans, reopens (and crashes) against a dict."""

    engine = "bptree"
    mariadbs: list = []  # kvsql's instances

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="contract-")
        prepare(self.engine, Path(self.dir), self.mariadbs)
        self.db = self._open()
        self.model: dict[bytes, bytes] = {}

    def _open(self):
        options = {"cache_pages": 16} if self.engine == "bptree" else {}
        return engines.open(self.engine, self.dir, **options)

    keys = st.binary(min_size=1, max_size=40)

    @rule(key=keys, value=st.binary(max_size=300))
    def put(self, key, value):
        self.db.put(key, value)
        self.model[key] = value

    @rule(key=keys)
    def delete(self, key):
        assert self.db.delete(key) == (key in self.model)
        self.model.pop(key, None)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete_existing(self, data):
        key = data.draw(st.sampled_from(sorted(self.model)))
        assert self.db.delete(key)
        del self.model[key]

    @rule(key=keys)
    def get(self, key):
        assert self.db.get(key) == self.model.get(key)

    @rule(lo=keys, hi=keys)
    def scan(self, lo, hi):
        want = sorted((k, v) for k, v in self.model.items() if lo <= k < hi)
        assert list(self.db.scan(lo, hi)) == want

    @rule()
    def reopen(self):
        self.db.close()
        self.db = self._open()

    @precondition(lambda self: hasattr(self.db, "abandon"))
    @rule()
    def crash(self):
        self.db.abandon()  # no close, no checkpoint: what a SIGKILL leaves on disk
        self.db = self._open()

    @invariant()
    def same_size(self):
        assert len(self.db) == len(self.model)

    def teardown(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _machine(engine_name: str, mariadbs):
    cls = type("EngineVsDict_", (EngineVsDict,), {"engine": engine_name, "mariadbs": mariadbs})
    return cls.TestCase


SETTINGS = settings(max_examples=15, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@pytest.mark.parametrize("engine_name", NAMES, ids=lambda n: "kvsql" if n == KVSQL else n)
def test_engine_behaves_like_a_dict(request, engine_name):
    case = _machine(engine_name, request.getfixturevalue("mariadbs") if engine_name == KVSQL else [])
    case.settings = SETTINGS
    case("runTest").runTest()
