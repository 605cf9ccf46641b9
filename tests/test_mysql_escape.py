"""D1: client-side interpolation lets no injection through.

Every hostile value must come back from the server exactly as sent, and the
table it was aimed at must be untouched, in the default sql_mode and under
NO_BACKSLASH_ESCAPES (which the client learns from the server's status flag).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.mysql import Connection, ProgrammingError
from clients.mysql.escape import escape_string, interpolate, literal

pytestmark = pytest.mark.exercise("D1")

HOSTILE = [
    "'", "''", "\\", "\\'", "\\\\'", "abc\\", "' OR '1'='1", "'; DROP TABLE victims; --",
    "\0", "a\0b'", "\x1a", "\n\r\t", '"', "\\\"", "%s", "%%", "%(x)s", "\u00bf'",
    "\u00bf\\'", "縷'", "\ufffd'", "🐬'--", "\\0", "\\Z", "\\n", "' /*", "*/ '", "`", "\x00\\'\x1a",
    "\\%' OR 1=1 #",
]  # fmt: skip


@pytest.fixture(params=["default", "no_backslash_escapes"])
def conn(request, mariadb):
    c = Connection.from_address(mariadb)
    if request.param == "no_backslash_escapes":
        c.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        assert c._proto.no_backslash_escapes  # learned from the OK packet's status
    else:
        assert not c._proto.no_backslash_escapes
    c.query("DROP TABLE IF EXISTS victims")
    c.query("CREATE TABLE victims (id INT PRIMARY KEY, v TEXT, b BLOB)")
    yield c
    c.close()


def test_hostile_strings_round_trip_exactly(conn):
    for i, s in enumerate(HOSTILE):
        assert conn.query("SELECT %s", (s,)).scalar() == s, repr(s)
        conn.query("INSERT INTO victims VALUES (%s, %s, %s)", (i, s, s.encode()))
    assert conn.query("SELECT COUNT(*) FROM victims").scalar() == len(HOSTILE)
    got = conn.query("SELECT v, b FROM victims ORDER BY id").rows
    assert got == [(s, s.encode()) for s in HOSTILE]
    for s in HOSTILE:  # as a WHERE operand: matches its own row only
        rows = conn.query("SELECT id FROM victims WHERE BINARY v = BINARY %s", (s,)).rows
        assert rows == [(HOSTILE.index(s),)], repr(s)


def test_hostile_bytes_round_trip_as_hex_literals(conn):
    blobs = [b"\xbf\x27", b"\xbf\x5c\x27", b"\x00\x27\x5c\x1a", bytes(range(256)), b""]
    for b in blobs:
        assert conn.query("SELECT %s", (b,)).scalar() == b


def test_dangerous_rule_is_really_dangerous_under_no_backslash_escapes(mariadb):
    """Backslash-escaping a quote under NO_BACKSLASH_ESCAPES would end the literal."""
    with Connection.from_address(mariadb) as c:
        c.query("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
        payload = "' UNION SELECT 'pwned"
        wrong = "SELECT '" + escape_string(payload, no_backslash_escapes=False) + "'"
        try:  # the payload's quote ends the literal: a syntax error, or another value
            got = c.query(wrong).rows
        except ProgrammingError as e:
            got = e.code
        assert got not in ([(payload,)], 0)
        assert c.query("SELECT %s", (payload,)).rows == [(payload,)]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_text_round_trips(conn, s):
    assert conn.query("SELECT %s", (s,)).scalar() == s


def test_literals_and_placeholder_rules():
    assert interpolate("SELECT 1 %", None) == "SELECT 1 %"  # no params: no % processing
    assert interpolate("SELECT %s, 100%%", (1,)) == "SELECT 1, 100%"
    assert interpolate("SELECT %(a)s + %(a)s", {"a": 2}) == "SELECT 2 + 2"
    assert interpolate("IN %s", ([1, "x", None],)) == "IN (1, 'x', NULL)"
    assert literal(True) == "1" and literal(None) == "NULL"
    assert literal(Decimal("1.50")) == "1.50"
    assert literal(b"\x00'") == "X'0027'"
    assert literal(datetime.datetime(2024, 1, 2, 3, 4, 5, 6)) == "'2024-01-02 03:04:05.000006'"
    assert literal(datetime.timedelta(hours=-26, seconds=-1)) == "'-26:00:01'"
    assert literal("a'b", no_backslash_escapes=True) == "'a''b'"
    for bad in (float("inf"), float("nan"), Decimal("NaN"), object(), []):
        with pytest.raises(ProgrammingError):
            literal(bad)
    with pytest.raises(ProgrammingError):
        interpolate("SELECT %s, %s", (1,))
    with pytest.raises(ProgrammingError):
        interpolate("SELECT %(a)s", {"b": 1})


def test_values_of_every_type_round_trip_through_literals(mariadb):
    values = [
        0, -1, 2**63 - 1, -(2**63), 1.5, -0.25, 1e300, Decimal("-123.456"),
        datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 1, 2, 3, 456789),
        datetime.timedelta(hours=-838, minutes=-59, seconds=-59),
    ]  # fmt: skip
    with Connection.from_address(mariadb) as c:
        casts = ["SIGNED"] * 4 + ["DOUBLE"] * 3 + ["DECIMAL(10,3)", "DATE", "DATETIME(6)", "TIME"]
        sql = "SELECT " + ", ".join(f"CAST(%s AS {t})" for t in casts)
        assert c.query(sql, values).rows == [tuple(values)]


def test_multibyte_charset_switch_is_tracked_and_interpolation_refused(mariadb):
    """Under gbk, 0xbf 0x5c is one character: a backslash-escaped quote after 0xbf
    would end the literal. The client learns of SET NAMES from session tracking and
    refuses to interpolate; server-side binding keeps working."""
    from clients.mysql import InterfaceError

    with Connection.from_address(mariadb) as c:
        assert c._proto.client_charset == "utf8mb4"
        c.query("SET NAMES gbk")
        assert c._proto.client_charset == "gbk"
        with pytest.raises(InterfaceError, match="gbk"):
            c.query("SELECT %s", ("\u00bf' OR 1=1 -- ",))
        with pytest.raises(InterfaceError):
            c.insert_many("INSERT INTO victims VALUES", [(1, "x", b"")])
        # The danger is real: what backslash-escaping "\xbf' UNION ..." gives
        # (0xbf 0x5c 0x27) ends the literal under gbk, and the UNION runs.
        raw = b"SELECT '\xbf\\' UNION SELECT 'pwned' -- '"
        rows = c.query(raw).rows  # type: ignore[arg-type]
        assert len(rows) == 2 and rows[1] == ("pwned",)
        assert rows[0][0] == b"\xbf\x5c".decode("gbk")  # decoded from gbk, as the server sent
        assert c.execute("SELECT ?", ("abc",)).scalar() == "abc"
        c.query("SET NAMES utf8mb4")
        assert c.query("SELECT %s", ("\u00bf'",)).scalar() == "\u00bf'"
