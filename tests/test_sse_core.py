"""N2: netlib.sse, the sans-IO event-stream codec: the HTML Standard's parsing rules, limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlib.sse import (
    MAX_LINE,
    NEED_DATA,
    Event,
    LocalProtocolError,
    Parser,
    RemoteProtocolError,
    comment,
    encode,
)

pytestmark = pytest.mark.exercise("N2")

CASES = [
    # (stream bytes, events as (type, data, id))
    (b"data: hello\n\n", [("message", "hello", "")]),
    (b"data:hello\n\n", [("message", "hello", "")]),  # the space after the colon is optional
    (b"data:  two spaces\n\n", [("message", " two spaces", "")]),  # only one is dropped
    (b"event: greet\ndata: a\ndata: b\nid: 7\n\n", [("greet", "a\nb", "7")]),
    (b"data: a\r\ndata: b\r\n\r\n", [("message", "a\nb", "")]),
    (b"data: a\rdata: b\r\r", [("message", "a\nb", "")]),
    (b"\xef\xbb\xbfdata: bom\n\n", [("message", "bom", "")]),
    (b": just a comment\n\n", []),
    (b"event: x\n\ndata: y\n\n", [("message", "y", "")]),  # no data: no event, type reset
    (b"data\n\n", [("message", "", "")]),  # a field name alone: empty value
    (b"data\ndata\n\n", [("message", "\n", "")]),
    (b"id: 1\ndata: a\n\ndata: b\n\n", [("message", "a", "1"), ("message", "b", "1")]),  # id persists
    (b"id: 1\ndata: a\n\nid\ndata: b\n\n", [("message", "a", "1"), ("message", "b", "")]),
    (b"id: 1\ndata: a\n\nid: x\0y\ndata: b\n\n", [("message", "a", "1"), ("message", "b", "1")]),
    (b"unknown: field\ndata: ok\n\n", [("message", "ok", "")]),
    (b"data: unfinished", []),
    (b"data: caf\xc3\xa9\n\n", [("message", "caf\u00e9", "")]),
]


def run(chunks: list[bytes]) -> list[tuple[str, str, str]]:
    p = Parser()
    out = []
    for c in chunks:
        p.receive_data(c)
        out += [(e.event, e.data, e.id) for e in p.events()]
    return out


@pytest.mark.parametrize("stream, expected", CASES)
def test_parse_whole_and_one_byte_at_a_time(stream, expected):
    assert run([stream]) == expected
    assert run([stream[i : i + 1] for i in range(len(stream))]) == expected


def test_retry_sets_the_reconnection_time_only_when_all_digits():
    p = Parser()
    p.receive_data(b"retry: 1500\n\nretry: 1x\n\nretry: -5\n\n")
    assert p.events() == [] and p.retry == 1500
    assert p.next_event() is NEED_DATA


def test_comments_are_counted_not_dispatched():
    p = Parser()
    p.receive_data(comment("ping") + comment("ping"))
    assert p.events() == [] and p.comments == 2


def test_encode_multiline_and_fields():
    assert encode(Event("a\nb\r\nc", "greet", "42", 3000)) == (
        b"event: greet\nid: 42\nretry: 3000\ndata: a\ndata: b\ndata: c\n\n")  # fmt: skip
    assert encode(Event("x")) == b"data: x\n\n"
    assert encode(Event("")) == b"data: \n\n"


@pytest.mark.parametrize("ev", [Event("x", "a\nb"), Event("x", id="1\r"), Event("x", id="a\0"),
                                Event("x", retry=-1)])  # fmt: skip
def test_encode_refuses_what_a_field_cannot_carry(ev):
    with pytest.raises(LocalProtocolError):
        encode(ev)


def test_a_line_without_end_past_the_limit_is_refused():
    p = Parser()
    p.receive_data(b"data: " + b"x" * (MAX_LINE + 10))
    with pytest.raises(RemoteProtocolError, match="longer than"):
        p.next_event()


def test_an_event_too_large_is_refused():
    p = Parser()
    with pytest.raises(RemoteProtocolError, match="data is over"):
        for _ in range(10):
            p.receive_data(b"data: " + b"x" * (MAX_LINE - 100) + b"\n")
            p.events()


@given(st.text(), st.sampled_from(["message", "update", "x-y"]), st.integers(0, 2**62),
       st.lists(st.integers(1, 50), max_size=8))  # fmt: skip
def test_encode_then_parse_round_trips_in_any_chunking(data, kind, n, cuts):
    wire = encode(Event(data, kind, str(n)))
    pieces, pos = [], 0
    for c in cuts:
        pieces.append(wire[pos : pos + c])
        pos += c
    pieces.append(wire[pos:])
    normalised = data.replace("\r\n", "\n").replace("\r", "\n")
    assert run(pieces) == [(kind, normalised, str(n))]
