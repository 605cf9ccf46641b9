"""D1: the blocking client against a real private MariaDB.

Each test makes its own table (named after the test) in the session's server.
Statements that depend on the protocol variant run with and without
CLIENT_DEPRECATE_EOF, since servers differ in which one they speak.
"""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest

from clients.mysql import (
    Connection,
    DeadlockError,
    DuplicateKeyError,
    IntegrityError,
    InterfaceError,
    LockWaitTimeoutError,
    ProgrammingError,
    connect,
)

pytestmark = pytest.mark.exercise("D1")


@pytest.fixture(params=[True, False], ids=["deprecate_eof", "classic_eof"])
def conn(request, mariadb):
    c = Connection.from_address(mariadb, deprecate_eof=request.param)
    assert c.usable
    yield c
    c.close()


def test_connects_over_tcp_and_unix_socket(mariadb):
    with connect(mariadb.host, mariadb.port, mariadb.user, mariadb.password, mariadb.database) as c:
        assert c.query("SELECT DATABASE(), @@character_set_client").rows == [("test", "utf8mb4")]
        assert "MariaDB" in c.server_version
        assert c.connection_id == c.query("SELECT CONNECTION_ID()").scalar()
    with connect(user="root", database="test", unix_socket=mariadb.unix_socket) as c:
        assert c.query("SELECT 1").scalar() == 1
    assert c.closed and not c.usable
    with pytest.raises(InterfaceError):
        c.query("SELECT 1")


TYPES_DDL = """
CREATE TABLE {t} (
  id INT PRIMARY KEY, ti TINYINT, si SMALLINT UNSIGNED, bi BIGINT UNSIGNED, bs BIGINT,
  de DECIMAL(12,4), fl FLOAT, db DOUBLE, vc VARCHAR(50), bl BLOB, vb VARBINARY(8),
  ch CHAR(3), dt DATE, dtm DATETIME(6), ts TIMESTAMP NULL, tm TIME(3), yr YEAR,
  js JSON, bt BIT(10), en ENUM('a','b'), st SET('x','y'), tx TEXT
)"""

ROW = (
    1, -128, 65535, 18446744073709551615, -9223372036854775808,
    Decimal("-12345678.1234"), 1.5, 2.25e300, "héllo 🐬 ' \" \\", b"\x00\xff\x1a\\'", b"ab\x00",
    "abc", datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
    datetime.datetime(2020, 1, 2, 3, 4, 5), datetime.timedelta(hours=-100, seconds=-1, milliseconds=-500),
    2024, {"k": [1, 2.5, None, "v"]}, 0b1000000001, "b", "x,y", "long " * 100,
)  # fmt: skip


def test_values_decode_to_python_types_in_text_and_binary_protocol(conn):
    conn.query("DROP TABLE IF EXISTS types_t")
    conn.query(TYPES_DDL.format(t="types_t"))
    placeholders = ", ".join(["%s"] * len(ROW))
    row = list(ROW)
    row[17] = '{"k": [1, 2.5, null, "v"]}'  # JSON goes in as text
    conn.query(f"INSERT INTO types_t VALUES ({placeholders})", row)
    conn.query("INSERT INTO types_t (id) VALUES (2)")
    text = conn.query("SELECT * FROM types_t ORDER BY id")
    assert text.rows[0] == ROW
    assert text.rows[1] == (2,) + (None,) * (len(ROW) - 1)
    binary = conn.execute("SELECT * FROM types_t WHERE id >= ? ORDER BY id", (1,))
    assert binary.rows == text.rows
    assert [c.name for c in binary.columns] == text.column_names
    assert text.columns[9].is_binary and not text.columns[8].is_binary


def test_prepared_statement_binds_every_parameter_type(conn):
    conn.query("DROP TABLE IF EXISTS params_t")
    conn.query(TYPES_DDL.format(t="params_t"))
    placeholders = ", ".join(["?"] * len(ROW))
    row = list(ROW)
    row[17] = '{"k": [1, 2.5, null, "v"]}'
    row[18] = 513  # BIT from an int
    ok = conn.execute(f"INSERT INTO params_t VALUES ({placeholders})", row)
    assert ok.affected_rows == 1
    conn.execute(f"INSERT INTO params_t VALUES ({placeholders})", [2] + [None] * (len(ROW) - 1))
    got = conn.query("SELECT * FROM params_t ORDER BY id").rows
    assert got[0] == ROW
    assert got[1] == (2,) + (None,) * (len(ROW) - 1)
    bulk = [[3] + row[1:], [4] + [None] * (len(ROW) - 1), [5] + row[1:]]  # one bulk command
    assert conn.executemany(f"INSERT INTO params_t VALUES ({placeholders})", bulk) == 3
    got = conn.query("SELECT * FROM params_t WHERE id >= 3 ORDER BY id").rows
    assert got == [(3,) + ROW[1:], (4,) + (None,) * (len(ROW) - 1), (5,) + ROW[1:]]
    with conn.prepare("SELECT ? + 1, CONCAT(?, 'x')") as stmt:
        assert stmt.param_count == 2 and len(stmt.columns) == 2
        assert stmt.execute((41, "y")).rows == [(42, "yx")]
        assert stmt.execute((1.5, "")).rows == [(2.5, "x")]
    with pytest.raises(ProgrammingError):
        conn.execute("SELECT ?", ())  # wrong number of parameters


def test_ok_packet_reports_affected_rows_insert_id_warnings_and_info(conn):
    conn.query("DROP TABLE IF EXISTS ok_t")
    conn.query("CREATE TABLE ok_t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    r = conn.query("INSERT INTO ok_t (v) VALUES (1), (2), (3)")
    assert (r.affected_rows, r.insert_id) == (3, 1)
    assert r.info.startswith("Records: 3")
    r = conn.query("UPDATE ok_t SET v = v + 1 WHERE v >= %s", (2,))
    assert r.affected_rows == 2 and "Rows matched: 2" in r.info
    r = conn.execute("INSERT INTO ok_t (v) VALUES (?)", (9,))
    assert r.insert_id == 4
    r = conn.query("DROP TABLE IF EXISTS no_such_table_here")
    assert r.warnings == 1


def test_multiple_result_sets_come_back_chained(conn):
    r = conn.query("SELECT 1 AS a; DO 0; SELECT 'x', NULL UNION ALL SELECT 'y', 2")
    parts = r.all()
    assert [p.rows for p in parts] == [[(1,)], [], [("x", None), ("y", 2)]]
    assert parts[0].column_names == ["a"]
    assert conn.query("SELECT 5").scalar() == 5  # the connection is in step afterwards


def test_server_errors_raise_classes_with_code_and_sqlstate(conn):
    conn.query("DROP TABLE IF EXISTS err_t")
    conn.query("CREATE TABLE err_t (id INT PRIMARY KEY, v INT NOT NULL)")
    conn.query("INSERT INTO err_t VALUES (1, 1)")
    with pytest.raises(DuplicateKeyError) as e:
        conn.query("INSERT INTO err_t VALUES (1, 2)")
    assert (e.value.code, e.value.sqlstate) == (1062, "23000")
    assert isinstance(e.value, IntegrityError)
    with pytest.raises(DuplicateKeyError):
        conn.execute("INSERT INTO err_t VALUES (?, ?)", (1, 3))
    with pytest.raises(ProgrammingError) as e:
        conn.query("SELEC 1")
    assert (e.value.code, e.value.sqlstate) == (1064, "42000")
    with pytest.raises(ProgrammingError) as e:
        conn.query("SELECT 1; SELECT * FROM missing_table; SELECT 3")
    assert e.value.code == 1146
    assert conn.usable and conn.query("SELECT 2").scalar() == 2


def test_ping_select_db_and_quit(mariadb):
    c = Connection.from_address(mariadb)
    c.ping()
    c.query("CREATE DATABASE IF NOT EXISTS other_db")
    c.select_db("other_db")
    assert c.query("SELECT DATABASE()").scalar() == "other_db"
    with pytest.raises(ProgrammingError):
        c.select_db("does_not_exist")
    c.close()
    with pytest.raises(InterfaceError):
        c.ping()


def test_transactions_commit_rollback_and_context_manager(conn, mariadb):
    conn.query("DROP TABLE IF EXISTS tx_t")
    conn.query("CREATE TABLE tx_t (id INT PRIMARY KEY) ENGINE=InnoDB")
    assert conn.autocommit and not conn.in_transaction
    conn.begin()
    conn.query("INSERT INTO tx_t VALUES (1)")
    assert conn.in_transaction
    conn.rollback()
    assert not conn.in_transaction
    with conn.transaction():
        conn.query("INSERT INTO tx_t VALUES (2)")
    with pytest.raises(DuplicateKeyError), conn.transaction():
        conn.query("INSERT INTO tx_t VALUES (3)")
        conn.query("INSERT INTO tx_t VALUES (2)")
    assert not conn.in_transaction
    conn.set_autocommit(False)
    assert not conn.autocommit
    conn.query("INSERT INTO tx_t VALUES (4)")
    with Connection.from_address(mariadb) as other:  # uncommitted: invisible elsewhere
        assert other.query("SELECT id FROM tx_t ORDER BY id").rows == [(2,)]
    conn.commit()
    assert conn.query("SELECT id FROM tx_t ORDER BY id").rows == [(2,), (4,)]


def test_streaming_reads_a_large_result_without_buffering_it(conn):
    with conn.stream("SELECT seq, REPEAT('x', 100) FROM seq_1_to_50000") as rows:
        assert [c.name for c in rows.columns] == ["seq", "REPEAT('x', 100)"]
        batches = 0
        total = 0
        for batch in rows.batches():
            batches += 1
            total += sum(r[0] for r in batch)
        assert total == 50000 * 50001 // 2
        assert batches > 1  # rows arrived in several pieces, not as one list
    with conn.stream("SELECT seq FROM seq_1_to_100000") as rows:  # abandon early
        for row in rows:
            if row[0] == 10:
                break
    assert conn.query("SELECT 7").scalar() == 7
    with conn.stream("DO 1") as rows:  # a statement without rows
        assert list(rows) == [] and rows.ok is not None


def test_busy_connection_refuses_a_second_command(conn):
    rows = conn.stream("SELECT seq FROM seq_1_to_1000")
    with pytest.raises(InterfaceError):
        conn.query("SELECT 1")
    assert sum(1 for _ in rows) == 1000
    assert conn.query("SELECT 1").scalar() == 1


def _lock_pair(mariadb, table):
    a = Connection.from_address(mariadb)
    b = Connection.from_address(mariadb)
    a.query(f"DROP TABLE IF EXISTS {table}")
    a.query(f"CREATE TABLE {table} (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    a.query(f"INSERT INTO {table} VALUES (1, 0), (2, 0)")
    return a, b


def test_lock_wait_timeout_raises_its_own_class(mariadb):
    a, b = _lock_pair(mariadb, "lockwait_t")
    a.begin()
    a.query("UPDATE lockwait_t SET v = 1 WHERE id = 1")
    b.query("SET SESSION innodb_lock_wait_timeout = 1")
    with pytest.raises(LockWaitTimeoutError) as e:
        b.query("UPDATE lockwait_t SET v = 2 WHERE id = 1")
    assert e.value.code == 1205
    a.rollback()
    a.close()
    b.close()


def test_deadlock_raises_its_own_class(mariadb):
    a, b = _lock_pair(mariadb, "deadlock_t")
    a.begin()
    b.begin()
    a.query("UPDATE deadlock_t SET v = 1 WHERE id = 1")
    b.query("UPDATE deadlock_t SET v = 1 WHERE id = 2")
    errors: list[BaseException] = []

    def a_wants_2() -> None:
        try:
            a.query("UPDATE deadlock_t SET v = 2 WHERE id = 2")  # waits for b
        except Exception as e:
            errors.append(e)

    # Whichever of the two crossing requests reaches InnoDB second closes the cycle,
    # so no ordering (and no waiting) is needed: one of them is the victim.
    t = threading.Thread(target=a_wants_2)
    t.start()
    try:
        b.query("UPDATE deadlock_t SET v = 2 WHERE id = 1")
    except Exception as e:
        errors.append(e)
    b.rollback()
    t.join(30)
    a.rollback()
    assert any(isinstance(e, DeadlockError) and e.code == 1213 for e in errors), errors
    a.close()
    b.close()


def test_values_over_16mb_cross_the_packet_split_both_ways(mariadb):
    """A >16MB parameter and row travel as several packets, in both protocols."""
    with Connection.from_address(mariadb) as admin:
        admin.query("SET GLOBAL max_allowed_packet = 64 * 1024 * 1024")
    big = bytes(range(256)) * (17 * 4096)  # 17MB: more than one 0xFFFFFF chunk
    with Connection.from_address(mariadb) as c:
        c.query("DROP TABLE IF EXISTS big_t")
        c.query("CREATE TABLE big_t (id INT PRIMARY KEY, b LONGBLOB)")
        c.execute("INSERT INTO big_t VALUES (?, ?)", (1, big))
        assert c.query("SELECT b, LENGTH(b) FROM big_t").rows == [(big, len(big))]
        assert c.execute("SELECT b FROM big_t WHERE id = ?", (1,)).scalar() == big
        c.query("INSERT INTO big_t VALUES (2, %s)", (big[: 9 * 1024 * 1024],))  # 18MB of hex
        assert c.query("SELECT LENGTH(b) FROM big_t WHERE id = 2").scalar() == 9 * 1024 * 1024
        c.query("DROP TABLE big_t")


def test_executemany_bulk_and_pipelined(conn):
    conn.query("DROP TABLE IF EXISTS many_t")
    conn.query("CREATE TABLE many_t (id INT PRIMARY KEY, v VARCHAR(20))")
    assert conn._proto.bulk  # MariaDB offers COM_STMT_BULK_EXECUTE
    rows = [(i, f"v{i}" if i % 7 else None) for i in range(2500)]
    with conn.transaction():
        assert conn.executemany("INSERT INTO many_t VALUES (?, ?)", rows) == 2500
    assert conn.query("SELECT COUNT(*), SUM(id), COUNT(v) FROM many_t").first() == (
        2500, sum(range(2500)), 2500 - len(range(0, 2500, 7)))  # fmt: skip
    # Bulk: one command, so one failing set fails the command (statement atomicity).
    with pytest.raises(DuplicateKeyError):
        conn.executemany("INSERT INTO many_t VALUES (?, ?)", [(5000, "a"), (1, "dup"), (5001, "b")])
    assert conn.query("SELECT COUNT(*) FROM many_t WHERE id >= 5000").scalar() == 0
    # A column mixing value types cannot go as one bulk command: pipelined executes,
    # three windows; the failing one does not stop the rest of its window.
    mixed = [(6000 + i, i if i % 2 else f"s{i}") for i in range(2100)]
    assert conn.executemany("INSERT INTO many_t VALUES (?, ?)", mixed) == 2100
    with pytest.raises(DuplicateKeyError):
        conn.executemany("INSERT INTO many_t VALUES (?, ?)", [(9000, 1), (1, "dup"), (9001, "b")])
    assert conn.query("SELECT id FROM many_t WHERE id >= 9000").rows == [(9000,), (9001,)]
    assert conn.executemany("SELECT ?", [(1,), (2,)]) == 0  # result sets: pipelined too
    assert conn.usable and conn.query("SELECT 3").scalar() == 3
