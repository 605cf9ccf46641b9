"""Stream commands: XADD, XRANGE, XREAD (blocking), XDEL, XTRIM, XSETID, consumer groups
(XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM) and XINFO.

The data structure is ``servers/cache/stream.py``; this file parses each
command's arguments with Redis's (t_stream.c) wording, applies it and encodes
the reply. Memory is accounted by the delta of ``Stream.memory()`` around each
write. Blocking XREAD / XREADGROUP park the client with a ``serve`` function
(``blocking.Parked``): the XADD that makes data available, or the deletion of
the stream under a blocked XREADGROUP, answers the waiters in the order they
blocked. Inside MULTI a BLOCK turns into an immediate null reply; inside a
script BLOCK is refused, as Redis does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from netlib import resp

from .. import keyspace
from ..blocking import Parked
from ..keyspace import Database, WrongType
from ..stream import (
    ID,
    INVALID_ENTRIES_READ,
    MAX_ID,
    NODE_MAX_BYTES,
    NODE_MAX_ENTRIES,
    U64,
    ZERO,
    Fields,
    Group,
    Nack,
    Stream,
    decr_id,
    format_id,
    incr_id,
    parse_id,
)
from ..table import INT64_MAX, NO_SUCH_KEY, SYNTAX, CommandError, command, container, to_int
from . import server as server_commands

G = "stream"
keyspace.TYPE_NAMES[Stream] = b"stream"
keyspace.ELEMENT_SIZES[Stream] = Stream.memory
keyspace.ENCODINGS[Stream] = lambda s: b"stream"  # Redis: always a rax of listpacks

INVALID_ID = b"-ERR Invalid stream ID specified as stream command argument\r\n"
XREAD_BLOCKED_DEFAULT_COUNT = 1000  # a blocked XREAD without COUNT gets at most this many


# --- configuration: stream-node-max-entries / -bytes --------------------------------


def node_limits(st: Any) -> tuple[int, int]:
    return getattr(st, "stream_node_limits", (NODE_MAX_ENTRIES, NODE_MAX_BYTES))


def _set_limit(index: int) -> Callable[[Any, str], None]:
    def setter(st: Any, v: str) -> None:
        n = int(v)
        if not 0 <= n <= INT64_MAX:
            raise ValueError(v)
        limits = list(node_limits(st))
        limits[index] = n
        st.stream_node_limits = tuple(limits)

    return setter


server_commands.GETTERS["stream-node-max-entries"] = lambda st: str(node_limits(st)[0])
server_commands.GETTERS["stream-node-max-bytes"] = lambda st: str(node_limits(st)[1])
server_commands.SETTERS["stream-node-max-entries"] = _set_limit(0)
server_commands.SETTERS["stream-node-max-bytes"] = _set_limit(1)


# --- helpers ---------------------------------------------------------------------


def _stream(c: Any, key: bytes) -> Stream | None:
    return c.db.get_typed(key, Stream)


def _stream_for_write(c: Any, key: bytes) -> Stream | None:
    """The write lookup (no hit/miss counted): XADD, XTRIM, XDEL, XSETID, XGROUP."""
    return c.db.get_typed_for_write(key, Stream)


def _id(b: bytes, missing_seq: int = 0, strict: bool = False) -> ID:
    parsed = parse_id(b, missing_seq, strict)
    if parsed is None:
        raise CommandError(INVALID_ID)
    return parsed[0]


def _interval(b: bytes, missing_seq: int) -> tuple[ID, bool]:
    """A range bound: ``(id`` is exclusive (and may not be ``-``/``+``)."""
    if len(b) > 1 and b[:1] == b"(":
        return _id(b[1:], missing_seq, strict=True), True
    return _id(b, missing_seq), False


def _range_bounds(start_arg: bytes, end_arg: bytes) -> tuple[ID, ID]:
    start, ex = _interval(start_arg, 0)
    if ex:
        nxt = incr_id(start)
        if nxt is None:
            raise CommandError("invalid start ID for the interval")
        start = nxt
    end, ex = _interval(end_arg, U64)
    if ex:
        prev = decr_id(end)
        if prev is None:
            raise CommandError("invalid end ID for the interval")
        end = prev
    return start, end


def _count(b: bytes) -> int:
    return max(to_int(b), 0)


def _bid(i: ID) -> bytes:
    s = b"%d-%d" % i
    return b"$%d\r\n%s\r\n" % (len(s), s)


def _entry(i: ID, fields: Fields | None, proto: int = 2) -> bytes:
    """``[id, [field, value, ...]]`` (a null array for an entry deleted since delivery)."""
    if fields is None:
        return b"*2\r\n" + _bid(i) + resp.null_array(proto)
    return b"*2\r\n" + _bid(i) + resp.bulks(fields)


def _entries(items: Iterable[tuple[ID, Fields]]) -> bytes:
    parts = [_entry(i, f) for i, f in items]
    return b"*%d\r\n" % len(parts) + b"".join(parts)


def _entry_value(i: ID, fields: Fields) -> list[Any]:
    return [format_id(i), list(fields)]


def _changed(c: Any, key: bytes, s: Stream, before: int, changes: int = 1) -> None:
    """Account the memory delta (and mark WATCHers) after a write to ``s``; ``changes``
    is what Redis counts (XDEL, XTRIM, XACK: the entries; XCLAIM: each claimed, and a
    consumer created)."""
    c.db.grow(key, s.memory() - before, changes)


def _signal(c: Any, key: bytes) -> None:
    blocking = c.state.blocking
    if blocking.waiters:
        blocking.signal(c.db.index, key)


def _nogroup(key: bytes, group: bytes) -> CommandError:
    return CommandError(b"-NOGROUP No such key '%s' or consumer group '%s'\r\n" % (key, group))


def _group(c: Any, key: bytes, name: bytes) -> tuple[Stream, Group]:
    s = _stream(c, key)
    g = s.groups.get(name) if s is not None else None
    if s is None or g is None:
        raise _nogroup(key, name)
    return s, g


# --- XADD / XTRIM -----------------------------------------------------------------


class TrimArgs:
    __slots__ = ("maxlen", "minid", "approx", "limit", "nomkstream", "id", "seq_given", "idpos")

    def __init__(self) -> None:
        self.maxlen: int | None = None
        self.minid: ID | None = None
        self.approx = False
        self.limit = 0
        self.nomkstream = False
        self.id: ID | None = None  # None: '*'
        self.seq_given = True
        self.idpos = 0


def _trim_args(c: Any, a: list[bytes], xadd: bool) -> TrimArgs:
    """streamParseAddOrTrimArgsOrReply: options, then (XADD) the id."""
    t = TrimArgs()
    i, n = 2, len(a)
    limit_given = False
    strategy = False
    while i < n:
        more = n - 1 - i
        opt = a[i]
        lo = opt.lower()
        if xadd and opt == b"*":
            break
        if lo in (b"maxlen", b"minid") and more:
            if strategy:
                raise CommandError(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible"
                )
            t.approx = False
            nxt = a[i + 1]
            if more >= 2 and nxt in (b"~", b"="):
                t.approx = nxt == b"~"
                i += 1
            if lo == b"maxlen":
                t.maxlen = to_int(a[i + 1])
                if t.maxlen < 0:
                    raise CommandError("The MAXLEN argument must be >= 0.")
            else:
                t.minid = _id(a[i + 1], 0, strict=True)
            strategy = True
            i += 2
            continue
        if lo == b"limit" and more:
            t.limit = to_int(a[i + 1])
            if t.limit < 0:
                raise CommandError("The LIMIT argument must be >= 0.")
            limit_given = True
            i += 2
            continue
        if xadd and lo == b"nomkstream":
            t.nomkstream = True
            i += 1
            continue
        if xadd:
            parsed = parse_id(opt, 0, strict=True, star_seq=True)
            if parsed is None:
                raise CommandError(INVALID_ID)
            t.id, t.seq_given = parsed
            break
        raise CommandError(SYNTAX)
    t.idpos = i
    if t.limit and not strategy:
        raise CommandError(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy"
        )
    if not xadd and not strategy:
        raise CommandError("syntax error, XTRIM must be called with a trimming strategy")
    if limit_given:
        if not t.approx:
            raise CommandError("syntax error, LIMIT cannot be used without the special ~ option")
    elif t.approx:
        t.limit = 100 * node_limits(c.state)[0]  # at most 100 nodes of work
        if t.limit <= 0:
            t.limit = 10000
        t.limit = min(t.limit, 1000000)
    else:
        t.limit = 0  # exact trimming is never limited
    return t


PLAIN = TrimArgs()  # XADD key * ...: no option, an automatic id
PLAIN.idpos = 2
PLAIN.id = None

# XADD's options as parsed, by their words: a capped stream's producers send the same
# "MAXLEN ~ 100000 *" with every entry, and parsing it was a third of XADD's time.
# Only the three-word forms before a "*" id are kept (``_xadd_args``): what they parse
# to depends on those words and the node limits alone. Parsed once, never changed.
_PARSED: dict[tuple[bytes, bytes, bytes, tuple[int, int]], TrimArgs] = {}
PARSED_MAX = 256  # distinct option lines remembered (then forgotten all at once)
PARSED_WORD_MAX = 64  # bytes of the three words together: long ones are parsed each time


def _xadd_args(c: Any, a: list[bytes], limits: tuple[int, int]) -> TrimArgs:
    """``_trim_args(c, a, True)``, remembered for ``key W1 W2 W3 * ...`` (``_PARSED``)."""
    if a[2] == b"*":
        return PLAIN  # no options to parse
    if len(a) < 6 or a[5] != b"*" or len(a[2]) + len(a[3]) + len(a[4]) > PARSED_WORD_MAX:
        return _trim_args(c, a, True)
    k = (a[2], a[3], a[4], limits)
    t = _PARSED.get(k)
    if t is None:
        t = _trim_args(c, a, True)  # (an error is raised again each time)
        if t.idpos == 5:  # the words were all options: the same words parse the same
            if len(_PARSED) >= PARSED_MAX:
                _PARSED.clear()
            _PARSED[k] = t
    return t


def _trim(s: Stream, t: TrimArgs) -> int:
    if t.maxlen is None and t.minid is None:
        return 0
    return s.trim(t.maxlen, t.minid, t.approx, t.limit)


@command("XADD", -5, "write denyoom fast", (1, 1, 1), G, "Append an entry to a stream",
         syntax="key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]")  # fmt: skip
def xadd(c: Any, a: list[bytes]) -> bytes:
    limits = node_limits(c.state)
    t = _xadd_args(c, a, limits)
    nfields = len(a) - t.idpos - 1
    if nfields < 2 or nfields & 1:
        return b"-ERR wrong number of arguments for 'xadd' command\r\n"
    if t.id == ZERO and t.seq_given:
        return b"-ERR The ID specified in XADD must be greater than 0-0\r\n"
    db, key = c.db, a[1]
    s = db.get_for_write(key)
    if s is None:
        if t.nomkstream:
            return resp.null(c.proto)
        s = Stream()
        db.put_new(key, s)
    elif type(s) is not Stream:
        raise WrongType()
    if s.last_id == MAX_ID:
        return b"-ERR The stream has exhausted the last possible ID, unable to add more items\r\n"
    new = s.next_id(db.ks.clock()) if t.id is None else s.id_for(t.id, t.seq_given)
    if new is None:
        return (
            b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"
        )
    before = s.mem  # (appending and trimming change the entries' part of memory() only)
    s.append(new, tuple(a[t.idpos + 1 :]), *limits)
    if t.maxlen is not None or t.minid is not None:
        s.trim(t.maxlen, t.minid, t.approx, t.limit)
    db.grow(key, s.mem - before)
    blocking = c.state.blocking
    if blocking.waiters:
        blocking.signal(db.index, key)
    sid = b"%d-%d" % new
    return b"$%d\r\n%s\r\n" % (len(sid), sid)


@command("XTRIM", -4, "write", (1, 1, 1), G, "Trim a stream from its oldest entries",
         syntax="key MAXLEN|MINID [=|~] threshold [LIMIT count]")  # fmt: skip
def xtrim(c: Any, a: list[bytes]) -> bytes:
    t = _trim_args(c, a, False)
    if t.idpos != len(a):
        raise CommandError(SYNTAX)
    s = _stream_for_write(c, a[1])
    if s is None:
        return resp.ZERO
    before = s.memory()
    n = _trim(s, t)
    if n:
        _changed(c, a[1], s, before, n)
    return resp.integer(n)


@command("XLEN", 2, "readonly fast", (1, 1, 1), G, "The number of entries in a stream",
         syntax="key")  # fmt: skip
def xlen(c: Any, a: list[bytes]) -> bytes:
    s = _stream(c, a[1])
    return resp.integer(len(s) if s is not None else 0)


def _xrange(c: Any, a: list[bytes], rev: bool) -> bytes:
    start, end = _range_bounds(a[3], a[2]) if rev else _range_bounds(a[2], a[3])
    count = -1
    j = 4
    while j < len(a):
        if a[j].lower() == b"count" and j + 1 < len(a):
            count = _count(a[j + 1])
            j += 2
        else:
            raise CommandError(SYNTAX)
    s = _stream(c, a[1])
    if s is None:
        return resp.EMPTY_ARRAY
    if count == 0:
        return resp.null_array(c.proto)
    out = []
    for item in s.range(start, end, rev):
        out.append(item)
        if len(out) == count:
            break
    return _entries(out)


@command("XRANGE", -4, "readonly", (1, 1, 1), G, "Entries in an id range",
         syntax="key start end [COUNT count]")  # fmt: skip
def xrange(c: Any, a: list[bytes]) -> bytes:
    return _xrange(c, a, False)


@command("XREVRANGE", -4, "readonly", (1, 1, 1), G, "Entries in an id range, newest first",
         syntax="key end start [COUNT count]")  # fmt: skip
def xrevrange(c: Any, a: list[bytes]) -> bytes:
    return _xrange(c, a, True)


@command("XDEL", -3, "write fast", (1, 1, 1), G, "Delete entries by id", syntax="key id [id ...]")
def xdel(c: Any, a: list[bytes]) -> bytes:
    s = _stream_for_write(c, a[1])
    if s is None:
        return resp.ZERO
    ids = [_id(b, strict=True) for b in a[2:]]
    before = s.memory()
    n = sum(1 for i in ids if s.delete(i))
    if n:
        _changed(c, a[1], s, before, n)
    return resp.integer(n)


@command("XSETID", -3, "write denyoom fast", (1, 1, 1), G, "Set a stream's last id",
         syntax="key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]")  # fmt: skip
def xsetid(c: Any, a: list[bytes]) -> bytes:
    new = _id(a[2], strict=True)
    entries_added, max_deleted = -1, ZERO
    i = 3
    while i < len(a):
        more = len(a) - 1 - i
        opt = a[i].lower()
        if opt == b"entriesadded" and more:
            entries_added = to_int(a[i + 1])
            if entries_added < 0:
                raise CommandError("entries_added must be positive")
        elif opt == b"maxdeletedid" and more:
            max_deleted = _id(a[i + 1], strict=True)
            if new < max_deleted:
                raise CommandError(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
                )
        else:
            raise CommandError(SYNTAX)
        i += 2
    s = _stream_for_write(c, a[1])
    if s is None:
        return NO_SUCH_KEY
    if len(s):
        if new < s.last_valid_id():
            raise CommandError(
                "The ID specified in XSETID is smaller than the target stream top item"
            )
        if entries_added != -1 and len(s) > entries_added:
            raise CommandError(
                "The entries_added specified in XSETID is smaller than the target stream length"
            )
    s.last_id = new
    if entries_added != -1:
        s.entries_added = entries_added
    if max_deleted != ZERO:
        s.max_deleted = max_deleted
    c.db.grow(a[1], 0)
    return resp.OK


# --- XREAD / XREADGROUP --------------------------------------------------------------


class ReadRequest:
    """A parsed XREAD/XREADGROUP: what a blocked client still wants when data arrives."""

    __slots__ = ("keys", "ids", "count", "group", "consumer", "noack")

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.ids: list[ID | None] = []  # None: '>' (new entries of the group)
        self.count = 0
        self.group: bytes | None = None
        self.consumer = b""
        self.noack = False


def _group_read(
    s: Stream, g: Group, consumer: bytes, start: ID, count: int, noack: bool, now: int
) -> list[tuple[ID, Fields]]:
    """Serve new entries from ``start`` to a consumer: the group's last id moves, NACKs are added."""
    cons = g.consumer(consumer, now)
    assert cons is not None
    out = []
    for i, fields in s.range(start, MAX_ID):
        s.delivered(g, i)
        if not noack:
            s.deliver(g, cons, i, now)
        out.append((i, fields))
        if count and len(out) == count:
            break
    return out


def _history(
    s: Stream, g: Group, consumer: bytes, start: ID, count: int, now: int
) -> list[tuple[ID, Fields | None]]:
    """A consumer's own pending entries from ``start`` (deleted ones with null fields)."""
    cons = g.consumer(consumer, now)
    assert cons is not None
    out: list[tuple[ID, Fields | None]] = []
    for i, nack in cons.pel.from_(start):
        if count and len(out) >= count:
            break
        fields = s.get(i)
        if fields is not None:
            nack.delivery_time = now
            nack.delivery_count += 1
        out.append((i, fields))
    return out


def _read_reply(c: Any, parts: list[tuple[bytes, bytes]]) -> bytes:
    """[[key, entries], ...] in RESP2; a map key -> entries in RESP3."""
    if c.proto == 3:
        return b"%%%d\r\n" % len(parts) + b"".join(resp.bulk(k) + e for k, e in parts)
    return b"*%d\r\n" % len(parts) + b"".join(b"*2\r\n" + resp.bulk(k) + e for k, e in parts)


def _encode_history(c: Any, items: list[tuple[ID, Fields | None]]) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(_entry(i, f, c.proto) for i, f in items)


def _parse_read(c: Any, a: list[bytes], xreadgroup: bool) -> tuple[ReadRequest, int | None]:
    r = ReadRequest()
    timeout: int | None = None
    streams_at = 0
    i, n = 1, len(a)
    while i < n:
        more = n - 1 - i
        o = a[i].lower()
        if o == b"block" and more:
            if c.in_script:
                raise CommandError(
                    b"-ERR %s command is not allowed with BLOCK option from scripts\r\n" % a[0]
                )
            timeout = to_int(a[i + 1], b"-ERR timeout is not an integer or out of range\r\n")
            if timeout < 0:
                raise CommandError("timeout is negative")
            i += 2
        elif o == b"count" and more:
            r.count = _count(a[i + 1])
            i += 2
        elif o == b"streams" and more:
            streams_at = i + 1
            if (n - streams_at) % 2:
                raise CommandError(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
                    "specified."
                )
            break
        elif o == b"group" and more >= 2:
            if not xreadgroup:
                raise CommandError(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead."
                )
            r.group, r.consumer = a[i + 1], a[i + 2]
            i += 3
        elif o == b"noack":
            if not xreadgroup:
                raise CommandError(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead."
                )
            r.noack = True
            i += 1
        else:
            raise CommandError(SYNTAX)
    if not streams_at:
        raise CommandError(SYNTAX)
    if xreadgroup and r.group is None:
        raise CommandError("Missing GROUP option for XREADGROUP")
    half = (n - streams_at) // 2
    r.keys = a[streams_at : streams_at + half]
    for key, arg in zip(r.keys, a[streams_at + half :], strict=True):
        s = _stream(c, key)
        if r.group is not None and (s is None or r.group not in s.groups):
            raise CommandError(
                b"-NOGROUP No such key '%s' or consumer group '%s' in XREADGROUP with GROUP "
                b"option\r\n" % (key, r.group)
            )
        if arg == b"$":
            if xreadgroup:
                raise CommandError(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the "
                    "history of this consumer by specifying a proper ID, or use the > ID to get "
                    "new messages. The $ ID would just return an empty result set."
                )
            r.ids.append(s.last_id if s is not None else ZERO)
        elif arg == b">":
            if not xreadgroup:
                raise CommandError(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP "
                    "<group> <consumer> option."
                )
            r.ids.append(None)
        else:
            r.ids.append(_id(arg, strict=True))
    return r, timeout


def _xread(c: Any, a: list[bytes], xreadgroup: bool) -> bytes | None:
    r, timeout = _parse_read(c, a, xreadgroup)
    now = c.db.ks.clock()
    parts: list[tuple[bytes, bytes]] = []
    for key, gt in zip(r.keys, r.ids, strict=True):
        s = _stream(c, key)
        if s is None:
            continue
        if r.group is not None:
            g = s.groups[r.group]
            before = s.memory()
            created = r.consumer not in g.consumers
            if gt is not None:  # the consumer's history: always answered at once
                start = incr_id(gt) or MAX_ID
                body = _encode_history(c, _history(s, g, r.consumer, start, r.count, now))
            elif len(s) and s.last_valid_id() > g.last_id:
                start = incr_id(g.last_id) or MAX_ID
                got = _group_read(s, g, r.consumer, start, r.count, r.noack, now)
                body = _entries(got)
            else:
                continue
            _changed(c, key, s, before, 1 + created)  # Redis: a consumer created counts one
            parts.append((key, body))
        elif gt is not None and len(s) and s.last_valid_id() > gt:
            start = incr_id(gt) or MAX_ID
            out = []
            for item in s.range(start, MAX_ID):
                out.append(item)
                if len(out) == r.count:
                    break
            parts.append((key, _entries(out)))
    if parts:
        return _read_reply(c, parts)
    if timeout is None or c.in_exec:
        return resp.null_array(c.proto)  # inside MULTI blocking means not waiting at all
    _block(c, r, timeout)
    return None


def _block(c: Any, r: ReadRequest, timeout_ms: int) -> None:
    if not r.count:
        r.count = XREAD_BLOCKED_DEFAULT_COUNT
    wanted: dict[bytes, ID | None] = {}
    for key, gt in zip(r.keys, r.ids, strict=True):
        wanted.setdefault(key, gt)  # a key named twice keeps its first id, as in Redis

    def serve(db: Database, key: bytes) -> bytes | None:
        return _serve_blocked(c, db, key, r, wanted)

    parked = Parked(c.db.index, list(wanted), False, serve=serve)
    if timeout_ms > 0:
        parked.timer = asyncio.get_running_loop().call_later(timeout_ms / 1000, c._timed_out)
    c.state.blocking.park(c, parked)


def _serve_blocked(
    c: Any, db: Database, key: bytes, r: ReadRequest, wanted: dict[bytes, ID | None]
) -> bytes | None:
    """A blocked read offered ``key``: its reply if there is news for it, else None."""
    s = db.peek(key)
    if type(s) is not Stream:
        if r.group is not None:
            return b"-UNBLOCKED the stream key no longer exists\r\n"
        return None
    g = None
    if r.group is not None:
        g = s.groups.get(r.group)
        if g is None:
            return b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
        gt = g.last_id
    else:
        gt = wanted[key] or ZERO
    if not s.last_id > gt:
        return None
    start = incr_id(gt) or MAX_ID
    if g is not None:
        before = s.memory()
        got = _group_read(s, g, r.consumer, start, r.count, r.noack, db.ks.clock())
        db.grow(key, s.memory() - before)
    else:
        got = []
        for item in s.range(start, MAX_ID):
            got.append(item)
            if len(got) == r.count:
                break
    return _read_reply(c, [(key, _entries(got))])


@command("XREAD", -4, "readonly blocking", (0, 0, 0), G, "Read from streams, or block",
         syntax="[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]")  # fmt: skip
def xread(c: Any, a: list[bytes]) -> bytes | None:
    return _xread(c, a, False)


@command("XREADGROUP", -7, "write blocking", (0, 0, 0), G, "Read as a consumer group member",
         syntax="GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]")  # fmt: skip
def xreadgroup(c: Any, a: list[bytes]) -> bytes | None:
    return _xread(c, a, True)


# --- XGROUP ------------------------------------------------------------------------

XGROUP = container("XGROUP", G, "A container for consumer groups commands")
NEEDS_KEY = (
    "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use "
    "the MKSTREAM option to create an empty stream automatically."
)


def _subcommand_syntax(a: list[bytes]) -> CommandError:
    return CommandError(
        b"-ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP.\r\n"
        % (a[1], a[0].upper())
    )


def _xgroup_options(a: list[bytes], create: bool) -> tuple[bool, int]:
    mkstream, entries_read = False, INVALID_ENTRIES_READ
    i = 5
    while i < len(a):
        o = a[i].lower()
        if create and o == b"mkstream":
            mkstream = True
            i += 1
        elif o == b"entriesread" and i + 1 < len(a):
            entries_read = to_int(a[i + 1])
            if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
                raise CommandError("value for ENTRIESREAD must be positive or -1")
            i += 2
        else:
            raise _subcommand_syntax(a)
    return mkstream, entries_read


def _xgroup_lookup(c: Any, a: list[bytes], need_group: bool) -> tuple[Stream, Group | None]:
    s = _stream_for_write(c, a[2])
    if s is None:
        raise CommandError(NEEDS_KEY)
    g = s.groups.get(a[3])
    if g is None and need_group:
        raise CommandError(
            b"-NOGROUP No such consumer group '%s' for key name '%s'\r\n" % (a[3], a[2])
        )
    return s, g


@command("CREATE", -5, "write denyoom", (2, 2, 1), G, "Create a consumer group", XGROUP,
         syntax="key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]")  # fmt: skip
def xgroup_create(c: Any, a: list[bytes]) -> bytes:
    mkstream, entries_read = _xgroup_options(a, True)
    if len(a) > 8:
        raise _subcommand_syntax(a)
    s = _stream_for_write(c, a[2])
    if s is None and not mkstream:
        raise CommandError(NEEDS_KEY)
    if a[4] == b"$":
        last = s.last_id if s is not None else ZERO
    else:
        last = _id(a[4], strict=True)
    if s is None:
        s = Stream()
        c.db.put_new(a[2], s)
    if a[3] in s.groups:
        return b"-BUSYGROUP Consumer Group name already exists\r\n"
    before = s.memory()
    s.groups[a[3]] = Group(a[3], last, entries_read)
    _changed(c, a[2], s, before)
    return resp.OK


@command("SETID", -5, "write", (2, 2, 1), G, "Set a consumer group's last delivered id", XGROUP,
         syntax="key group id|$ [ENTRIESREAD entries-read]")  # fmt: skip
def xgroup_setid(c: Any, a: list[bytes]) -> bytes:
    _, entries_read = _xgroup_options(a, False)
    if len(a) not in (5, 7):
        raise _subcommand_syntax(a)
    s, g = _xgroup_lookup(c, a, True)
    assert g is not None
    g.last_id = s.last_id if a[4] == b"$" else _id(a[4])
    g.entries_read = entries_read
    c.db.grow(a[2], 0)
    return resp.OK


@command("DESTROY", 4, "write", (2, 2, 1), G, "Destroy a consumer group", XGROUP,
         syntax="key group")  # fmt: skip
def xgroup_destroy(c: Any, a: list[bytes]) -> bytes:
    s, g = _xgroup_lookup(c, a, False)
    if g is None:
        return resp.ZERO
    before = s.memory()
    del s.groups[a[3]]
    _changed(c, a[2], s, before)
    _signal(c, a[2])  # its blocked readers get -NOGROUP
    return resp.ONE


@command("CREATECONSUMER", 5, "write denyoom", (2, 2, 1), G, "Create a consumer in a group",
         XGROUP, syntax="key group consumer")  # fmt: skip
def xgroup_createconsumer(c: Any, a: list[bytes]) -> bytes:
    s, g = _xgroup_lookup(c, a, True)
    assert g is not None
    if a[4] in g.consumers:
        return resp.ZERO
    before = s.memory()
    g.consumer(a[4], c.db.ks.clock())
    _changed(c, a[2], s, before)
    return resp.ONE


@command("DELCONSUMER", 5, "write", (2, 2, 1), G, "Delete a consumer and its pending entries",
         XGROUP, syntax="key group consumer")  # fmt: skip
def xgroup_delconsumer(c: Any, a: list[bytes]) -> bytes:
    s, g = _xgroup_lookup(c, a, True)
    assert g is not None
    cons = g.consumers.get(a[4])
    if cons is None:
        return resp.ZERO
    before = s.memory()
    pending = len(cons.pel)
    for i in list(cons.pel.ids):
        g.pel.remove(i)
    del g.consumers[a[4]]
    _changed(c, a[2], s, before)
    return resp.integer(pending)


# --- XACK / XPENDING / XCLAIM / XAUTOCLAIM ---------------------------------------------


@command("XACK", -4, "write fast", (1, 1, 1), G, "Acknowledge pending entries",
         syntax="key group id [id ...]")  # fmt: skip
def xack(c: Any, a: list[bytes]) -> bytes:
    s = _stream(c, a[1])
    g = s.groups.get(a[2]) if s is not None else None
    if s is None or g is None:
        return resp.ZERO
    ids = [_id(b, strict=True) for b in a[3:]]
    before = s.memory()
    n = sum(1 for i in ids if g.ack(i))
    if n:
        _changed(c, a[1], s, before, n)
    return resp.integer(n)


@command("XPENDING", -3, "readonly", (1, 1, 1), G, "Inspect a group's pending entries",
         syntax="key group [[IDLE min-idle-time] start end count [consumer]]")  # fmt: skip
def xpending(c: Any, a: list[bytes]) -> bytes:
    n = len(a)
    if n != 3 and not 6 <= n <= 9:
        raise CommandError(SYNTAX)
    consumer: bytes | None = None
    minidle = 0
    if n >= 6:
        at = 3
        if a[3].lower() == b"idle":
            minidle = to_int(a[4])
            if n < 8:
                raise CommandError(SYNTAX)
            at = 5
        count = _count(a[at + 2])
        start, end = _range_bounds(a[at], a[at + 1])
        if at + 3 < n:
            consumer = a[at + 3]
    s, g = _group(c, a[1], a[2])
    if n == 3:
        if not len(g.pel):
            return b"*4\r\n" + resp.ZERO + resp.null(c.proto) * 2 + resp.null_array(c.proto)
        owners = [
            [cons.name, b"%d" % len(cons.pel)] for cons in g.sorted_consumers() if len(cons.pel)
        ]
        return resp.array([len(g.pel), format_id(g.pel.ids[0]), format_id(g.pel.ids[-1]), owners])
    pel = g.pel
    if consumer is not None:
        cons = g.consumers.get(consumer)
        if cons is None:
            return resp.EMPTY_ARRAY
        pel = cons.pel
    now = c.db.ks.clock()
    rows: list[Any] = []
    if count:
        for i, nack in pel.from_(start, end):
            idle = now - nack.delivery_time
            if minidle and idle < minidle:
                continue
            owner = nack.consumer.name if nack.consumer is not None else b""
            rows.append([format_id(i), owner, max(idle, 0), nack.delivery_count])
            if len(rows) == count:
                break
    return resp.array(rows)


def _claim_one(
    s: Stream, g: Group, name: bytes, i: ID, nack: Nack, when: int, now: int,
    retrycount: int, justid: bool,
) -> None:  # fmt: skip
    cons = g.consumer(name, now)
    if nack.consumer is not cons:
        if nack.consumer is not None:
            nack.consumer.pel.remove(i)
    nack.delivery_time = when
    if retrycount >= 0:
        nack.delivery_count = retrycount
    elif not justid:
        nack.delivery_count += 1
    if nack.consumer is not cons:
        assert cons is not None
        cons.pel.add(i, nack)
        nack.consumer = cons


@command("XCLAIM", -6, "write fast", (1, 1, 1), G, "Take over pending entries",
         syntax="key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]")  # fmt: skip
def xclaim(c: Any, a: list[bytes]) -> bytes:
    s, g = _group(c, a[1], a[2])
    minidle = max(to_int(a[4], b"-ERR Invalid min-idle-time argument for XCLAIM\r\n"), 0)
    ids: list[ID] = []
    j = 5
    while j < len(a):
        parsed = parse_id(a[j], 0, strict=True)
        if parsed is None:
            break
        ids.append(parsed[0])
        j += 1
    now = c.db.ks.clock()
    when, retrycount, force, justid, last = -1, -1, False, False, ZERO
    while j < len(a):
        more = len(a) - 1 - j
        o = a[j].lower()
        if o == b"force":
            force = True
        elif o == b"justid":
            justid = True
        elif o == b"idle" and more:
            j += 1
            when = now - to_int(a[j], b"-ERR Invalid IDLE option argument for XCLAIM\r\n")
        elif o == b"time" and more:
            j += 1
            when = to_int(a[j], b"-ERR Invalid TIME option argument for XCLAIM\r\n")
        elif o == b"retrycount" and more:
            j += 1
            retrycount = to_int(a[j], b"-ERR Invalid RETRYCOUNT option argument for XCLAIM\r\n")
        elif o == b"lastid" and more:
            j += 1
            last = _id(a[j], strict=True)
        else:
            raise CommandError(b"-ERR Unrecognized XCLAIM option '%s'\r\n" % a[j])
        j += 1
    before = s.memory()
    changes = int(a[3] not in g.consumers)  # (counted if the consumer is created)
    moved = last > g.last_id  # counted when nothing is claimed (a claim carries it)
    if moved:
        g.last_id = last
    if when == -1 or when < 0 or when > now:
        when = now
    out: list[bytes] = []
    for i in ids:
        nack = g.pel.get(i)
        fields = s.get(i)
        if fields is None:
            if nack is not None:  # deleted meanwhile: it can never be processed
                g.ack(i)
                changes += 1
            continue
        if force and nack is None:
            nack = Nack(None, now)
            g.pel.add(i, nack)
        if nack is None:
            continue
        if nack.consumer is not None and minidle and now - nack.delivery_time < minidle:
            continue
        _claim_one(s, g, a[3], i, nack, when, now, retrycount, justid)
        out.append(_bid(i) if justid else _entry(i, fields))
    if a[3] not in g.consumers:
        changes -= 1  # nothing claimed: no consumer created
    _changed(c, a[1], s, before, changes + (len(out) or moved))
    return b"*%d\r\n" % len(out) + b"".join(out)


@command("XAUTOCLAIM", -6, "write fast", (1, 1, 1), G, "Take over idle pending entries",
         syntax="key group consumer min-idle-time start [COUNT count] [JUSTID]")  # fmt: skip
def xautoclaim(c: Any, a: list[bytes]) -> bytes:
    minidle = max(to_int(a[4], b"-ERR Invalid min-idle-time argument for XAUTOCLAIM\r\n"), 0)
    start, ex = _interval(a[5], 0)
    if ex:
        nxt = incr_id(start)
        if nxt is None:
            raise CommandError("invalid start ID for the interval")
        start = nxt
    count, justid = 100, False
    j = 6
    while j < len(a):
        o = a[j].lower()
        if o == b"count" and j + 1 < len(a):
            count = to_int(a[j + 1], b"-ERR COUNT must be > 0\r\n")
            if not 1 <= count <= INT64_MAX // 10:
                raise CommandError("COUNT must be > 0")
            j += 2
        elif o == b"justid":
            justid = True
            j += 1
        else:
            raise CommandError(SYNTAX)
    s, g = _group(c, a[1], a[2])
    now = c.db.ks.clock()
    before = s.memory()
    absent = a[3] not in g.consumers
    attempts = count * 10
    out: list[bytes] = []
    deleted: list[ID] = []
    end_id = ZERO
    pending = g.pel.from_(start)
    for i, nack in pending:
        if not attempts or not count:
            end_id = i
            break
        attempts -= 1
        fields = s.get(i)
        if fields is None:
            g.ack(i)
            deleted.append(i)
            count -= 1
            continue
        if minidle and now - nack.delivery_time < minidle:
            continue
        _claim_one(s, g, a[3], i, nack, now, now, -1, justid)
        out.append(_bid(i) if justid else _entry(i, fields))
        count -= 1
    created = absent and a[3] in g.consumers  # Redis counts a consumer created, each claim
    _changed(c, a[1], s, before, created + len(out) + len(deleted))  # and each deleted entry
    return (
        b"*3\r\n" + _bid(end_id) + b"*%d\r\n" % len(out) + b"".join(out)
        + resp.bulks([format_id(i) for i in deleted])
    )  # fmt: skip


# --- XINFO ---------------------------------------------------------------------------

XINFO = container("XINFO", G, "A container for stream introspection commands")


def _lag(s: Stream, g: Group) -> int | None:
    return s.lag(g)


def _entries_read(g: Group) -> int | None:
    return None if g.entries_read == INVALID_ENTRIES_READ else g.entries_read


@command("STREAM", -3, "readonly", (2, 2, 1), G, "Information about a stream", XINFO,
         syntax="key [FULL [COUNT count]]")  # fmt: skip
def xinfo_stream(c: Any, a: list[bytes]) -> bytes:
    opts = a[3:]
    full, count = False, 10
    if opts:
        if len(opts) not in (1, 3) or opts[0].lower() != b"full":
            raise _subcommand_syntax(a)
        full = True
        if len(opts) == 3:
            if opts[1].lower() != b"count":
                raise _subcommand_syntax(a)
            count = to_int(opts[2])
            if count < 0:
                count = 10
    s = _stream(c, a[2])
    if s is None:
        return NO_SUCH_KEY
    info: list[tuple[bytes, Any]] = [
        (b"length", len(s)),
        (b"radix-tree-keys", len(s.nodes)),
        (b"radix-tree-nodes", len(s.nodes) + 1),  # a rough count of the tree's inner nodes
        (b"last-generated-id", format_id(s.last_id)),
        (b"max-deleted-entry-id", format_id(s.max_deleted)),
        (b"entries-added", s.entries_added),
        (b"recorded-first-entry-id", format_id(s.first_id)),
    ]
    if not full:
        first = next(s.range(ZERO, MAX_ID), None)
        last = next(s.range(ZERO, MAX_ID, rev=True), None)
        info += [
            (b"groups", len(s.groups)),
            (b"first-entry", _entry_value(*first) if first else None),
            (b"last-entry", _entry_value(*last) if last else None),
        ]
        return resp.map_(info, c.proto)
    entries: list[Any] = []
    for item in s.range(ZERO, MAX_ID):
        if count and len(entries) == count:
            break
        entries.append(_entry_value(*item))
    groups = []
    for name in sorted(s.groups):
        g = s.groups[name]
        pel: list[Any] = []
        for i, nack in g.pel.from_(ZERO):
            if count and len(pel) == count:
                break
            owner = nack.consumer.name if nack.consumer is not None else b""
            pel.append([format_id(i), owner, nack.delivery_time, nack.delivery_count])
        consumers = []
        for cons in g.sorted_consumers():
            cpel: list[Any] = []
            for i, nack in cons.pel.from_(ZERO):
                if count and len(cpel) == count:
                    break
                cpel.append([format_id(i), nack.delivery_time, nack.delivery_count])
            consumers.append({
                b"name": cons.name, b"seen-time": cons.seen_time,
                b"pel-count": len(cons.pel), b"pending": cpel,
            })  # fmt: skip
        groups.append({
            b"name": name, b"last-delivered-id": format_id(g.last_id),
            b"entries-read": _entries_read(g), b"lag": _lag(s, g),
            b"pel-count": len(g.pel), b"pending": pel, b"consumers": consumers,
        })  # fmt: skip
    info += [(b"entries", entries), (b"groups", groups)]
    return resp.map_(info, c.proto)


@command("GROUPS", 3, "readonly", (2, 2, 1), G, "The consumer groups of a stream", XINFO,
         syntax="key")  # fmt: skip
def xinfo_groups(c: Any, a: list[bytes]) -> bytes:
    s = _stream(c, a[2])
    if s is None:
        return NO_SUCH_KEY
    rows = []
    for name in sorted(s.groups):
        g = s.groups[name]
        rows.append({
            b"name": name, b"consumers": len(g.consumers), b"pending": len(g.pel),
            b"last-delivered-id": format_id(g.last_id), b"entries-read": _entries_read(g),
            b"lag": _lag(s, g),
        })  # fmt: skip
    return resp.array(rows, c.proto)


@command("CONSUMERS", 4, "readonly", (2, 2, 1), G, "The consumers of a group", XINFO,
         syntax="key group")  # fmt: skip
def xinfo_consumers(c: Any, a: list[bytes]) -> bytes:
    s = _stream(c, a[2])
    if s is None:
        return NO_SUCH_KEY
    g = s.groups.get(a[3])
    if g is None:
        raise CommandError(
            b"-NOGROUP No such consumer group '%s' for key name '%s'\r\n" % (a[3], a[2])
        )
    now = c.db.ks.clock()
    rows = [
        {b"name": cons.name, b"pending": len(cons.pel), b"idle": max(now - cons.seen_time, 0)}
        for cons in g.sorted_consumers()
    ]
    return resp.array(rows, c.proto)
