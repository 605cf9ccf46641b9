"""netlib.websocket's sans-IO core: RFC 6455's own examples byte for byte (also fed
one byte at a time), each bad input with the close code the RFC names, the close
handshake, permessage-deflate (RFC 7692) negotiation and codec, the opening
handshake, and Hypothesis properties of the parser contract."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlib.websocket import deflate as pmd
from netlib.websocket import handshake
from netlib.websocket.core import (
    CLIENT,
    NEED_DATA,
    SERVER,
    CloseReceived,
    Connection,
    LocalProtocolError,
    Message,
    Ping,
    Pong,
    State,
)
from netlib.websocket.frames import ProtocolError, apply_mask, encode_frame

KEY = b"\x37\xfa\x21\x3d"


def events(conn: Connection, data: bytes, bytewise: bool = False) -> list[object]:
    out: list[object] = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for c in chunks:
        conn.receive_data(c)
        while (ev := conn.next_event()) is not NEED_DATA:
            out.append(ev)
    return out


def failure(conn: Connection, data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        events(conn, data)
    return info.value


def close_code_sent(conn: Connection) -> int:
    out = conn.data_to_send()
    assert out[0] == 0x88, out  # a close frame, FIN set
    n = out[1] & 0x7F
    body = apply_mask(out[6 : 6 + n], out[2:6]) if out[1] & 0x80 else out[2 : 2 + n]
    return int(struct.unpack("!H", body[:2])[0])


def masked(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask=True, key=KEY)


# -- RFC 6455 §5.7's examples -----------------------------------------------------------
RFC_EXAMPLES = [
    ("single unmasked text", CLIENT, bytes.fromhex("810548656c6c6f"), [Message("Hello")]),
    ("single masked text", SERVER, bytes.fromhex("818537fa213d7f9f4d5158"), [Message("Hello")]),
    ("fragmented unmasked text", CLIENT, bytes.fromhex("010348656c80026c6f"), [Message("Hello")]),
    ("unmasked ping", CLIENT, bytes.fromhex("890548656c6c6f"), [Ping(b"Hello")]),
    ("masked pong", SERVER, bytes.fromhex("8a8537fa213d7f9f4d5158"), [Pong(b"Hello")]),
    ("256 bytes binary", CLIENT, bytes.fromhex("827e0100") + b"\xaa" * 256, [Message(b"\xaa" * 256)]),
    ("64 KiB binary", CLIENT, bytes.fromhex("827f0000000000010000") + b"\x55" * 65536,
     [Message(b"\x55" * 65536)]),
]  # fmt: skip


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "byte-at-a-time"])
@pytest.mark.parametrize("name,role,wire,expected", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc_examples_parse(name, role, wire, expected, bytewise):
    conn = Connection(role)
    assert events(conn, wire, bytewise) == expected


def test_rfc_examples_encode():
    assert Connection(SERVER).send_message("Hello") == bytes.fromhex("810548656c6c6f")
    assert encode_frame(0x1, b"Hello", mask=True, key=KEY) == bytes.fromhex(
        "818537fa213d7f9f4d5158"
    )
    assert Connection(SERVER).send_message("Hello", fragment=3) == bytes.fromhex(
        "010348656c80026c6f"
    )
    assert Connection(SERVER).send_message(b"\xaa" * 256)[:4] == bytes.fromhex("827e0100")
    assert Connection(SERVER).send_message(b"\x55" * 65536)[:10] == bytes.fromhex(
        "827f0000000000010000"
    )


def test_client_masks_every_frame_with_a_fresh_key():
    c = Connection(CLIENT)
    a, b = c.send_message("same"), c.send_message("same")
    assert a[1] & 0x80 and b[1] & 0x80 and a[2:6] != b[2:6]
    server = Connection(SERVER)
    assert events(server, a + b) == [Message("same"), Message("same")]


def test_ping_is_answered_with_its_payload_and_control_frames_may_interleave_fragments():
    s = Connection(SERVER)
    wire = masked(0x1, b"Hel", fin=False) + masked(0x9, b"p1") + masked(0x0, b"lo")
    assert events(s, wire) == [Ping(b"p1"), Message("Hello")]
    assert s.data_to_send() == bytes.fromhex("8a02") + b"p1"


# -- bad input: the close code the RFC names ------------------------------------------------
BAD = [
    ("unmasked client frame", SERVER, encode_frame(0x1, b"hi"), 1002),
    ("masked server frame", CLIENT, masked(0x1, b"hi"), 1002),
    ("reserved opcode 3", SERVER, masked(0x3, b""), 1002),
    ("reserved control opcode 0xB", SERVER, masked(0xB, b""), 1002),
    ("RSV1 without an extension", SERVER, masked(0x1, b"hi", rsv=0x40), 1002),
    ("RSV2", SERVER, masked(0x1, b"hi", rsv=0x20), 1002),
    ("ping over 125 bytes", SERVER, masked(0x9, b"x" * 126), 1002),
    ("fragmented ping", SERVER, masked(0x9, b"x", fin=False), 1002),
    ("continuation with nothing started", SERVER, masked(0x0, b"x"), 1002),
    ("new message inside a fragmented one", SERVER,
     masked(0x1, b"a", fin=False) + masked(0x1, b"b"), 1002),
    ("invalid UTF-8", SERVER, masked(0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), 1007),
    ("overlong UTF-8", SERVER, masked(0x1, b"\xc0\xaf"), 1007),
    ("close with a 1-byte body", SERVER, masked(0x8, b"\x03"), 1002),
    ("close reason not UTF-8", SERVER, masked(0x8, b"\x03\xe8\xff"), 1007),
    ("64-bit length with the top bit", SERVER, bytes.fromhex("82ff8000000000000000") + KEY, 1002),
]  # fmt: skip


@pytest.mark.parametrize("name,role,wire,code", BAD, ids=[b[0] for b in BAD])
def test_bad_input_fails_with_the_rfc_code(name, role, wire, code):
    conn = Connection(role)
    assert failure(conn, wire).code == code
    assert close_code_sent(conn) == code
    assert conn.state is State.CLOSED
    with pytest.raises(ProtocolError):  # it stays failed
        conn.next_event()


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_invalid_close_codes_are_1002(code):
    conn = Connection(SERVER)
    assert failure(conn, masked(0x8, struct.pack("!H", code))).code == 1002
    assert close_code_sent(conn) == 1002


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
)
def test_valid_close_codes_are_echoed(code):
    conn = Connection(SERVER)
    assert events(conn, masked(0x8, struct.pack("!H", code) + "bye é".encode())) == [
        CloseReceived(code, "bye é")
    ]
    assert close_code_sent(conn) == code
    assert conn.state is State.CLOSED


def test_invalid_utf8_fails_fast_across_fragments_before_the_message_ends():
    s = Connection(SERVER)
    assert events(s, masked(0x1, "κόσμε".encode(), fin=False)) == []
    assert failure(s, masked(0x0, b"\xf4\x90\x80", fin=False)).code == 1007  # > U+10FFFF


def test_a_surrogate_prefix_split_across_fragments_fails_before_its_end():
    s = Connection(SERVER)
    assert failure(s, masked(0x1, b"ab\xed\xa0", fin=False)).code == 1007


def test_utf8_character_split_across_fragments_is_fine():
    s = Connection(SERVER)
    raw = "😀 ok".encode()
    wire = b"".join(masked(0x1 if i == 0 else 0x0, raw[i : i + 1], fin=i == len(raw) - 1)
                    for i in range(len(raw)))  # fmt: skip
    assert events(s, wire) == [Message("😀 ok")]


def test_frame_over_the_limit_is_refused_from_its_header_alone():
    s = Connection(SERVER, max_frame=1000)
    head = bytes.fromhex("82fe03e9") + KEY  # 1001 bytes announced, none sent
    assert failure(s, head).code == 1009
    assert close_code_sent(s) == 1009


def test_message_over_the_limit_across_fragments_is_1009():
    s = Connection(SERVER, max_frame=1000, max_message=2500)
    wire = b"".join(masked(0x2 if i == 0 else 0x0, b"x" * 1000, fin=False) for i in range(2))
    assert events(s, wire) == []
    assert failure(s, masked(0x0, b"x" * 600)).code == 1009


def test_close_handshake_started_by_us():
    s = Connection(SERVER)
    out = s.send_close(1001, "going away")
    assert out == b"\x88\x0c\x03\xe9going away" and s.state is State.CLOSING
    assert s.send_close(1000) == b""  # only one close is ever sent
    with pytest.raises(LocalProtocolError):
        s.send_message("late")
    assert events(s, masked(0x8, b"\x03\xe9")) == [CloseReceived(1001, "")]
    assert s.state is State.CLOSED and s.data_to_send() == b""  # no second close


def test_close_without_a_code_is_1005_and_echoed_empty():
    s = Connection(SERVER)
    assert events(s, masked(0x8, b"")) == [CloseReceived(1005, "")]
    assert s.data_to_send() == b"\x88\x00"


def test_eof_without_a_close_is_1006_unclean():
    c = Connection(CLIENT)
    c.receive_data(b"\x81\x02h")  # a frame cut short
    c.receive_data(b"")
    assert c.next_event() == CloseReceived(1006, "connection lost", clean=False)


def test_we_may_not_send_reserved_close_codes_or_long_control_frames():
    for code in (1005, 1006, 1015, 999):
        with pytest.raises(LocalProtocolError):
            Connection(SERVER).send_close(code)
    with pytest.raises(LocalProtocolError):
        Connection(SERVER).send_ping(b"x" * 126)
    # a long reason is cut at a character boundary to fit 125 bytes
    out = Connection(SERVER).send_close(1000, "é" * 100)
    assert out[1] == 125 - 1 and out[4:].decode() == "é" * 61


# -- permessage-deflate ---------------------------------------------------------------------
def _pair(params: pmd.DeflateParams) -> tuple[Connection, Connection]:
    s = Connection(SERVER, deflate=pmd.PerMessageDeflate(params, server=True))
    c = Connection(CLIENT, deflate=pmd.PerMessageDeflate(params, server=False))
    return s, c


PARAMS = [
    pmd.DeflateParams(),
    pmd.DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True),
    pmd.DeflateParams(server_max_window_bits=9, client_max_window_bits=9),
    pmd.DeflateParams(server_max_window_bits=8, client_max_window_bits=8),
]


@pytest.mark.parametrize("params", PARAMS, ids=str)
def test_deflate_round_trip_both_ways(params):
    s, c = _pair(params)
    msgs = ["hello hello hello " * 50, b"\x00" * 5000, "", "é" * 700, b"x"]
    for m in msgs:
        wire = c.send_message(m, fragment=100)
        assert wire[0] & 0x40  # RSV1 on the first frame
        assert events(s, wire) == [Message(m)]
        assert events(c, s.send_message(m)) == [Message(m)]


def test_context_takeover_makes_repeats_smaller_and_no_takeover_does_not():
    text = "the quick brown fox jumps over the lazy dog " * 3
    s, _ = _pair(pmd.DeflateParams())
    first, second = len(s.send_message(text)), len(s.send_message(text))
    assert second < first / 2
    s, _ = _pair(pmd.DeflateParams(server_no_context_takeover=True))
    assert len(s.send_message(text)) == len(s.send_message(text))


def test_rsv1_on_a_continuation_is_1002_and_a_bomb_is_1009():
    s, c = _pair(pmd.DeflateParams())
    assert (
        failure(s, masked(0x1, b"", fin=False, rsv=0x40) + masked(0x0, b"", rsv=0x40)).code == 1002
    )
    s = Connection(SERVER, max_message=10_000,
                   deflate=pmd.PerMessageDeflate(pmd.DeflateParams(), server=True))  # fmt: skip
    bomb = pmd.PerMessageDeflate(pmd.DeflateParams(), server=False).compress(b"\0" * 10_000_000)
    assert len(bomb) < 20_000
    assert failure(s, masked(0x2, bomb, rsv=0x40)).code == 1009


def test_negotiation_server_side():
    ok = pmd.accept_offer(["permessage-deflate; client_max_window_bits"], pmd.DeflateParams())
    assert ok is not None and ok[1] == "permessage-deflate"
    params, answer = pmd.accept_offer(
        ["x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=10; "
         "server_no_context_takeover; client_max_window_bits=12"],
        pmd.DeflateParams(client_no_context_takeover=True))  # fmt: skip
    assert params == pmd.DeflateParams(True, True, 10, 12)
    assert answer == ("permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
                      " server_max_window_bits=10; client_max_window_bits=12")  # fmt: skip
    # malformed offers are declined; a later acceptable one is taken
    for bad in ["permessage-deflate; foo", "permessage-deflate; server_max_window_bits=7",
                "permessage-deflate; server_max_window_bits", "permessage-deflate; "
                "client_no_context_takeover=1", "permessage-deflate; server_max_window_bits=10; "
                "server_max_window_bits=10", "permessage-deflate; client_max_window_bits=016"]:  # fmt: skip
        assert pmd.accept_offer([bad], pmd.DeflateParams()) is None, bad
        assert pmd.accept_offer([bad + ", permessage-deflate"], pmd.DeflateParams()) is not None
    assert pmd.accept_offer(['permessage-deflate; server_max_window_bits="9"'],
                            pmd.DeflateParams())[0].server_max_window_bits == 9  # fmt: skip


def test_negotiation_client_side():
    offered = pmd.DeflateParams()
    assert pmd.offer_header(offered) == "permessage-deflate; client_max_window_bits"
    assert pmd.check_answer([], offered) is None
    got = pmd.check_answer(
        ["permessage-deflate; client_no_context_takeover; client_max_window_bits=9"], offered
    )
    assert got == pmd.DeflateParams(False, True, 15, 9)
    for bad in ["permessage-deflate; foo", "x-other", "permessage-deflate, permessage-deflate"]:
        with pytest.raises(pmd.NegotiationError):
            pmd.check_answer([bad], offered)
    with pytest.raises(pmd.NegotiationError):  # a bigger window than we asked for
        pmd.check_answer(["permessage-deflate; server_max_window_bits=12"],
                         pmd.DeflateParams(server_max_window_bits=10))  # fmt: skip


# -- the opening handshake ------------------------------------------------------------------
def _req(**over: str) -> list[tuple[bytes, bytes]]:
    h = {"host": "x", "upgrade": "websocket", "connection": "keep-alive, Upgrade",
         "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13"}  # fmt: skip
    h.update(over)
    return [(k.encode(), v.encode()) for k, v in h.items() if v]


def test_accept_key_is_the_rfc_example():
    assert handshake.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_server_handshake_accepts_and_negotiates():
    acc = handshake.accept(_req(**{"sec-websocket-protocol": "chat, superchat",
                                   "sec-websocket-extensions": "permessage-deflate"}),
                           subprotocols=["superchat", "chat"])  # fmt: skip
    assert dict(acc.headers) == {
        b"sec-websocket-accept": b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        b"sec-websocket-protocol": b"superchat",
        b"sec-websocket-extensions": b"permessage-deflate",
    }
    assert acc.subprotocol == "superchat" and acc.deflate == pmd.DeflateParams()
    assert handshake.accept(_req(), subprotocols=["other"]).subprotocol is None


@pytest.mark.parametrize("over,status", [
    ({"sec-websocket-version": "8"}, 426), ({"upgrade": ""}, 426), ({"connection": "close"}, 400),
    ({"sec-websocket-key": "short"}, 400), ({"sec-websocket-key": ""}, 400),
])  # fmt: skip
def test_server_handshake_refusals(over, status):
    with pytest.raises(handshake.HandshakeError) as info:
        handshake.accept(_req(**over))
    assert info.value.status == status
    if over.get("sec-websocket-version"):
        assert (b"sec-websocket-version", b"13") in info.value.headers


def test_client_checks_the_answer():
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    good = [(b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")]  # fmt: skip
    assert handshake.check_response(101, good, key).subprotocol is None
    bad_cases = [
        (200, good), (101, good[:2] + [(b"sec-websocket-accept", b"wrong")]),
        (101, good + [(b"sec-websocket-protocol", b"chat")]),  # not offered
        (101, good + [(b"sec-websocket-extensions", b"permessage-deflate")]),  # not offered
    ]  # fmt: skip
    for status, hdrs in bad_cases:
        with pytest.raises(handshake.HandshakeError):
            handshake.check_response(status, hdrs, key)


# -- properties -------------------------------------------------------------------------------
messages = st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300)), max_size=8)


@settings(max_examples=150, deadline=None)
@given(msgs=messages, frag=st.integers(0, 40), cut=st.integers(1, 50), deflate=st.booleans())
def test_any_messages_in_any_chunks_arrive_whole(msgs, frag, cut, deflate):
    p = pmd.DeflateParams()
    c = Connection(CLIENT, deflate=pmd.PerMessageDeflate(p, server=False) if deflate else None)
    s = Connection(SERVER, deflate=pmd.PerMessageDeflate(p, server=True) if deflate else None)
    wire = b"".join(c.send_message(m, fragment=frag or None) for m in msgs)
    got = []
    for i in range(0, len(wire), cut):
        got += events(s, wire[i : i + cut])
    assert got == [Message(m) for m in msgs]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), role=st.sampled_from([SERVER, CLIENT]))
def test_garbage_raises_only_protocol_errors(data, role):
    conn = Connection(role, max_frame=200, max_message=300,
                      deflate=pmd.PerMessageDeflate(pmd.DeflateParams(), server=role is SERVER))  # fmt: skip
    try:
        events(conn, data)
        conn.receive_data(b"")
        while conn.next_event() is not NEED_DATA:
            pass
    except ProtocolError as e:
        assert e.code in (1002, 1007, 1009)


def test_invalid_utf8_fails_while_its_frame_is_still_arriving():
    s = Connection(SERVER)
    wire = masked(0x1, "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"x" * 100)
    assert events(s, wire[:8]) == []  # valid so far
    assert failure(s, wire[8:20]).code == 1007  # the bad bytes, long before the frame ends


def test_a_big_valid_text_frame_arriving_in_pieces_is_fine():
    s = Connection(SERVER)
    text = "κόσμε ☃ " * 5000
    wire = masked(0x1, text.encode())
    got = []
    for i in range(0, len(wire), 997):
        got += events(s, wire[i : i + 997])
    assert got == [Message(text)]
