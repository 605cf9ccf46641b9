"""clients/resp, blocking flavour, against a real private redis-server.

Covers the handshake (RESP2, RESP3 via HELLO, SELECT), replies as the codec
decodes them, error replies mapped to exceptions, pipelines and transactions,
pub/sub in RESP2 and RESP3, RESP3 pushes set aside while a reply is awaited,
and the connection-level errors: refused, closed by the server, timed out,
garbage on the wire.
"""

from __future__ import annotations

import builtins
import socket
import threading

import pytest

import clients.resp as resp
from clients.resp.errors import ExecAbortError, response_error
from harness.procs import free_port

pytestmark = pytest.mark.exercise("N14")


@pytest.fixture
def conn(redis_addr):
    with resp.connect(redis_addr.host, redis_addr.port, db=1) as c:
        c.execute("FLUSHDB")
        yield c


@pytest.fixture
def conn3(redis_addr):
    with resp.connect(redis_addr.host, redis_addr.port, db=1, protocol=3) as c:
        yield c


def test_replies_come_back_as_the_codec_decodes_them(conn):
    assert conn.execute("SET", "k", "v") == "OK"
    assert isinstance(conn.execute("PING"), str)
    assert conn.execute("GET", "k") == b"v"
    assert conn.execute("GET", "missing") is None
    assert conn.execute("INCRBY", "n", 41) == 41
    assert conn.execute("RPUSH", "l", b"\x00\xff", 1.5) == 2
    assert conn.execute("LRANGE", "l", 0, -1) == [b"\x00\xff", b"1.5"]


def test_resp3_via_hello_gives_maps_sets_and_doubles(conn, conn3):
    conn.execute("HSET", "h", "f", "v")
    conn.execute("SADD", "s", "a", "b")
    conn.execute("ZADD", "z", 2.5, "m")
    assert conn.execute("HGETALL", "h") == [b"f", b"v"]  # RESP2: a flat array
    assert conn3.execute("HGETALL", "h") == {b"f": b"v"}
    assert conn3.execute("SMEMBERS", "s") == {b"a", b"b"}
    assert conn3.execute("ZSCORE", "z", "m") == 2.5
    assert conn3.execute("HELLO")[b"proto"] == 3


def test_select_db_isolates_keys(redis_addr, conn):
    conn.execute("SET", "only-in-1", "x")
    with resp.connect(redis_addr.host, redis_addr.port, db=2) as other:
        assert other.execute("EXISTS", "only-in-1") == 0
        assert other.execute("CLIENT", "INFO").split(b" db=")[1].startswith(b"2 ")


def test_client_name_is_sent_in_the_handshake(redis_addr):
    for protocol in (2, 3):
        with resp.connect(
            redis_addr.host, redis_addr.port, protocol=protocol, client_name="syslab"
        ) as c:
            assert c.execute("CLIENT", "GETNAME") == b"syslab"


def test_error_replies_raise_with_the_server_message_and_keep_the_connection(conn):
    conn.execute("SET", "str", "v")
    with pytest.raises(resp.WrongTypeError) as wt:
        conn.execute("LPUSH", "str", "x")
    assert wt.value.message == "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert wt.value.code == "WRONGTYPE"
    with pytest.raises(resp.ResponseError) as err:
        conn.execute("GET")
    assert str(err.value) == "ERR wrong number of arguments for 'get' command"
    assert type(err.value) is resp.ResponseError
    assert conn.execute("GET", "str") == b"v"  # still usable


@pytest.mark.parametrize(
    "message, cls",
    [
        ("MOVED 3999 127.0.0.1:6381", resp.MovedError),
        ("ASK 3999 127.0.0.1:6381", resp.AskError),
        ("OOM command not allowed when used memory > 'maxmemory'.", resp.errors.OutOfMemoryError),
        ("NOSCRIPT No matching script.", resp.errors.NoScriptError),
        ("CROSSSLOT Keys in request don't hash to the same slot", resp.errors.CrossSlotError),
        ("ERR unknown command 'FOO'", resp.ResponseError),
    ],
)
def test_error_codes_map_to_classes(message, cls):
    exc = response_error(message)
    assert type(exc) is cls and exc.message == message


def test_response_errors_are_the_codecs_reply_error():
    from netlib.resp import ReplyError

    exc = response_error("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert isinstance(exc, ReplyError) and isinstance(exc, resp.RespError)
    assert exc.code == "WRONGTYPE"


def test_redirect_errors_carry_slot_and_address():
    exc = response_error("MOVED 3999 127.0.0.1:6381")
    assert (exc.slot, exc.address) == (3999, ("127.0.0.1", 6381))


def test_pipeline_is_one_write_and_replies_in_order(conn):
    p = conn.pipeline()
    for _ in range(1000):
        p.command("INCR", "counter")
    assert len(p) == 1000
    assert p.execute() == list(range(1, 1001))
    assert len(p) == 0  # the queue is emptied


def test_pipeline_error_raises_or_is_returned_in_place(conn):
    conn.execute("SET", "str", "v")
    p = conn.pipeline().command("INCR", "a").command("LPUSH", "str", "x").command("INCR", "a")
    replies = p.execute(raise_on_error=False)
    assert replies[0] == 1 and replies[2] == 2
    assert isinstance(replies[1], resp.WrongTypeError)
    p.command("INCR", "a").command("LPUSH", "str", "x")
    with pytest.raises(resp.WrongTypeError):
        p.execute()
    assert conn.execute("GET", "a") == b"3"  # the whole batch ran, connection in sync


def test_transaction_wraps_in_multi_exec(conn):
    replies = conn.pipeline(transaction=True).command("SET", "t", 1).command("INCR", "t").execute()
    assert replies == ["OK", 2]
    with pytest.raises(ExecAbortError) as exc:  # a command rejected at queue time aborts EXEC
        conn.pipeline(transaction=True).command("INCR", "t").command("SET", "t").execute()
    assert "wrong number of arguments" in str(exc.value.__cause__)
    assert conn.execute("GET", "t") == b"2"


def test_transaction_after_watched_key_changed_raises_watch_error(redis_addr, conn):
    conn.execute("WATCH", "w")
    with resp.connect(redis_addr.host, redis_addr.port, db=1) as other:
        other.execute("SET", "w", "changed")
    with pytest.raises(resp.WatchError):
        conn.pipeline(transaction=True).command("SET", "w", "mine").execute()
    assert conn.execute("GET", "w") == b"changed"


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_subscribe_then_publish_is_delivered(redis_addr, protocol):
    with resp.connect(redis_addr.host, redis_addr.port, protocol=protocol) as c:
        with c.pubsub() as ps:
            ps.subscribe("news", "sport")
            ps.psubscribe("chat.*")
            assert ps.subscriptions.channels == {b"news", b"sport"}
            assert c.publish("news", "hello") == 1
            assert c.publish("chat.room1", b"\x00bin") == 1
            m1, m2 = ps.get_message(timeout=5), ps.get_message(timeout=5)
            assert (m1.kind, m1.channel, m1.data) == ("message", b"news", b"hello")
            assert (m2.kind, m2.pattern, m2.channel, m2.data) == (
                "pmessage", b"chat.*", b"chat.room1", b"\x00bin",
            )  # fmt: skip
            assert ps.get_message(timeout=0.01) is None  # idle: None, connection kept
            assert ps.get_message() is None  # the default: a poll that does not block
            assert c.publish("news", "after a poll") == 1
            assert ps.get_message(timeout=5).data == b"after a poll"
            ps.unsubscribe("news")
            assert c.publish("news", "gone") == 0
            ps.unsubscribe()
            ps.punsubscribe()
            assert not ps.subscriptions.active
            assert c.publish("sport", "gone") == 0


def test_pubsub_iterator_yields_messages_in_order(redis_addr):
    with resp.connect(redis_addr.host, redis_addr.port) as c, c.pubsub() as ps:
        ps.subscribe("ordered")
        for i in range(20):
            c.publish("ordered", i)
        got = []
        for msg in ps:
            got.append(int(msg.data))
            if len(got) == 20:
                break
        assert got == list(range(20))


def test_resp3_pushes_are_set_aside_while_a_reply_is_awaited(redis_addr, conn3):
    conn3.send([("SUBSCRIBE", "side")])  # in RESP3 the connection stays usable
    assert conn3.execute("PING") == "PONG"
    assert [bytes(x) if isinstance(x, bytes) else x for x in conn3.pushes.popleft()] == [
        b"subscribe", b"side", 1,
    ]  # fmt: skip
    with resp.connect(redis_addr.host, redis_addr.port) as other:
        assert other.publish("side", "pushed") == 1
    assert conn3.execute("ECHO", "after") == b"after"
    assert list(conn3.pushes.popleft()) == [b"message", b"side", b"pushed"]


def test_connection_refused_is_a_connection_error():
    with pytest.raises(resp.ConnectionError) as exc:
        resp.connect("127.0.0.1", free_port())
    assert isinstance(exc.value, builtins.ConnectionError)
    assert isinstance(exc.value, resp.RespError)


def test_server_closing_the_connection_is_a_connection_error(redis_addr, conn):
    my_id = conn.execute("CLIENT", "ID")
    with resp.connect(redis_addr.host, redis_addr.port) as killer:
        assert killer.execute("CLIENT", "KILL", "ID", my_id) == 1
    with pytest.raises(resp.ConnectionError):
        conn.execute("PING")
    assert conn.closed
    with pytest.raises(resp.ConnectionError, match="closed"):
        conn.execute("PING")


def test_timeout_mid_command_closes_the_connection(redis_addr):
    c = resp.connect(redis_addr.host, redis_addr.port, timeout=0.2)
    with pytest.raises(resp.TimeoutError) as exc:
        c.execute("BLPOP", "never-pushed", 30)  # the server would answer in 30 s
    assert isinstance(exc.value, resp.ConnectionError)
    assert isinstance(exc.value, builtins.TimeoutError)
    assert c.closed  # a late reply must not be read as the next command's


def _one_shot_server(reply: bytes) -> tuple[int, threading.Thread]:
    """A listener that answers the first request with ``reply`` and closes."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def run() -> None:
        with srv:
            peer, _ = srv.accept()
            with peer:
                peer.recv(1024)
                peer.sendall(reply)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return port, t


def test_bytes_that_are_not_resp_raise_invalid_reply():
    port, t = _one_shot_server(b"?this is not RESP\r\n")
    c = resp.connect("127.0.0.1", port)
    with pytest.raises(resp.InvalidReply):
        c.execute("PING")
    assert c.closed
    t.join(5)


def test_reply_split_across_many_reads_is_reassembled():
    body = b"x" * 300_000  # more than one recv of READ_SIZE
    port, t = _one_shot_server(b"$%d\r\n%s\r\n" % (len(body), body))
    with resp.connect("127.0.0.1", port) as c:
        assert c.execute("GET", "big") == body
    t.join(5)


def test_the_client_core_is_sans_io():
    """Only sync.py and aio.py touch sockets; the rest is shared, I/O-free code."""
    import ast
    from pathlib import Path

    room = Path(resp.__file__).parent
    for name in ("core.py", "errors.py", "slots.py"):
        tree = ast.parse((room / name).read_text())
        imported = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
        }
        imported |= {
            n.module.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module
        }
        assert not imported & {"socket", "asyncio", "selectors"}, name
