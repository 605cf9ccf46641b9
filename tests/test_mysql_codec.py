"""D1: the sans-IO codec, fed bytes built here from the protocol documentation.

Table-driven framing cases, a whole login + query exchange fed one byte at a
time, and the parser contract under Hypothesis: whatever the bytes, the codec
returns events or NEED_DATA, or raises the client's own errors (ProtocolError,
or a server error decoded from an ERR packet): never IndexError,
struct.error, ValueError or UnicodeDecodeError.
"""

from __future__ import annotations

import datetime
import hashlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.mysql import constants as C
from clients.mysql import resultset as R
from clients.mysql.errors import (
    AuthError,
    DuplicateKeyError,
    InterfaceError,
    MySQLError,
    ProtocolError,
)
from clients.mysql.handshake import scramble_native
from clients.mysql.packets import PacketBuffer, Reader, frame, lenenc_bytes, lenenc_int
from clients.mysql.protocol import NEED_DATA, ClientProtocol, Prepared, ResultHeader, Rows
from clients.mysql.responses import OkPacket
from clients.mysql.resultset import decode_text_row
from clients.mysql.textrows import row_scanner

pytestmark = pytest.mark.exercise("D1")

NONCE = bytes(range(1, 21))
SERVER_CAPS = (C.BASE_CAPABILITIES | C.CLIENT_CONNECT_WITH_DB | C.CLIENT_DEPRECATE_EOF) & ~1


# -- a server's side, written from the spec -------------------------------------------------


def packet(payload: bytes, seq: int) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes((seq,)) + payload


def greeting(caps: int = SERVER_CAPS, plugin: bytes = b"mysql_native_password") -> bytes:
    return (
        b"\x0a" + b"5.5.5-10.11.0-MariaDB\0" + (7).to_bytes(4, "little") + NONCE[:8] + b"\0"
        + (caps & 0xFFFF).to_bytes(2, "little") + bytes((45,)) + (2).to_bytes(2, "little")
        + (caps >> 16).to_bytes(2, "little") + bytes((21,)) + b"\0" * 6 + b"\0\0\0\0"
        + NONCE[8:] + b"\0" + plugin + b"\0"
    )  # fmt: skip


def ok(affected=0, insert_id=0, status=2, warnings=0, head=b"\x00") -> bytes:
    return (head + lenenc_int(affected) + lenenc_int(insert_id)
            + status.to_bytes(2, "little") + warnings.to_bytes(2, "little"))  # fmt: skip


def err(code: int, state: bytes, msg: bytes) -> bytes:
    return b"\xff" + code.to_bytes(2, "little") + b"#" + state + msg


def column(name: bytes, ctype: int, charset: int = 45, flags: int = 0) -> bytes:
    return (
        b"".join(lenenc_bytes(x) for x in (b"def", b"test", b"t", b"t", name, name))
        + b"\x0c" + charset.to_bytes(2, "little") + (11).to_bytes(4, "little")
        + bytes((ctype,)) + flags.to_bytes(2, "little") + b"\x00\x00\x00"
    )  # fmt: skip


def text_row(*values: bytes | None) -> bytes:
    return b"".join(b"\xfb" if v is None else lenenc_bytes(v) for v in values)


def logged_in(deprecate_eof: bool = True) -> ClientProtocol:
    p = ClientProtocol("root", "pw", "test", deprecate_eof=deprecate_eof)
    p.receive_data(packet(greeting(), 0))
    assert p.next_event() is NEED_DATA
    p.data_to_send()
    p.receive_data(packet(ok(), 2))
    assert isinstance(p.next_event(), OkPacket)
    return p


def events(p: ClientProtocol, data: bytes, one_byte_at_a_time: bool = False) -> list:
    out = []
    chunks = [data[i : i + 1] for i in range(len(data))] if one_byte_at_a_time else [data]
    for chunk in chunks:
        p.receive_data(chunk)
        while (ev := p.next_event()) is not NEED_DATA:
            out.append(ev)
            if p.idle:
                return out
    return out


QUERY_RESPONSE = b"".join(
    packet(x, i + 1)
    for i, x in enumerate(
        [
            b"\x04",
            column(b"id", C.T_LONGLONG, 63),
            column(b"name", C.T_VAR_STRING),
            column(b"price", C.T_NEWDECIMAL, 63),
            column(b"at", C.T_DATETIME, 63),
            text_row(b"1", "café".encode(), b"9.50", b"2024-01-02 03:04:05"),
            text_row(b"-2", None, b"0.00", b"0000-00-00 00:00:00"),
            ok(head=b"\xfe"),
        ]
    )
)
EXPECTED_ROWS = [
    (1, "café", Decimal("9.50"), datetime.datetime(2024, 1, 2, 3, 4, 5)),
    (-2, None, Decimal("0.00"), "0000-00-00 00:00:00"),
]


# -- framing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload,seq,wire",
    [
        (b"", 0, b"\x00\x00\x00\x00"),
        (b"\x0e", 0, b"\x01\x00\x00\x00\x0e"),
        (b"\x03SELECT 1", 255, b"\x09\x00\x00\xff\x03SELECT 1"),
    ],
)
def test_frame_exact_bytes(payload, seq, wire):
    assert frame(payload, seq) == (wire, (seq + 1) & 0xFF)


@pytest.mark.parametrize("size", [C.MAX_PACKET_CHUNK, C.MAX_PACKET_CHUNK + 5])
def test_16mb_payloads_split_and_join(size):
    payload = bytes([7]) * size
    wire, seq = frame(payload, 3)
    assert seq == 5  # two packets: a full one and the (possibly empty) rest
    assert wire[:4] == b"\xff\xff\xff\x03"
    assert wire[C.MAX_PACKET_CHUNK + 4 : C.MAX_PACKET_CHUNK + 8] == (
        (size - C.MAX_PACKET_CHUNK).to_bytes(3, "little") + b"\x04"
    )
    buf = PacketBuffer()
    buf.seq = 3
    for i in range(0, len(wire), 1 << 20):  # arrives in 1MB reads
        assert buf.next_payload() is None
        buf.receive_data(wire[i : i + (1 << 20)])
    assert buf.next_payload() == payload and buf.seq == 5


def test_packets_fed_one_byte_at_a_time_and_sequence_checked():
    buf = PacketBuffer()
    wire = packet(b"abc", 0) + packet(b"", 1) + packet(b"xyz", 2)
    got = []
    for i in range(len(wire)):
        buf.receive_data(wire[i : i + 1])
        while (p := buf.next_payload()) is not None:
            got.append(p)
    assert got == [b"abc", b"", b"xyz"]
    buf.receive_data(packet(b"x", 9))
    with pytest.raises(ProtocolError, match="sequence"):
        buf.next_payload()


def test_reader_bounds_and_lenenc_forms():
    for n in (0, 250, 251, 65535, 65536, 1 << 24, 1 << 40):
        assert Reader(lenenc_int(n)).lenenc_int() == n
    assert Reader(b"\xfb").lenenc_int() is None
    for bad in (b"", b"\xfc\x01", b"\xfd\x01\x02", b"\xfe" + b"\x00" * 7, b"\xff", b"\x05ab"):
        with pytest.raises(ProtocolError):
            Reader(bad).lenenc_bytes()
    with pytest.raises(ProtocolError):
        Reader(b"no terminator").nul_bytes()


# -- a whole exchange ---------------------------------------------------------------------------


def test_login_answers_the_greeting_with_the_native_scramble():
    p = ClientProtocol("root", "pw", "test")
    p.receive_data(packet(greeting(), 0))
    assert p.next_event() is NEED_DATA
    sent = p.data_to_send()
    assert sent[3] == 1  # sequence id 1
    r = Reader(sent[4:])
    caps = r.uint(4)
    assert caps & C.CLIENT_PROTOCOL_41 and caps & C.CLIENT_CONNECT_WITH_DB
    assert caps & C.CLIENT_DEPRECATE_EOF and not caps & 1
    assert r.uint(4) == 1 << 30 and r.u8() == C.UTF8MB4_GENERAL_CI
    r.fixed(23)
    assert r.nul_bytes() == b"root"
    scramble = r.lenenc_bytes()
    h1 = hashlib.sha1(b"pw").digest()
    expected = bytes(a ^ b for a, b in zip(
        h1, hashlib.sha1(NONCE + hashlib.sha1(h1).digest()).digest(), strict=True))  # fmt: skip
    assert scramble == expected == scramble_native(b"pw", NONCE)
    assert r.nul_bytes() == b"test" and r.nul_bytes() == b"mysql_native_password"
    p.receive_data(packet(ok(), 2))
    assert isinstance(p.next_event(), OkPacket) and p.idle


def test_auth_switch_and_unsupported_plugins():
    p = ClientProtocol("root", "pw", "")
    p.receive_data(packet(greeting(), 0))
    p.next_event()
    p.data_to_send()
    p.receive_data(packet(b"\xfemysql_native_password\0" + NONCE[::-1] + b"\0", 2))
    assert p.next_event() is NEED_DATA
    assert p.data_to_send() == packet(scramble_native(b"pw", NONCE[::-1]), 3)
    p.receive_data(packet(ok(), 4))
    assert isinstance(p.next_event(), OkPacket)
    p = ClientProtocol("root", "pw", "")
    p.receive_data(packet(greeting(), 0))
    p.next_event()
    p.receive_data(packet(b"\xfeclient_ed25519\0" + NONCE, 2))
    with pytest.raises(AuthError, match="client_ed25519"):
        p.next_event()
    with pytest.raises(InterfaceError):
        p.query("SELECT 1")


@pytest.mark.parametrize("one_byte", [False, True], ids=["whole", "byte_by_byte"])
def test_text_result_set_decodes(one_byte):
    p = logged_in()
    assert p.query("SELECT 1") == b"\x09\x00\x00\x00\x03SELECT 1"
    evs = events(p, QUERY_RESPONSE, one_byte)
    assert isinstance(evs[0], ResultHeader)
    assert [c.name for c in evs[0].columns] == ["id", "name", "price", "at"]
    rows = [r for ev in evs if isinstance(ev, Rows) for r in ev.rows]
    assert rows == EXPECTED_ROWS
    assert isinstance(evs[-1], OkPacket) and p.idle


def test_classic_eof_result_set_and_ok_and_err():
    p = logged_in(deprecate_eof=False)
    eof = b"\xfe\x00\x00\x02\x00"
    wire = b"".join(packet(x, i + 1) for i, x in enumerate(
        [b"\x01", column(b"n", C.T_LONG, 63), eof, text_row(b"5"), eof]))  # fmt: skip
    p.query("SELECT 5")
    evs = events(p, wire, True)
    assert [type(e) for e in evs] == [ResultHeader, Rows, OkPacket]
    p.query("INSERT")
    (okp,) = events(p, packet(ok(3, 9, 2, 1) + b"\x08Records!", 1))
    assert (okp.affected_rows, okp.insert_id, okp.warnings, okp.info) == (3, 9, 1, "Records!")
    p.query("INSERT")
    p.receive_data(packet(err(1062, b"23000", b"Duplicate entry"), 1))
    with pytest.raises(DuplicateKeyError) as e:
        p.next_event()
    assert (e.value.code, e.value.sqlstate) == (1062, "23000") and p.idle


def test_prepare_and_binary_rows():
    p = logged_in()
    p.prepare("SELECT ?, ?")
    prep_ok = b"\x00" + (5).to_bytes(4, "little") + (2).to_bytes(2, "little") * 2 + b"\0\0\0"
    wire = b"".join(packet(x, i + 1) for i, x in enumerate([
        prep_ok, column(b"?", C.T_VAR_STRING), column(b"?", C.T_VAR_STRING),
        column(b"a", C.T_LONG, 63), column(b"b", C.T_DATE, 63)]))  # fmt: skip
    (prep,) = events(p, wire, True)
    assert isinstance(prep, Prepared) and prep.stmt_id == 5 and len(prep.params) == 2
    sent = p.execute(prep, (None, 7))
    assert sent[4:] == (b"\x17" + (5).to_bytes(4, "little") + b"\x00\x01\x00\x00\x00"
                        + b"\x01" + b"\x01" + bytes((C.T_NULL, 0, C.T_LONGLONG, 0))
                        + (7).to_bytes(8, "little"))  # fmt: skip
    row1 = b"\x00\x00" + (-3).to_bytes(4, "little", signed=True) + b"\x04\xe8\x07\x02\x1d"
    row2 = b"\x00\x0c"  # both NULL: bits 2 and 3
    wire = b"".join(packet(x, i + 1) for i, x in enumerate([
        b"\x02", column(b"a", C.T_LONG, 63), column(b"b", C.T_DATE, 63),
        row1, row2, ok(head=b"\xfe")]))  # fmt: skip
    evs = events(p, wire)
    rows = [r for ev in evs if isinstance(ev, Rows) for r in ev.rows]
    assert rows == [(-3, datetime.date(2024, 2, 29)), (None, None)]
    assert isinstance(evs[-1], OkPacket)


# -- the contract under Hypothesis ----------------------------------------------------------------

ALLOWED = (MySQLError,)


def _drive(p: ClientProtocol, data: bytes) -> None:
    p.receive_data(data)
    for _ in range(len(data) + 5):
        try:
            ev = p.next_event()
        except ALLOWED:
            return
        if ev is NEED_DATA or p.idle:
            return


def _fresh(state: str) -> ClientProtocol:
    if state == "greeting":
        return ClientProtocol("root", "pw", "test")
    p = logged_in(deprecate_eof=state != "classic")
    if state == "prepare":
        p.prepare("SELECT ?")
    elif state == "binary":
        p.prepare("SELECT ?")
        prep_ok = b"\x00" + (1).to_bytes(4, "little") + b"\x00\x00\x00\x00\x00\x00\x00"
        (prep,) = events(p, packet(prep_ok, 1))
        p.execute(prep, ())
    else:
        p.query("SELECT 1")
    return p


@settings(max_examples=400, deadline=None)
@given(
    state=st.sampled_from(["greeting", "query", "classic", "prepare", "binary"]),
    data=st.binary(max_size=300),
)
def test_random_bytes_only_raise_the_clients_errors(state, data):
    _drive(_fresh(state), data)


@settings(max_examples=400, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=len(QUERY_RESPONSE)),
    flips=st.lists(
        st.tuples(st.integers(0, len(QUERY_RESPONSE) - 1), st.integers(0, 255)), max_size=4
    ),
)
def test_truncated_or_corrupted_result_sets(cut, flips):
    data = bytearray(QUERY_RESPONSE)
    for pos, value in flips:
        data[pos] = value
    p = _fresh("query")
    truncated = bytes(data[:cut])
    if not flips:  # a clean prefix is never an error: just not done yet
        evs = events(p, truncated)
        assert cut == len(QUERY_RESPONSE) or not p.idle or evs
        return
    _drive(p, truncated)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_greeting_payloads_wrapped_in_valid_frames(payload):
    _drive(ClientProtocol("root", "", ""), packet(b"\x0a" + payload, 0))


BINARY_TYPES = [C.T_TINY, C.T_LONGLONG, C.T_DOUBLE, C.T_NEWDECIMAL, C.T_DATETIME, C.T_TIME,
                C.T_DATE, C.T_VAR_STRING, C.T_BLOB, C.T_JSON, C.T_BIT, C.T_FLOAT]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(types=st.lists(st.sampled_from(BINARY_TYPES), min_size=1, max_size=4),
       body=st.binary(max_size=60))  # fmt: skip
def test_binary_rows_with_arbitrary_bodies(types, body):
    p = _fresh("binary")
    head = [bytes((len(types),))] + [column(b"c", t, 63) for t in types]
    wire = b"".join(packet(x, i + 1) for i, x in enumerate([*head, b"\x00" + body]))
    _drive(p, wire)


# -- the generated row scanner agrees with the bounds-checked decoder ---------------------------

FIELD_VALUES = {
    "int": st.integers(-(2**63), 2**64 - 1).map(lambda i: str(i).encode()),
    "float": st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
    "str": st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
    "bytes": st.binary(max_size=300),
    "datetime": st.sampled_from([b"2024-02-29 23:59:58.123456", b"0000-00-00 00:00:00", b"x"]),
    "date": st.sampled_from([b"2024-02-29", b"0000-00-00"]),
}


def _reference_scan(wire: bytes, convs: list) -> list | str:
    """Rows decoded packet by packet with PacketBuffer + decode_text_row."""
    buf = PacketBuffer()
    buf.receive_data(wire)
    rows = []
    try:
        while (payload := buf.next_payload()) is not None:
            rows.append(decode_text_row(payload, convs))
    except ProtocolError:
        return "ProtocolError"
    return rows


@settings(max_examples=300, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=5),
    data=st.data(),
)
def test_generated_scanner_matches_the_reference_decoder(kinds, data):
    conv_of = {"int": int, "float": float, "str": R.to_str, "bytes": bytes,
               "datetime": R.to_datetime, "date": R.to_date}  # fmt: skip
    convs = [conv_of[k] for k in kinds]
    wire = b""
    for i in range(data.draw(st.integers(1, 4))):
        fields = [data.draw(st.none() | FIELD_VALUES[k]) for k in kinds]
        wire += packet(text_row(*fields), i)
    cut = data.draw(st.integers(0, len(wire)))
    rows: list = []
    try:
        pos, _ = row_scanner(convs)(wire[:cut], 0, 0, rows, 0xFFFFFF)
        got: list | str = rows
        complete = wire[:pos]
    except ProtocolError:
        got, complete = "ProtocolError", wire[:cut]
    want = _reference_scan(complete, convs)
    if got == "ProtocolError":  # the reference fails too, somewhere in what was scanned
        assert want == "ProtocolError"
    else:
        assert got == want


def test_caching_sha2_fast_path_and_full_auth_refusal():
    from clients.mysql.handshake import scramble_caching_sha2

    p = ClientProtocol("u", "pw", "")
    p.receive_data(packet(greeting(plugin=b"caching_sha2_password"), 0))
    p.next_event()
    r = Reader(p.data_to_send()[4:])
    r.fixed(32)
    assert r.nul_bytes() == b"u"
    assert r.lenenc_bytes() == scramble_caching_sha2(b"pw", NONCE)
    p1 = hashlib.sha256(b"pw").digest()
    p3 = hashlib.sha256(hashlib.sha256(p1).digest() + NONCE).digest()
    assert scramble_caching_sha2(b"pw", NONCE) == bytes(a ^ b for a, b in zip(p1, p3, strict=True))
    p.receive_data(packet(b"\x01\x03", 2) + packet(ok(), 3))  # fast auth success, then OK
    assert isinstance(p.next_event(), OkPacket)
    p = ClientProtocol("u", "pw", "")
    p.receive_data(packet(greeting(plugin=b"caching_sha2_password"), 0))
    p.next_event()
    p.receive_data(packet(b"\x01\x04", 2))  # "perform full authentication"
    with pytest.raises(AuthError, match="TLS or RSA"):
        p.next_event()


SANS_IO = ["constants", "errors", "packets", "handshake", "responses", "resultset", "textrows",
           "binary", "protocol", "escape", "result", "statements", "plans", "session",
           "guards", "events"]  # fmt: skip


@pytest.mark.parametrize("module", SANS_IO)
def test_codec_modules_do_no_io(module):
    import ast
    from pathlib import Path

    import clients.mysql

    tree = ast.parse((Path(clients.mysql.__file__).parent / f"{module}.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names} | {(n.module or "").split(".")[0] for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom)}  # fmt: skip
    assert not imported & {"asyncio", "socket", "selectors", "ssl"}, imported


def test_a_refused_command_leaves_the_one_in_progress_intact():
    p = logged_in()
    p.prepare("SELECT ?")
    prep_ok = b"\x00" + (1).to_bytes(4, "little") + b"\x01\x00\x00\x00\x00\x00\x00"
    (prep,) = events(p, packet(prep_ok, 1) + packet(column(b"a", C.T_LONG, 63), 2))
    p.execute(prep, ())
    p.receive_data(packet(b"\x01", 1))
    assert p.next_event() is NEED_DATA
    with pytest.raises(InterfaceError, match="in progress"):
        p.query("SELECT 1")  # must not switch the running execute to text rows
    row = b"\x00\x00" + (5).to_bytes(4, "little")
    evs = events(
        p, packet(column(b"a", C.T_LONG, 63), 2) + packet(row, 3) + packet(ok(head=b"\xfe"), 4)
    )
    assert [r for ev in evs if isinstance(ev, Rows) for r in ev.rows] == [(5,)]


def test_bulk_payload_bytes_and_type_mismatch():
    from clients.mysql.binary import bulk_payloads

    (payload,) = bulk_payloads(9, [(1, "a"), (None, "bc")], 2)
    assert payload == (
        b"\xfa" + (9).to_bytes(4, "little") + b"\x80\x00"  # header, stmt id, SEND_TYPES
        + bytes((C.T_LONGLONG, 0, C.T_VAR_STRING, 0))
        + b"\x00" + (1).to_bytes(8, "little") + b"\x00\x01a"  # row 1: NONE + values
        + b"\x01" + b"\x00\x02bc"  # row 2: NULL indicator, then the string
    )  # fmt: skip
    assert bulk_payloads(9, [(1,), ("x",)], 1) is None  # one column, two wire types
    assert bulk_payloads(9, [], 1) is None
    big = bulk_payloads(9, [("x" * 1000,)] * 3000, 1)
    assert big is not None and len(big) == 3 and all(len(p) <= 1024 * 1024 + 1010 for p in big)


def test_deeply_nested_json_is_a_protocol_error_not_a_recursion_error():
    p = logged_in()
    p.query("SELECT j")
    deep = b"[" * 100_000 + b"]" * 100_000
    wire = b"".join(packet(x, i + 1) for i, x in enumerate(
        [b"\x01", column(b"j", C.T_JSON, 63), text_row(deep), ok(head=b"\xfe")]))  # fmt: skip
    p.receive_data(wire)
    assert isinstance(p.next_event(), ResultHeader)
    with pytest.raises(ProtocolError, match="nested"):
        p.next_event()
