"""D11: the keys / upsert / pagination experiment runs, and its claims hold on real MariaDB."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from bench.mysql_keys import paging, upsert
from bench.mysql_keys.__main__ import main
from bench.mysql_keys.inserts import MonotonicUUID7, uuid7
from clients.mysql import Connection
from tests.support import assert_bench_report

pytestmark = pytest.mark.exercise("D11")


@pytest.fixture
def conn(mariadb):
    with Connection.from_address(mariadb) as c:
        yield c


def test_quick_run_measures_every_part_and_explains(tmp_path, monkeypatch, mariadb, capsys):
    monkeypatch.setenv("SYSLAB_MYSQL_URL", "mysql:" + mariadb.url)
    main(["--quick", "--rounds", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("why:") == 3
    doc = assert_bench_report(tmp_path, "mysql_keys-quick")
    assert (tmp_path / "mysql_keys-quick.png").stat().st_size > 10_000
    keys = doc["keys"]
    assert {k: v["rows"] for k, v in keys.items()} == dict.fromkeys(keys, 4_000)
    # the random key needs more room per row than the increasing one
    assert keys["uuidv4"]["bytes_per_row"] > keys["auto-increment"]["bytes_per_row"]
    ups = doc["upsert"]
    for r in ups["replace into"]["rounds"]:  # delete + insert, and the cascade ate the children
        assert r["handler_delete"] == 1_000 and r["children_left"] == 0
    for r in ups["on duplicate key update"]["rounds"]:  # in place, children untouched
        assert r["handler_delete"] == 0 and r["handler_update"] == 1_000
        assert r["children_left"] == 1_000
    pages = doc["paging"]
    assert all(cell["identical"] for cell in pages.values())
    deepest = pages[max(pages, key=int)]
    assert deepest["offset"]["rows_examined"] >= 3_000
    assert all(cell["keyset"]["rows_examined"] <= paging.PAGE + 1 for cell in pages.values())
    assert all(isinstance(r["value"], float) for r in doc["rows"])


def test_offset_and_keyset_return_the_same_pages_on_sparse_random_ids(conn):
    conn.query("DROP TABLE IF EXISTS pg_sparse")
    conn.query("CREATE TABLE pg_sparse (id BIGINT NOT NULL PRIMARY KEY, payload CHAR(8) NOT NULL)")
    ids = random.Random(5).sample(range(10**9), 500)
    conn.insert_many("INSERT INTO pg_sparse VALUES", [(i, "x") for i in ids])
    res = paging.run(conn, "pg_sparse", 500, rounds=1)
    assert set(res) == {"0", "100", "480"}
    assert all(cell["identical"] for cell in res.values())
    # and walking the whole table page by page with keyset sees every row once, in order
    seen, last = [], None
    while True:
        sql, params = paging._sql("keyset", "pg_sparse", last)
        page = [r[0] for r in conn.query(sql, params).rows]
        if not page:
            break
        seen += page
        last = page[-1]
    assert seen == sorted(ids)


def test_replace_deletes_and_cascades_where_odku_updates(conn):
    upsert.setup(conn, 50)
    from bench.sqlbench import Counters

    c = Counters(conn, "SESSION", upsert.STATUS)
    odku = upsert.one(conn, "on duplicate key update", 50, 1, c)
    rep = upsert.one(conn, "replace into", 50, 2, c)
    assert (odku["handler_delete"], odku["handler_update"], odku["children_left"]) == (0, 50, 50)
    assert (rep["handler_delete"], rep["children_left"]) == (50, 0)
    assert conn.query("SELECT COUNT(*) FROM up_account WHERE name = 'user 7 r2'").scalar() == 1


def test_uuid7_layout_and_the_counter_variant_is_strictly_increasing():
    u = uuid7()
    assert u[6] >> 4 == 7 and u[8] >> 6 == 0b10  # version and variant bits
    gen = MonotonicUUID7()
    ids = [gen() for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_bad_flags_are_one_line_errors():
    r = subprocess.run([sys.executable, "-m", "bench.mysql_keys", "--rows", "0"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr and "at least 1" in r.stderr
