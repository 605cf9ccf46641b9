"""D11: the keys / upsert / pagination experiment runs, and its claims hold on real MariaDB."""

from __future__ import annotations

import json
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
    res = paging.run(conn, "pg_sparse", rounds=1)
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


def test_offset_and_keyset_agree_at_every_depth_down_to_the_short_last_page(conn):
    conn.query("DROP TABLE IF EXISTS pg_short")
    conn.query("CREATE TABLE pg_short (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
               " payload CHAR(8) NOT NULL)")  # fmt: skip
    conn.insert_many("INSERT INTO pg_short (payload) VALUES", [(f"r{i}",) for i in range(1_013)])
    ids = [r[0] for r in conn.query("SELECT id FROM pg_short ORDER BY id").rows]
    # the first page, the middle, the last full page, the short last page (13 rows),
    # its last row alone, and past the end (nothing, both ways)
    for depth in (0, 1, 20, 500, 993, 1_000, 1_012, 1_013):
        want = ids[depth : depth + paging.PAGE]
        for way in paging.WAYS:
            assert [r[0] for r in paging.page(conn, way, "pg_short", depth)] == want, (way, depth)
    res = paging.run(conn, "pg_short", rounds=1)
    assert list(res) == ["0", "100", "993"]  # depths from the table's own count
    assert all(cell["identical"] for cell in res.values())
    assert all(cell[way]["returned"] == paging.PAGE for cell in res.values() for way in paging.WAYS)


def test_rows_that_do_not_divide_by_the_rounds_are_all_inserted_and_paged_alike(
    tmp_path, monkeypatch, mariadb
):
    """1,001 rows in 3 rounds: every row is inserted (not 3 x 333) and the deepest page,
    at 981, is a full one that both ways return alike (it once read 'same_rows NO')."""
    monkeypatch.setenv("SYSLAB_MYSQL_URL", "mysql:" + mariadb.url)
    main(["--rows", "1001", "--upsert-rows", "20", "--rounds", "3", "--out", str(tmp_path)])
    doc = json.loads((tmp_path / "mysql_keys.json").read_text())
    pages = doc["paging"]
    assert list(pages) == ["0", "100", "981"]
    assert all(cell["identical"] for cell in pages.values())
    assert pages["981"]["offset"]["returned"] == pages["981"]["keyset"]["returned"] == paging.PAGE
    same = {r["extra"]["same_rows"] for r in doc["rows"] if r["workload"].startswith("page at")}
    assert same == {"yes"}
    assert {k: v["rows"] for k, v in doc["keys"].items()} == dict.fromkeys(doc["keys"], 1_001)
    assert [sum(r["rows_per_s"] > 0 for r in v["rounds"]) for v in doc["keys"].values()] == [3] * 5


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
