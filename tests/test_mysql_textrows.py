"""D1: the generated text-row scanner (textrows.py) against the plain decoder.

test_mysql_codec checks the inlined converters on well-formed rows; this adds
every text converter (the ones the scanner calls rather than inlines: DECIMAL,
TIME, JSON, BIT, other encodings), NULL in any column, and rows damaged inside
their packets (flipped, dropped or inserted bytes with the packet header kept
consistent), which is where a hand-unrolled parser would go wrong first.
Contract: the same rows as the reference, or ProtocolError where it raises.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.mysql import resultset as R
from clients.mysql import textrows
from clients.mysql.errors import DataError, ProtocolError
from clients.mysql.packets import PacketBuffer, lenenc_bytes
from clients.mysql.textrows import row_scanner

pytestmark = pytest.mark.exercise("D1")

ints = st.integers(-(2**63), 2**64 - 1).map(lambda i: str(i).encode())
KINDS = {  # converter, well-formed (or server-like odd) values
    "int": (int, ints),
    "float": (float, st.floats(allow_nan=False).map(lambda f: repr(f).encode())),
    "str": (R.to_str, st.text(max_size=260).map(str.encode)),
    "latin1": (R._decoder("cp1252"), st.binary(max_size=20)),
    "bytes": (bytes, st.binary(max_size=260)),
    "datetime": (R.to_datetime, st.sampled_from([b"2024-02-29 23:59:58.000001", b"0000-00-00 00:00:00"])),
    "date": (R.to_date, st.sampled_from([b"2024-02-29", b"0000-00-00", b"1000-01-01"])),
    "decimal": (R.to_decimal, st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: str(d).encode())),
    "time": (R.to_timedelta, st.sampled_from([b"-838:59:59.000000", b"100:00:00", b"-00:00:01", b"12:34"])),
    "json": (R.to_json, st.sampled_from([b'{"a": [1, null]}', b"null", b"[[[[1]]]]", b"{bad"])),
    "bit": (R.to_bit_int, st.binary(min_size=1, max_size=8)),
}  # fmt: skip


def packet(payload: bytes, seq: int) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes((seq,)) + payload


def reference(wire: bytes, convs: list) -> list | str:
    buf = PacketBuffer()
    buf.receive_data(wire)
    rows = []
    try:
        while (payload := buf.next_payload()) is not None:
            rows.append(R.decode_text_row(payload, convs))
    except ProtocolError:
        return "ProtocolError"
    return rows


def scanned(wire: bytes, convs: list) -> tuple[list | str, bytes]:
    rows: list = []
    try:
        pos, _ = row_scanner(convs)(wire, 0, 0, rows, 0xFFFFFF)
    except ProtocolError:
        return "ProtocolError", wire
    return rows, wire[:pos]


def damage(payload: bytes, data: st.DataObject) -> bytes:
    if not payload:
        return payload
    at = data.draw(st.integers(0, len(payload) - 1))
    how = data.draw(st.sampled_from(["flip", "drop", "insert"]))
    byte = bytes((data.draw(st.integers(0, 255)),))
    if how == "flip":
        return payload[:at] + byte + payload[at + 1 :]
    if how == "drop":
        return payload[:at] + payload[at + 1 :]
    return payload[:at] + byte + payload[at:]


@settings(max_examples=400, deadline=None)
@given(kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=6), data=st.data())
def test_scanner_agrees_with_the_plain_decoder_on_every_type_null_and_damage(kinds, data):
    convs = [KINDS[k][0] for k in kinds]
    wire = b""
    for seq in range(data.draw(st.integers(1, 4))):
        fields = [data.draw(st.none() | KINDS[k][1]) for k in kinds]
        payload = b"".join(b"\xfb" if f is None else lenenc_bytes(f) for f in fields)
        if data.draw(st.booleans()):
            payload = damage(payload, data)
        wire += packet(payload, seq)
    got, complete = scanned(wire, convs)
    want = reference(complete, convs)
    if got == "ProtocolError":
        assert want == "ProtocolError"
    else:
        assert got == want


def test_every_converter_in_one_row_with_and_without_nulls():
    sample = {"int": b"1", "float": b"1.5", "str": b"x", "latin1": b"\xe9", "bytes": b"\x00",
              "datetime": b"2024-01-02 03:04:05", "date": b"2024-01-02", "decimal": b"1.10",
              "time": b"-30:00:00", "json": b"[1]", "bit": b"\x01\x00"}  # fmt: skip
    convs = [KINDS[k][0] for k in sample]
    values = list(sample.values())
    for nulls in (set(), {0, 3, 6, 9}, set(range(len(values)))):
        row = [None if i in nulls else v for i, v in enumerate(values)]
        wire = packet(b"".join(b"\xfb" if v is None else lenenc_bytes(v) for v in row), 0)
        got, _ = scanned(wire, convs)
        assert got == reference(wire, convs)
        assert isinstance(got, list) and sum(v is None for v in got[0]) == len(nulls)


def test_wide_rows_are_scanned_without_generated_code_and_agree():
    n = textrows.MAX_UNROLLED_COLUMNS + 50
    convs = [int, R.to_str, R.to_decimal, bytes] * (n // 4)
    values = [b"7", b"x", b"1.5", b"\x00"] * (n // 4)
    row = b"".join(b"\xfb" if i % 5 == 0 else lenenc_bytes(v) for i, v in enumerate(values))
    wire = packet(row, 0) + packet(row, 1) + packet(b"\xfe\x00\x00\x02\x00\x00\x00", 2)
    scan = row_scanner(convs)
    assert scan.__code__.co_filename == textrows.__file__  # written here, not generated
    rows: list = []
    pos, seq = scan(wire, 0, 0, rows, 0xFFFFFF)
    assert rows == reference(wire[:pos], convs) and len(rows) == 2 and seq == 2
    with pytest.raises(ProtocolError):
        scan(packet(row, 5), 0, 0, [], 0xFFFFFF)  # out of sequence


def test_a_wide_select_from_the_server(mariadb):
    from clients.mysql import Connection

    cols = ", ".join(f"{i} AS c{i}" for i in range(400))
    with Connection.from_address(mariadb) as c:
        assert c.query(f"SELECT {cols}").rows == [tuple(range(400))]


def test_plans_are_per_encoding_not_shared_and_sql_follows_set_names(mariadb):
    from clients.mysql import Connection

    with Connection.from_address(mariadb) as c:
        first = c.query("SELECT 'é' AS x, 1 AS n")
        first.columns.clear()  # the caller's list, not the cache's
        again = c.query("SELECT 'é' AS x, 1 AS n")
        assert again.column_names == ["x", "n"] and again.rows == [("é", 1)]
        c.query("SET NAMES latin1")  # same header bytes, another decoding
        assert c.query("SELECT 'é' AS x, 1 AS n").rows == [("é", 1)]
        assert c.execute("SELECT 'é' AS x, ? AS n", (1,)).rows == [("é", 1)]
        assert c.execute("SELECT ?", ("ü",)).rows == [("ü",)]  # parameters follow too
        with pytest.raises(DataError):  # not in latin1: refused, not sent as mojibake
            c.query("SELECT '✓'")
        assert c.query("SELECT %s", ("ü'",)).scalar() == "ü'"
