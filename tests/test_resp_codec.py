"""The RESP codec (netlib/resp/): tables of exact bytes, fed whole and one byte at a
time, plus Hypothesis for the parser contract (only ProtocolError escapes) and
encode -> decode round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from resp_support import session_reads

from netlib import resp
from netlib.resp import (
    NEED_DATA,
    Attributed,
    ProtocolError,
    Push,
    ReplyError,
    ReplyParser,
    RequestParser,
    RespSet,
    SimpleString,
    Verbatim,
    _requests,
)

pytestmark = pytest.mark.exercise("N14")


def _all_commands(chunks: list[bytes]) -> list[list[bytes]]:
    p = RequestParser()
    out: list[list[bytes]] = []
    for c in chunks:
        p.feed(c)
        out += p.commands()
    return out


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


REQUESTS = [
    (b"*1\r\n$4\r\nPING\r\n", [[b"PING"]]),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", [[b"SET", b"k", b""]]),
    (b"*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n", [[b"GET", b"a\r\nb"]]),  # CRLF inside a bulk
    (b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n", [[b"PING"], [b"PING"]]),  # pipelined
    (b"*0\r\n*-1\r\n*1\r\n$1\r\nx\r\n", [[b"x"]]),  # empty multibulks are skipped
    (b"PING\r\n", [[b"PING"]]),
    (b"ping\n", [[b"ping"]]),  # inline with a bare LF, like nc without -C
    (b"\r\n  \r\nECHO  hi   there\r\n", [[b"ECHO", b"hi", b"there"]]),
    (b'SET k "hello world"\r\n', [[b"SET", b"k", b"hello world"]]),
    (b'SET k "a\\r\\n\\x41\\"b"\r\n', [[b"SET", b"k", b'a\r\nA"b']]),
    (b"SET k 'it\\'s \"x\"'\r\n", [[b"SET", b"k", b'it\'s "x"']]),
    (b'SET k ""\r\n', [[b"SET", b"k", b""]]),
    (b"GET k\r\n*1\r\n$4\r\nPING\r\nQUIT\r\n", [[b"GET", b"k"], [b"PING"], [b"QUIT"]]),
]


@pytest.mark.parametrize(("wire", "expected"), REQUESTS)
def test_request_parser_whole_and_byte_by_byte(wire, expected):
    assert _all_commands([wire]) == expected
    assert _all_commands(_bytewise(wire)) == expected


BAD_REQUESTS = [
    (b"*2\r\n$3\r\nGET\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
    (b"*x\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1048577\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n$-1\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$536870913\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$ 3\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b'SET k "abc\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    (b'SET k "abc"x\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    (b"*1\r\n$1\r\nxyz", b"-ERR Protocol error: expected CRLF after bulk string\r\n"),
]


@pytest.mark.parametrize(("wire", "reply"), BAD_REQUESTS)
def test_request_parser_errors_carry_redis_wording(wire, reply):
    for chunks in ([wire], _bytewise(wire)):
        with pytest.raises(ProtocolError) as e:
            _all_commands(chunks)
        assert e.value.reply == reply


def test_commands_before_garbage_are_returned_then_the_error():
    p = RequestParser()
    p.feed(b"*1\r\n$4\r\nPING\r\n*1\r\n!oops\r\n")
    assert p.commands() == [[b"PING"]]
    assert p.failed
    with pytest.raises(ProtocolError):
        p.commands()


@pytest.mark.parametrize(
    ("wire", "reply"),
    [
        (b"x" * (resp.MAX_INLINE_LEN + 1), b"-ERR Protocol error: too big inline request\r\n"),
        (b"*" + b"1" * resp.MAX_INLINE_LEN, b"-ERR Protocol error: too big mbulk count string\r\n"),
        (
            b"*1\r\n$" + b"1" * resp.MAX_INLINE_LEN,
            b"-ERR Protocol error: too big bulk count string\r\n",
        ),
    ],
)
def test_lines_without_end_hit_the_inline_limit(wire, reply):
    with pytest.raises(ProtocolError) as e:
        _all_commands([wire[:1000], wire[1000:]])
    assert e.value.reply == reply


def test_big_bulk_arriving_in_pieces_is_joined_once_and_exact():
    value = bytes(range(256)) * 4096  # 1 MiB
    wire = resp.encode_command("SET", "k", value)
    chunks = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    assert _all_commands(chunks) == [[b"SET", b"k", value]]


def test_a_many_argument_command_resumes_where_it_stopped():
    args = [b"MSET"] + [b"k%d" % i for i in range(20_000)]
    wire = resp.encode_command(*args)
    chunks = [wire[i : i + 4096] for i in range(0, len(wire), 4096)]
    assert _all_commands(chunks) == [args]


def test_next_command_returns_one_at_a_time():
    p = RequestParser()
    p.feed(b"PING\r\nPING\r\n")
    assert p.next_command() == [b"PING"]
    assert p.next_command() == [b"PING"]
    assert p.next_command() is NEED_DATA


# --- replies -------------------------------------------------------------------

REPLIES = [
    (b"+OK\r\n", SimpleString("OK")),
    (b"-ERR unknown command\r\n", ReplyError("ERR unknown command")),
    (b":-42\r\n", -42),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"_\r\n", None),
    (b"*3\r\n:1\r\n$1\r\na\r\n*0\r\n", [1, b"a", []]),
    (b"%2\r\n$1\r\na\r\n:1\r\n+b\r\n*1\r\n#f\r\n", {b"a": 1, "b": [False]}),
    (b"~2\r\n:1\r\n:2\r\n", {1, 2}),
    (b"~1\r\n*1\r\n:1\r\n", RespSet([[1]])),
    (b",3.25\r\n", 3.25),
    (b",-inf\r\n", -math.inf),
    (b"#t\r\n", True),
    (
        b"(3492890328409238509324850943850943825024385\r\n",
        3492890328409238509324850943850943825024385,
    ),
    (b"=15\r\ntxt:Some string\r\n", Verbatim("Some string")),
    (b"!21\r\nSYNTAX invalid syntax\r\n", ReplyError("SYNTAX invalid syntax")),
    (b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", Push([b"message", b"ch", b"hi"])),
]


def _replies(chunks: list[bytes]) -> list[object]:
    p = ReplyParser()
    out = []
    for c in chunks:
        p.feed(c)
        while (r := p.next_reply()) is not NEED_DATA:
            out.append(r)
    return out


@pytest.mark.parametrize(("wire", "value"), REPLIES)
def test_reply_parser_whole_and_byte_by_byte(wire, value):
    for chunks in ([wire], _bytewise(wire)):
        (got,) = _replies(chunks)
        assert got == value
        assert type(got) is type(value)


def test_error_reply_code_and_verbatim_format():
    (err, verb) = _replies([b"-WRONGTYPE Operation against a key\r\n=8\r\nmkd:# hi\r\n"])
    assert err.code == "WRONGTYPE"
    assert (verb, verb.fmt) == ("# hi", "mkd")


def test_attributes_attach_to_the_whole_next_value():
    wire = b"|1\r\n+ttl\r\n:3\r\n*2\r\n:1\r\n:2\r\n:7\r\n"
    for chunks in ([wire], _bytewise(wire)):
        got = _replies(chunks)
        assert isinstance(got[0], Attributed)
        assert (got[0].value, got[0].attributes) == ([1, 2], {"ttl": 3})
        assert got[1] == 7


@pytest.mark.parametrize("wire", [b"?1\r\n", b":1x\r\n", b"#x\r\n", b",1_0\r\n", b"$2\r\nabcd"])
def test_bad_replies_raise_protocol_error(wire):
    with pytest.raises(ProtocolError):
        _replies([wire])


# --- encoders --------------------------------------------------------------------


def test_reply_encoders_by_protocol_version():
    assert resp.map_({b"a": 1}, 2) == b"*2\r\n$1\r\na\r\n:1\r\n"
    assert resp.map_({b"a": 1}, 3) == b"%1\r\n$1\r\na\r\n:1\r\n"
    assert resp.double(1.5, 2) == b"$3\r\n1.5\r\n"
    assert resp.double(1.5, 3) == b",1.5\r\n"
    assert resp.double(float("inf"), 3) == b",inf\r\n"
    assert resp.boolean(True, 2) == b":1\r\n"
    assert resp.boolean(False, 3) == b"#f\r\n"
    assert resp.null(2) == b"$-1\r\n" and resp.null(3) == b"_\r\n"
    assert resp.null_array(2) == b"*-1\r\n"
    assert resp.set_([b"x"], 3) == b"~1\r\n$1\r\nx\r\n"
    assert resp.set_([b"x"], 2) == b"*1\r\n$1\r\nx\r\n"
    assert resp.push([b"message"], 3) == b">1\r\n$7\r\nmessage\r\n"
    assert resp.push([b"message"], 2) == b"*1\r\n$7\r\nmessage\r\n"
    assert resp.error("no such key") == b"-ERR no such key\r\n"
    assert resp.error("Operation", code="WRONGTYPE") == b"-WRONGTYPE Operation\r\n"
    assert resp.error("a\r\nb") == b"-ERR a  b\r\n"
    assert resp.integer(12345678) == b":12345678\r\n" and resp.integer(-1) == b":-1\r\n"
    assert resp.bulks([b"a", None], 2) == b"*2\r\n$1\r\na\r\n$-1\r\n"
    assert resp.encode_command("SET", b"k", 1, 2.5) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$3\r\n2.5\r\n"
    )


# --- Hypothesis: the contract ---------------------------------------------------

_fragments = st.sampled_from(
    [b"*", b"$", b"\r\n", b"\n", b"1", b"3", b"-1", b"0", b'"', b"'", b"\\x4", b" ", b"PING", b":"]
)
_junk = st.lists(st.one_of(_fragments, st.binary(max_size=8)), max_size=30).map(b"".join)


def _split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


@settings(max_examples=400, deadline=None)
@given(data=_junk, cuts=st.lists(st.integers(0, 1000), max_size=5))
def test_request_parser_only_raises_protocol_error(data, cuts):
    for chunks in ([data], _split_at(data, cuts), _bytewise(data)):
        try:
            for cmd in _all_commands(chunks):
                assert cmd and all(isinstance(a, bytes) for a in cmd)
        except ProtocolError as e:
            assert e.reply.startswith(b"-ERR Protocol error: ") and e.reply.endswith(b"\r\n")


@settings(max_examples=400, deadline=None)
@given(data=st.one_of(_junk, st.binary(max_size=60)))
def test_reply_parser_only_raises_protocol_error(data):
    for chunks in ([data], _bytewise(data)):
        try:
            _replies(chunks)
        except ProtocolError:
            pass


_args = st.lists(st.binary(max_size=40), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(cmds=st.lists(_args, min_size=1, max_size=5), cuts=st.lists(st.integers(0, 10**4)))
def test_encode_command_then_parse_is_identity_however_split(cmds, cuts):
    wire = b"".join(resp.encode_command(*c) for c in cmds)
    assert _all_commands(_split_at(wire, cuts)) == cmds


@settings(max_examples=200, deadline=None)
@given(data=st.data(), cmds=st.lists(_args, min_size=1, max_size=4))
def test_mutated_valid_requests_only_raise_protocol_error(data, cmds):
    wire = bytearray(b"".join(resp.encode_command(*c) for c in cmds))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] = data.draw(st.integers(0, 255))
    try:
        _all_commands(_bytewise(bytes(wire)))
    except ProtocolError:
        pass


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=20),
    st.text(
        alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
        max_size=10,
    ).map(SimpleString),
    st.text(alphabet="abcXYZ ", min_size=1, max_size=10).map(lambda s: ReplyError("ERR " + s)),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(Push),
        st.dictionaries(st.binary(max_size=6), inner, max_size=4),
        st.sets(st.binary(max_size=6), max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=_values)
def test_resp3_encode_then_decode_is_identity(value):
    wire = resp.encode_reply(value, 3)
    assert _replies([wire]) == [value]
    assert _replies(_bytewise(wire)) == [value]


@settings(max_examples=100, deadline=None)
@given(values=st.lists(_values, min_size=1, max_size=5))
def test_resp2_encoding_decodes_to_one_value_each(values):
    wire = b"".join(resp.encode_reply(v, 2) for v in values)
    assert len(_replies([wire])) == len(values)


# --- take(): feed + commands in one call; the grid of same-size commands ------------------


def _taken(chunks: list[bytes]) -> tuple[list[list[bytes]], bytes | None]:
    """Commands and the error (its reply) ``take`` gives, chunk after chunk."""
    p, out = RequestParser(), []
    try:
        for c in chunks:
            out += p.take(c)
        out += p.commands()
    except ProtocolError as e:
        return out, e.reply
    return out, None


def _fed(chunks: list[bytes]) -> tuple[list[list[bytes]], bytes | None]:
    p, out = RequestParser(), []
    try:
        for c in chunks:
            p.feed(c)
            out += p.commands()
        out += p.commands()
    except ProtocolError as e:
        return out, e.reply
    return out, None


_runs = st.lists(
    st.tuples(st.integers(1, 20), st.lists(st.binary(max_size=12), min_size=1, max_size=4)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(runs=_runs, junk=_junk, where=st.integers(0, 10**4), cuts=st.lists(st.integers(0, 10**4)))
def test_take_gives_what_feed_and_commands_give(runs, junk, where, cuts):
    """Runs of same-size commands (the grid), a value with CRLF or garbage anywhere, any
    split: ``take`` answers exactly as ``feed`` + ``commands``, error included."""
    wire = b"".join(resp.encode_command(*args) * n for n, args in runs)
    at = where % (len(wire) + 1)
    for data in (wire, wire[:at] + junk + wire[at:]):
        for chunks in ([data], _split_at(data, cuts)):
            assert _taken(chunks) == _fed(chunks) == session_reads(chunks)
    assert _taken([wire]) == ([list(args) for n, args in runs for _ in range(n)], None)


# Values of one length drawn from bytes that look like framing, so rows of one layout
# (what take_grid cuts) carry CRLF, '*' and '$' headers inside their arguments.
_framing = st.binary(min_size=3, max_size=3) | st.sampled_from(
    [b"\r\n$", b"*3\r", b"\r\n*", b"$3\r", b"SET", b"\n\r\n"]
)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from([b"SET", b"set", b"GET", b"LPUSH", b"HSET"]),
    words=st.integers(1, 4),
    values=st.lists(st.lists(_framing, min_size=3, max_size=3), min_size=1, max_size=24),
    tail=st.binary(max_size=30),
    cuts=st.lists(st.integers(0, 10**4), max_size=3),
)
def test_take_grid_cuts_what_the_general_parser_cuts(name, words, values, tail, cuts):
    """Reads of calls of one layout (arguments full of CRLF and headers), a tail of
    anything, any split: the grid's rows are the commands the general parser finds."""
    wire = b"".join(resp.encode_command(name, *v[: words - 1]) for v in values) + tail
    for chunks in ([wire], _split_at(wire, cuts)):
        assert session_reads(chunks) == _fed(chunks)


def test_take_grid_takes_whole_rows_only_and_leaves_the_rest_buffered():
    row = resp.encode_command("SET", "key:000001", "xxx")
    p = RequestParser()
    assert p.take_grid(row) is None  # one call: no grid (take parses it)
    assert p.take(row) == [[b"SET", b"key:000001", b"xxx"]]
    other = resp.encode_command("SET", "key:000002", "yyy")
    grid = p.take_grid(row + other + row[:9])
    assert grid == (b"SET", [(b"key:000001", b"key:000002"), (b"xxx", b"yyy")])
    assert p.buffered() == 9 and p.take_grid(row) is None  # (something is buffered)
    assert p.take(row[9:] + resp.encode_command("PING")) == [
        [b"SET", b"key:000001", b"xxx"], [b"PING"]
    ]  # fmt: skip
    gets = resp.encode_command("GET", "a") * 3
    assert p.take_grid(gets) == (b"GET", [(b"a", b"a", b"a")])
    assert resp.UnauthenticatedParser().take_grid(gets) is None


def test_take_one_takes_a_read_of_exactly_one_canonical_command_and_nothing_else():
    row = resp.encode_command("SET", "key:000001", "xxx")
    p = RequestParser()
    assert p.take_one(row) == [b"SET", b"key:000001", b"xxx"]
    assert p.take_one(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") == [b"GET", b"k"]
    assert p.take_one(b"*1\r\n$4\r\nPING\r\n") == [b"PING"]
    many = resp.encode_command("HSET", "h", *(b"f%d" % i for i in range(8)))  # 10 words
    assert p.take_one(resp.encode_command("LPUSH", "l", "a", "b", "c")) == [
        b"LPUSH", b"l", b"a", b"b", b"c"
    ]  # fmt: skip
    refused = [
        row + row,  # a pipeline: take_grid or take
        row[:-1],  # incomplete
        row[:9],
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n",  # a value with CRLF in it
        b"*3\r\n$3\r\nSET\r\n$01\r\nk\r\n$1\r\nv\r\n",  # a header not canonical
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nvv\r\n",  # a length that lies
        b"*2\r\n$3\r\nGET\r\n$2\r\nk\r\n\r\n",
        b"SET k v\r\n",  # inline
        many,
        b"",
    ]
    for data in refused:
        assert p.take_one(data) is None, data
        assert p.buffered() == 0  # nothing consumed
    assert p.take_one(bytearray(row)) is None
    p.feed(row[:5])  # something buffered: the rest of it is not a command of its own
    assert p.take_one(row[5:]) is None
    assert p.take(row[5:]) == [[b"SET", b"key:000001", b"xxx"]]
    assert resp.UnauthenticatedParser().take_one(row) is None


@pytest.mark.parametrize(
    "row",
    [
        b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$1\r\nv\r\n",  # a value with CRLF in it
        b"*3\r\n$3\r\nSET\r\n$01\r\nk\r\n$1\r\nv\r\n",  # a header not as encode_command writes it
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv\r\n",  # a header that lies: protocol error
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",  # another size
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv",  # an incomplete tail
    ],
)
@pytest.mark.parametrize("before", [1, 2, 15])
def test_a_grid_ends_at_the_first_odd_row_and_the_general_parser_decides(row, before):
    good = resp.encode_command("SET", "k", "v")
    wire = good * before + row + good * 3
    assert _taken([wire]) == _fed(_bytewise(wire)) == session_reads([wire])


@pytest.mark.parametrize(
    "row",
    [
        b"*2\r\n$3\r\nGET\r\n$02\r\nk\r\n",  # a header not as encode_command writes it
        b"*2\r\n$3\r\nGET\r\n$1\r\nkk\r\n",  # a header that lies: protocol error
        b"*2\r\n$3\r\nGET\r\n$3\r\nkkk\r",  # the next row's framing is not there
        b"*2\r\n$3\r\nGETXX$2\r\nkk\r\n",  # the name's CRLF replaced
    ],
)
@pytest.mark.parametrize("at", [0, 1, 7, 15])
def test_a_known_one_argument_layout_is_checked_row_by_row(row, at):
    """A GET layout already known (its rows are checked by joining their keys into the
    read they would make, not by the regex): a read of its probe and row size with one
    odd row of the same length is a grid of the rows before it only, and the general
    parser decides the rest, exactly as without the grid."""
    good = resp.encode_command("GET", "kk")
    assert len(row) == len(good)
    assert RequestParser().take_grid(good * 16) == (b"GET", [(b"kk",) * 16])  # (known)
    wire = good * at + row + good * (15 - at)
    assert _taken([wire]) == _fed(_bytewise(wire)) == session_reads([wire])
    grid = RequestParser().take_grid(wire)
    assert (grid is None) if at < 2 else grid == (b"GET", [(b"kk",) * at]), grid
    odd = b"*2\r\n$3\r\nGET\r\n$2\r\nk\r\r\n"  # a key with CR in it: a row of the layout
    wire = good * at + odd + good * (15 - at)
    keys = (b"kk",) * at + (b"k\r",) + (b"kk",) * (15 - at)
    assert RequestParser().take_grid(wire) == (b"GET", [keys])


def test_take_grid_memory_stays_bounded_over_every_row_count():
    """Grids of one layout with every row count up to the grid's limit: the cuts kept for
    them are bounded (each row count's itemgetters hold one slice per call and argument:
    all of them kept would be about rows**2 / 2 slices, over a million for GETs)."""
    import sys

    row = resp.encode_command("GET", "k")
    before = sys.getallocatedblocks()
    for rows in range(2, 32 * 1024 // len(row) + 1):
        assert RequestParser().take_grid(row * rows) == (b"GET", [(b"k",) * rows])
    assert sys.getallocatedblocks() - before < 150_000  # (all kept: over 3 million)


@pytest.mark.parametrize(
    "after",
    [
        resp.encode_command("SET", "key:000001", "a longer value than the rest"),
        resp.encode_command("EXPIRE", "key:000001", "100") * 3,
    ],
)
def test_a_grid_followed_by_longer_commands_is_still_a_grid(after):
    """16 SETs then commands of another layout at least a row long: the 16 are the grid
    (the rest is parsed by ``take``), not the whole read left to the general parser
    after the grid was tried twice (2.4 times ``take``'s CPU for nothing)."""
    row = resp.encode_command("SET", "key:000001", "xxx")
    p = RequestParser()
    assert p.take_grid(row * 16 + after) == (b"SET", [(b"key:000001",) * 16, (b"xxx",) * 16])
    assert p.buffered() == len(after)
    assert p.take(b"") == _fed([after])[0]


def _framed(name: bytes, args: list[bytes]) -> tuple[bytes, list[int]]:
    """One command as ``encode_command`` writes it, and the offsets of its framing: every
    byte but its arguments' own (the count, each header, the name, each CRLF)."""
    pieces = [(b"*%d\r\n$%d\r\n%s\r\n" % (len(args) + 1, len(name), name), True)]
    for arg in args:
        pieces += [(b"$%d\r\n" % len(arg), True), (arg, False), (b"\r\n", True)]
    row = b"".join(piece for piece, _ in pieces)
    assert row == resp.encode_command(name, *args)
    framing = [framed for piece, framed in pieces for _ in piece]
    return row, [i for i, framed in enumerate(framing) if framed]


# Arguments of any bytes but '*' (every row starts with it, and the second row of a read
# is looked for by its first bytes), CRLF and '$' among them.
def _args_of(size: int) -> st.SearchStrategy[bytes]:
    return st.lists(
        st.sampled_from(list(b"\r\n$:3SETk\x00\xff")), min_size=size, max_size=size
    ).map(bytes)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from([b"GET", b"SET", b"HSET", b"LPUSH"]),
    sizes=st.lists(st.integers(0, 12), min_size=1, max_size=3),
    count=st.integers(2, 12),
    data=st.data(),
)
def test_a_changed_framing_byte_ends_the_grid_at_its_row(name, sizes, count, data):
    """Rows of one layout (arguments of one length each, CRLF and '$' among their bytes),
    one byte of one row's framing changed (its count, a header, the name, a CRLF): the
    grid is the rows before it (none if fewer than two), the rest stays buffered, whether
    the layout and the read's size were known before (the packed check, then the probe)
    or not. A byte of an argument changed instead: every row is in the grid."""
    rows = [[data.draw(_args_of(n)) for n in sizes] for _ in range(count)]
    framed = [_framed(name, args) for args in rows]
    wire = b"".join(row for row, _ in framed)
    size = len(wire) // count
    bad = data.draw(st.integers(0, count - 1))
    framing = framed[bad][1]
    in_framing = data.draw(st.booleans()) or not any(sizes)
    at = data.draw(
        st.sampled_from(framing if in_framing else sorted(set(range(size)) - set(framing)))
    )
    at += bad * size
    changed = bytearray(wire)
    changed[at] = data.draw(st.integers(0, 255).filter(lambda b: b != wire[at]))
    changed = bytes(changed)
    cmds, _ = _fed([changed])
    grid_rows = bad if in_framing else count
    want = (name, list(zip(*[c[1:] for c in cmds[:grid_rows]], strict=True)))
    if in_framing:
        assert [c[1:] for c in cmds[:bad]] == rows[:bad]
    for known in (False, True):
        if known:
            assert RequestParser().take_grid(wire) == (name, list(zip(*rows, strict=True)))
        else:
            _requests._GRIDS.clear()
            _requests._GRID_READS.clear()
        p = RequestParser()
        assert p.take_grid(changed) == (want if grid_rows >= 2 else None)
        assert p.buffered() == (len(wire) - grid_rows * size if grid_rows >= 2 else 0)
    assert session_reads([changed]) == _fed([changed])


def test_a_read_as_long_as_a_known_grid_of_another_layout_is_probed():
    """16 SETs of 16-byte keys and 3-byte values and 16 GETs of 25-byte keys are reads of
    720 bytes each: the GETs, tried first as the SETs' grid, are found for what they are,
    and the SETs after them too. A bytearray of that size is not taken (``take`` is)."""
    sets = resp.encode_command("SET", "key:000000000001", "xxx") * 16
    gets = resp.encode_command("GET", "k" * 25) * 16
    assert len(sets) == len(gets) == 720
    p = RequestParser()
    set_grid = (b"SET", [(b"key:000000000001",) * 16, (b"xxx",) * 16])
    assert p.take_grid(sets) == set_grid
    assert p.take_grid(gets) == (b"GET", [(b"k" * 25,) * 16])
    assert p.take_grid(sets) == set_grid
    assert p.take_grid(bytearray(sets)) is None and p.buffered() == 0
