"""The sans-IO HTTP/1.1 core: table-driven, exact bytes, whole and one byte at a time."""

import pytest

from netlib.http import core as h
from netlib.http.core import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    SERVER,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    Response,
)


def feed(conn: Connection, data: bytes, bytewise: bool) -> list:
    """Feed ``data`` (whole or byte by byte) and collect events, merging adjacent Data."""
    out: list = []
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        conn.receive_data(piece)
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA or ev is PAUSED:
                break
            if isinstance(ev, Data) and out and isinstance(out[-1], Data):
                out[-1] = Data(out[-1].data + ev.data)
            else:
                out.append(ev)
            if isinstance(ev, ConnectionClosed):
                return out
    return out


def server_after_request(raw: bytes) -> Connection:
    c = Connection(SERVER)
    c.receive_data(raw)
    while c.next_event() not in (NEED_DATA, PAUSED):
        pass
    return c


GET = Request(b"GET", b"/a?b=1", [(b"host", b"x")])
EOM = EndOfMessage()

# (name, bytes a client sends, events a server must see)
REQUESTS = [
    ("simple GET", b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", [GET, EOM]),
    ("header value whitespace trimmed, name lower-cased",
     b"GET /a?b=1 HTTP/1.1\r\nHOST:   x \t\r\n\r\n", [GET, EOM]),
    ("leading empty line ignored", b"\r\nGET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", [GET, EOM]),
    ("content-length body",
     b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
     [Request(b"POST", b"/p", [(b"host", b"x"), (b"content-length", b"5")]), Data(b"hello"), EOM]),
    ("equal duplicate content-length is fine",
     b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
     [Request(b"POST", b"/p", [(b"host", b"x"), (b"content-length", b"2"), (b"content-length", b"2")]),
      Data(b"hi"), EOM]),
    ("chunked body with extension and trailer",
     b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Sum: 15\r\n\r\n",
     [Request(b"POST", b"/p", [(b"host", b"x"), (b"transfer-encoding", b"chunked")]),
      Data(b"hello0123456789"), EndOfMessage([(b"x-sum", b"15")])]),
    ("HTTP/1.0 request",
     b"GET / HTTP/1.0\r\n\r\n", [Request(b"GET", b"/", [], b"1.0"), EOM]),
    ("empty header value", b"GET / HTTP/1.1\r\nHost: x\r\nX-E:\r\n\r\n",
     [Request(b"GET", b"/", [(b"host", b"x"), (b"x-e", b"")]), EOM]),
    ("absolute-form target (RFC 9112 §3.2.2: a server MUST accept it)",
     b"GET http://x/p?q HTTP/1.1\r\nHost: x\r\n\r\n",
     [Request(b"GET", b"http://x/p?q", [(b"host", b"x")]), EOM]),
]  # fmt: skip


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("name,raw,expected", REQUESTS, ids=[r[0] for r in REQUESTS])
def test_server_parses_requests(name, raw, expected, bytewise):
    assert feed(Connection(SERVER), raw, bytewise) == expected


# (name, request bytes, status the server must answer with)
REFUSALS = [
    ("CL and TE together (smuggling)",
     b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("conflicting duplicate CL", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
    ("conflicting CL list", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n", 400),
    ("CL with a sign", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n", 400),
    ("CL not a number", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", 400),
    ("CL too many digits", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0000000000000000001\r\n\r\n", 400),
    ("TE gzip", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("TE gzip, chunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
    ("TE chunked twice in one field", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
    ("TE xchunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
    ("CL negative", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n", 400),
    ("space before colon in CL", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc", 400),
    ("header name with a non-token char", b"GET / HTTP/1.1\r\nHost: x\r\nX(y): 1\r\n\r\n", 400),
    ("fragment in the request target", b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("chunk-size line over the limit",
     b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * h.MAX_CHUNK_LINE + b"\r\n", 400),
    ("TE chunked twice", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("TE chunked from HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n", 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("bare LF terminating lines", b"GET / HTTP/1.1\nHost: x\n\n", 400),
    ("bare LF inside head", b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400),
    ("bare CR in value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400),
    ("NUL in value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 400),
    ("malformed request line", b"GET /\r\n\r\n", 400),
    ("two spaces in request line", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\n\r\n", 505),
    ("unknown Expect", b"POST / HTTP/1.1\r\nHost: x\r\nExpect: tea\r\nContent-Length: 1\r\n\r\n", 417),
    ("bad chunk size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("negative chunk size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
    ("chunk size 0x prefix", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", 400),
    ("chunk size with trailing space", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400),
    ("empty chunk size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
    ("huge chunk size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n", 400),
    ("chunk size bare LF", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello", 400),
    ("chunk data too long", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400),
    ("request line too long", b"GET /" + b"a" * h.MAX_REQUEST_LINE + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("request line too long, unfinished", b"GET /" + b"a" * h.MAX_REQUEST_LINE, 414),
    ("head too large", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: " + b"a" * h.MAX_HEAD_BYTES + b"\r\n\r\n", 431),
    ("too many headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: 1\r\n" * (h.MAX_HEADERS + 1) + b"\r\n", 431),
    ("body over the limit", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (h.DEFAULT_MAX_BODY + 1), 413),
]  # fmt: skip


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("name,raw,status", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_server_refuses_with_status(name, raw, status, bytewise):
    if bytewise and len(raw) > 2000:
        bytewise = False  # big inputs: whole is enough, byte by byte would only be slow
    c = Connection(SERVER)
    with pytest.raises(RemoteProtocolError) as e:
        feed(c, raw, bytewise)
    assert e.value.status == status
    assert c.their_state == h.ERROR and not c.keep_alive
    # the connection can still say why, once, with Connection: close
    out = c.send_message(Response(e.value.status, [(b"content-length", b"0")]))
    assert out.startswith(b"HTTP/1.1 %d " % status) and b"connection: close\r\n" in out


def test_chunked_body_over_limit_is_413_mid_stream():
    c = Connection(SERVER, max_body=10)
    with pytest.raises(RemoteProtocolError) as e:
        feed(
            c,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n",
            False,
        )
    assert e.value.status == 413


def test_peer_closing_mid_body_is_an_error_but_between_messages_is_not():
    c = Connection(SERVER)
    feed(c, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab", False)
    c.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        c.next_event()
    c = Connection(SERVER)
    assert feed(c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False)[-1] == EOM
    c.send_message(Response(200, [(b"content-length", b"0")]))
    c.receive_data(b"")
    assert isinstance(c.next_event(), ConnectionClosed)


# (name, request that set the scene, response event + body, exact bytes sent)
RESPONSES = [
    ("content-length", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
     Response(200, [(b"content-length", b"2")]), b"hi",
     b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"),
    ("chunked added for HTTP/1.1 when no length", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
     Response(200, []), b"hi",
     b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"),
    ("HTTP/1.0 without length: close-delimited", b"GET / HTTP/1.0\r\n\r\n",
     Response(200, []), b"hi",
     b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhi"),
    ("HTTP/1.0 keep-alive with length", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
     Response(200, [(b"content-length", b"2")]), b"hi",
     b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nhi"),
    ("HEAD: headers, no body", b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
     Response(200, [(b"content-length", b"5")]), b"hello",
     b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"),
    ("304 has no body", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
     Response(304, [(b"etag", b'"x"')]), b"",
     b"HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n"),
    ("client asked to close", b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
     Response(204, []), b"",
     b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n"),
]  # fmt: skip


@pytest.mark.parametrize("name,req,head,body,wire", RESPONSES, ids=[r[0] for r in RESPONSES])
def test_server_sends_exact_bytes(name, req, head, body, wire):
    c = server_after_request(req)
    assert c.send_message(head, body) == wire


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("name,req,head,body,wire", RESPONSES, ids=[r[0] for r in RESPONSES])
def test_client_reads_what_the_server_sent(name, req, head, body, wire, bytewise):
    method, target = req.split(b" ")[:2]
    cl = Connection(CLIENT)
    cl.send_message(Request(method, target, [(b"host", b"x")]))
    c = server_after_request(req)
    c.send_message(head, body)  # puts the server in the same state
    events = feed(cl, wire, bytewise)
    if head.status_code == 200 and b"connection: close" in wire:
        cl.receive_data(b"")  # close-delimited: the end is the close
        events += [cl.next_event()]
    assert events[0].status_code == head.status_code
    got = b"".join(e.data for e in events if isinstance(e, Data))
    assert got == (b"" if method == b"HEAD" or head.status_code in (204, 304) else body)
    assert isinstance(events[-1], EndOfMessage)


def test_client_sends_chunked_and_reads_100_continue():
    cl = Connection(CLIENT)
    out = cl.send(Request(b"PUT", b"/u", [(b"host", b"x"), (b"transfer-encoding", b"chunked"),
                                          (b"expect", b"100-continue")]))  # fmt: skip
    assert (
        out
        == b"PUT /u HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n"
    )
    assert feed(cl, b"HTTP/1.1 100 Continue\r\n\r\n", False) == [
        InformationalResponse(100, [], b"Continue")
    ]
    assert cl.send(Data(b"abc")) == b"3\r\nabc\r\n"
    assert cl.send(EndOfMessage([(b"x-t", b"1")])) == b"0\r\nx-t: 1\r\n\r\n"


def test_expect_100_continue_flag_on_the_server():
    c = Connection(SERVER)
    feed(
        c, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", False
    )
    assert c.they_are_waiting_for_100_continue
    assert c.send(InformationalResponse(100)) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not c.they_are_waiting_for_100_continue
    assert feed(c, b"abc", False) == [Data(b"abc"), EOM]


def test_pipelined_requests_pause_until_answered():
    c = Connection(SERVER)
    c.receive_data(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.next_event() == Request(b"GET", b"/1", [(b"host", b"x")])
    assert c.next_event() == EOM
    assert c.next_event() is PAUSED  # must answer /1 first
    c.send_message(Response(200, [(b"content-length", b"0")]))
    assert c.next_event() == Request(b"GET", b"/2", [(b"host", b"x")])
    assert c.cycles == 1


def test_keep_alive_off_after_connection_close_then_closed():
    c = server_after_request(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    c.send_message(Response(200, [(b"content-length", b"0")]))
    assert c.our_state == h.MUST_CLOSE and c.next_event() is PAUSED


def test_local_errors_refuse_to_send_bad_things():
    c = server_after_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(LocalProtocolError):
        c.send(Response(200, [(b"x", b"a\r\nSet-Cookie: evil=1")]))  # header injection
    c = server_after_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    c.send(Response(200, [(b"content-length", b"2")]))
    with pytest.raises(LocalProtocolError):
        c.send(Data(b"abc"))
    with pytest.raises(LocalProtocolError):
        Connection(CLIENT).send(Data(b"x"))


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"5"), (b"content-length", b"2")],  # the peer cannot frame it
        [(b"transfer-encoding", b"chunked"), (b"content-length", b"2")],  # RFC 9112 §6.2
        [(b"x-a", b"1"), (b"Content-Length", b"2"), (b"content-length", b"3")],
        [(b"content-length", b"0"), (b"transfer-encoding", b"chunked")],
    ],
)
def test_conflicting_framing_is_refused_before_anything_is_sent(headers):
    """Both were sent as given: two lengths, or a length beside chunked coding."""
    c = server_after_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(LocalProtocolError):
        c.send(Response(200, headers))
    assert c.send(Response(200, [(b"content-length", b"2"), (b"content-length", b"2")]))


def test_switching_protocols_hands_over_the_rest():
    c = Connection(SERVER)
    feed(
        c,
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00",
        False,
    )
    c.send(InformationalResponse(101, [(b"upgrade", b"websocket")]))
    assert c.our_state == h.SWITCHED_PROTOCOL
    assert c.trailing_data == (b"\x81\x00", False)


@pytest.mark.parametrize("code", [b"000", b"042", b"099"])
def test_a_status_code_below_100_is_a_malformed_status_line(code):
    """RFC 9110 §15: status codes are 100..599; a 0xx is not an interim (1xx) response."""
    cl = Connection(CLIENT)
    cl.send(Request(b"GET", b"/", [(b"host", b"x")]))
    cl.send(EndOfMessage())
    cl.receive_data(b"HTTP/1.1 " + code + b" Odd\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="malformed status line"):
        cl.next_event()
