"""Hypothesis: the parser's contract. Random, generated and mutated input, fed whole,
one byte at a time, or cut at random points: events or RemoteProtocolError, nothing else.
Well-formed generated requests round-trip exactly."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlib.http.core import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    SERVER,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    RemoteProtocolError,
    Request,
    Response,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

tokens = st.text("abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=12)
values = st.binary(max_size=20).map(lambda b: bytes(c for c in b if 0x20 < c < 0x7F))
methods = st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"PATCH"])
targets = st.text("abc/?=&%._-0123456789", max_size=30).map(lambda t: b"/" + t.encode())


@st.composite
def request(draw):
    method, target = draw(methods), draw(targets)
    names = draw(st.lists(tokens, max_size=5, unique=True))
    names = [
        n for n in names
        if n not in ("content-length", "transfer-encoding", "connection", "expect", "host")
    ]
    headers = [(n.encode(), draw(values)) for n in names]
    body = draw(st.binary(max_size=300))
    raw = b"%s %s HTTP/1.1\r\nhost: example\r\n" % (method, target)
    raw += b"".join(b"%s: %s\r\n" % hv for hv in headers)
    if draw(st.booleans()):
        raw += b"transfer-encoding: chunked\r\n\r\n"
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [
            body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if body[a:b]
        ]
        raw += b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        raw += b"content-length: %d\r\n\r\n" % len(body) + body
    return raw, method, target, body


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    cuts = sorted({c % (len(data) + 1) for c in cuts})
    return [
        data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True) if b > a
    ]  # b"" is EOF


def drive(role: str, pieces: list[bytes]) -> list:
    """Feed pieces, answering as needed; only RemoteProtocolError may escape."""
    c = Connection(role, max_body=10_000)
    if role == CLIENT:
        c.send_message(Request(b"GET", b"/", [(b"host", b"x")]))
    events: list = []
    for piece in [*pieces, b""]:
        c.receive_data(piece)
        while True:
            ev = c.next_event()
            if ev is NEED_DATA:
                break
            if ev is PAUSED:
                if role == SERVER and c.our_state == "IDLE":
                    c.send_message(Response(200, [(b"content-length", b"0")]))
                    continue
                break
            events.append(ev)
            if isinstance(ev, ConnectionClosed):
                return events
    return events


def contract(role: str, pieces: list[bytes]) -> None:
    try:
        drive(role, pieces)
    except RemoteProtocolError as e:
        assert 400 <= e.status < 600


@SETTINGS
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_random_bytes_only_raise_the_protocol_error(data, cuts):
    for role in (SERVER, CLIENT):
        contract(role, split(data, cuts))


@st.composite
def mutated(draw):
    raw = draw(request())[0] + draw(request())[0]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "lf", "crlf"]))
        if op == "flip" and i < len(raw):
            raw = raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1 :]
        elif op == "insert":
            raw = raw[:i] + draw(st.binary(min_size=1, max_size=8)) + raw[i:]
        elif op == "delete":
            raw = raw[:i] + raw[i + draw(st.integers(1, 8)) :]
        elif op == "dup":
            raw = raw[:i] + raw[i : i + 20] + raw[i:]
        elif op == "lf":
            raw = raw.replace(b"\r\n", b"\n", 1)
        else:
            raw = raw[:i] + b"\r\n" + raw[i:]
    return raw


@SETTINGS
@given(mutated(), st.lists(st.integers(0, 2000), max_size=6))
def test_mutated_requests_only_raise_the_protocol_error(raw, cuts):
    contract(SERVER, [raw])
    contract(SERVER, split(raw, cuts))
    contract(SERVER, [raw[i : i + 1] for i in range(len(raw))])


@SETTINGS
@given(st.lists(request(), min_size=1, max_size=3), st.lists(st.integers(0, 3000), max_size=8))
def test_generated_requests_round_trip_whole_split_and_bytewise(reqs, cuts):
    stream = b"".join(r[0] for r in reqs)
    expected = [(m, t, b) for _, m, t, b in reqs]
    for pieces in ([stream], split(stream, cuts), [stream[i : i + 1] for i in range(len(stream))]):
        got, body = [], b""
        for ev in drive(SERVER, pieces):
            if isinstance(ev, Request):
                head = ev
            elif isinstance(ev, Data):
                body += ev.data
            elif isinstance(ev, EndOfMessage):
                got.append((head.method, head.target, body))
                body = b""
        assert got == expected


@st.composite
def response(draw):
    status = draw(st.sampled_from([200, 201, 204, 304, 404, 500]))
    body = b"" if status in (204, 304) else draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    raw = b"HTTP/1.1 %d X\r\nserver: t\r\n" % status
    if framing == "length":
        raw += b"content-length: %d\r\n\r\n" % len(body) + body
    elif framing == "chunked":
        raw += b"transfer-encoding: chunked\r\n\r\n"
        raw += (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    else:
        raw += b"\r\n" + body
    return raw, status, body


@SETTINGS
@given(response(), st.lists(st.integers(0, 500), max_size=6))
def test_generated_responses_round_trip_for_the_client(resp, cuts):
    raw, status, body = resp
    for pieces in ([raw], split(raw, cuts)):
        events = drive(CLIENT, pieces)
        assert isinstance(events[0], Response) and events[0].status_code == status
        assert b"".join(e.data for e in events if isinstance(e, Data)) == body
        assert any(isinstance(e, EndOfMessage) for e in events)
