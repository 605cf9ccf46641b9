"""RESP requests, sans-IO: bytes from a client -> commands (multibulk and inline), pipelined.

The server role of the codec (see netlib/resp/__init__.py for the whole picture).
``commands()`` takes every complete command in the buffer: first through a
fast path that splits the buffer on CRLF once and recognises canonical headers
by table lookup, then through the general parser, which resumes a
half-received command where it stopped and produces Redis's error wording.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import ClassVar, Final

from ._types import (
    MAX_BULK_LEN,
    MAX_INLINE_LEN,
    MAX_MULTIBULK_LEN,
    NEED_DATA,
    ProtocolError,
    _NeedData,
)

# --- helpers -------------------------------------------------------------------


def _header_int(s: bytes, what: str) -> int:
    """A strict decimal like Redis's string2ll: optional '-', digits, nothing else, and
    no leading zero ("0" itself is fine; "01", "00" and "-0" are refused, as Redis does)."""
    body = s[1:] if s[:1] == b"-" else s
    if not body.isdigit() or len(body) > 18 or (body[0] == 48 and (len(s) > 1)):
        raise ProtocolError(f"invalid {what}")
    return int(s)


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \t\n\r\x0b\x0c\x00"


def split_inline(line: bytes) -> list[bytes]:
    """Split one inline command line the way Redis's sdssplitargs does.

    Tokens are separated by whitespace; ``"..."`` accepts \\n \\r \\t \\b \\a \\xHH
    and \\<char>; ``'...'`` accepts only \\'. A closing quote must be followed by
    whitespace or the end. Unbalanced quotes raise ProtocolError.
    """
    if b'"' not in line and b"'" not in line:
        return line.split()
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        tok, i = _inline_token(line, i)
        args.append(tok)


def _inline_token(line: bytes, i: int) -> tuple[bytes, int]:
    out = bytearray()
    n = len(line)
    while i < n and line[i] not in _SPACE:
        c = line[i]
        if c == 34:  # "
            i = _double_quoted(line, i + 1, out)
        elif c == 39:  # '
            i = _single_quoted(line, i + 1, out)
        else:
            out.append(c)
            i += 1
    return bytes(out), i


def _close_quote(line: bytes, i: int) -> int:
    if i + 1 < len(line) and line[i + 1] not in _SPACE:
        raise ProtocolError("unbalanced quotes in request")
    return i + 1


def _double_quoted(line: bytes, i: int, out: bytearray) -> int:
    n = len(line)
    while i < n:
        c = line[i]
        if (
            c == 92
            and i + 3 < n
            and line[i + 1] == 120
            and line[i + 2] in _HEX
            and line[i + 3] in _HEX
        ):
            out.append(int(line[i + 2 : i + 4], 16))  # \xHH
            i += 4
        elif c == 92 and i + 1 < n:
            out.append(_ESCAPES.get(line[i + 1], line[i + 1]))
            i += 2
        elif c == 34:
            return _close_quote(line, i)
        else:
            out.append(c)
            i += 1
    raise ProtocolError("unbalanced quotes in request")


def _single_quoted(line: bytes, i: int, out: bytearray) -> int:
    n = len(line)
    while i < n:
        c = line[i]
        if c == 92 and i + 1 < n and line[i + 1] == 39:
            out.append(39)
            i += 2
        elif c == 39:
            return _close_quote(line, i)
        else:
            out.append(c)
            i += 1
    raise ProtocolError("unbalanced quotes in request")


# --- server role: requests -----------------------------------------------------

# The split fast path recognises canonical headers by table lookup: "*1".."*1023"
# and "$0".."$1023" (bigger commands and values take the general parser, where
# the per-token cost is small next to the bytes).
SPLIT_MAX = 1024
_SPLIT_COUNTS: Final = {b"*%d" % n: n for n in range(1, SPLIT_MAX)}
_SPLIT_HEADERS: Final = {n: b"$%d" % n for n in range(SPLIT_MAX)}  # length -> its header
_SPLIT_LENGTHS: Final = {h: n for n, h in _SPLIT_HEADERS.items()}  # header -> its length


# ``take``'s way in: a read starting "*1".."*9" (every command of an unpipelined client
# but an MSET of many keys) has its first command split off on its own.
_FIRST_COUNTS: Final = {b"*%d\r\n" % n: n for n in range(1, 10)}


def _canonical(parts: list[bytes], count: int) -> list[bytes] | None:
    """The arguments of one command of ``count`` words from ``parts`` (its header, then
    a bulk header and a value per word, then what follows), or None if it is incomplete
    or not plainly well-formed (``_parse_split``'s rule: every header is the one
    ``encode_command`` writes for its value; a value holding CRLF fails it)."""
    if len(parts) != 2 * count + 2:
        return None  # incomplete
    headers = _SPLIT_HEADERS
    if count == 3:  # (spelled out for 3 and 2 words: cheaper than making lists)
        if (
            parts[1] != headers.get(len(parts[2]))
            or parts[3] != headers.get(len(parts[4]))
            or parts[5] != headers.get(len(parts[6]))
        ):
            return None
        return [parts[2], parts[4], parts[6]]
    if count == 2:
        if parts[1] != headers.get(len(parts[2])) or parts[3] != headers.get(len(parts[4])):
            return None
        return [parts[2], parts[4]]
    args = parts[2:-1:2]
    if parts[1:-1:2] != list(map(headers.get, map(len, args))):
        return None
    return args


class RequestParser:
    """Bytes from a client -> commands (each a ``list[bytes]``), pipelining included.

    Call ``feed(data)`` with what arrived, then ``commands()`` for every complete
    command buffered (or ``next_command()`` for one). When a protocol error
    follows complete commands, those are returned first and the error is raised
    by the next call (``failed`` tells whether one is pending), so the server
    answers what came before the garbage, as Redis does.
    """

    __slots__ = ("_buf", "_chunks", "_have", "_need", "_args", "_remaining", "_ready", "error")
    max_count: ClassVar[int] = MAX_MULTIBULK_LEN  # elements in one multibulk command
    max_bulk: ClassVar[int] = MAX_BULK_LEN  # bytes in one bulk string

    def __init__(self) -> None:
        self._buf = b""  # starts at the first unconsumed byte
        self._chunks: list[bytes] = []  # arrived but not yet joined into _buf
        self._have = 0  # len(_buf) + bytes in _chunks
        self._need = 0  # total buffered bytes before parsing can progress
        self._args: list[bytes] | None = None  # the half-received multibulk command
        self._remaining = 0  # bulks it still misses
        self._ready: list[list[bytes]] = []  # parsed, not yet taken (next_command)
        self.error: ProtocolError | None = None  # pending: raised by the next call

    @property
    def failed(self) -> bool:
        """True when a protocol error is waiting to be raised by the next call."""
        return self.error is not None

    def feed(self, data: bytes) -> None:
        if not data or self.error is not None and not isinstance(self.error, Unauthenticated):
            return
        if not self._have:
            self._buf = bytes(data)
        else:
            self._chunks.append(bytes(data))
        self._have += len(data)

    def buffered(self) -> int:
        """Bytes received but not yet part of a returned command."""
        return self._have

    def next_command(self) -> list[bytes] | _NeedData:
        if not self._ready:
            self._ready = self.commands()
            self._ready.reverse()
            if not self._ready:
                return NEED_DATA
        return self._ready.pop()

    def take(self, data: bytes) -> list[list[bytes]]:
        """``feed(data)`` then ``commands()``, in one call: the server's hot path, where
        a read usually starts with a whole command and nothing is buffered."""
        if self._have or self._args is not None or self._ready or self.error is not None:
            self.feed(data)
            return self.commands()
        if type(data) is not bytes:
            self.feed(data)
            return self._parse_all()
        count = _FIRST_COUNTS.get(data[:4])
        if count is not None:  # the first command has 1 to 9 words: split off its parts alone
            parts = data.split(b"\r\n", 2 * count + 1)
            args = _canonical(parts, count)
            if args is not None:
                rest = parts[-1]
                if not rest:
                    return [args]  # the whole read: an unpipelined client's command
                self._buf, self._have = rest, len(rest)
                try:
                    more = self._parse_buffer()
                except ProtocolError:
                    return [args]  # (the error is raised by the next call)
                more.insert(0, args)
                return more
        if not data or data[0] != 42:  # not '*'
            self.feed(data)
            return self._parse_all()
        self._buf, self._have = data, len(data)
        return self._parse_buffer()

    def take_one(self, data: bytes) -> list[bytes] | None:
        """The server's unpipelined hot path: when nothing is buffered and ``data`` is
        exactly one whole command of 1 to 9 words in canonical framing (what every
        client library sends, one request per round trip), its arguments; else None
        and nothing consumed (``take_grid``/``take`` decide). Cheaper than ``take``
        for that read: no list of commands, no buffer state to set, and for 2 and 3
        words (GET, SET, INCR, LPUSH) no helper call."""
        if self._have or self._args is not None or self.error is not None or self._ready:
            return None
        if type(data) is not bytes:
            return None
        count = _FIRST_COUNTS.get(data[:4])
        if count is None:
            return None
        parts = data.split(b"\r\n", 2 * count + 1)
        if parts[-1]:
            return None  # more follows the first command: a pipeline, or not framed so
        if count == 3:
            if (
                len(parts) != 8
                or parts[1] != _SPLIT_HEADERS.get(len(parts[2]))
                or parts[3] != _SPLIT_HEADERS.get(len(parts[4]))
                or parts[5] != _SPLIT_HEADERS.get(len(parts[6]))
            ):
                return None
            return [parts[2], parts[4], parts[6]]
        if count == 2:
            if (
                len(parts) != 6
                or parts[1] != _SPLIT_HEADERS.get(len(parts[2]))
                or parts[3] != _SPLIT_HEADERS.get(len(parts[4]))
            ):
                return None
            return [parts[2], parts[4]]
        return _canonical(parts, count)

    def take_grid(self, data: bytes) -> tuple[bytes, list[tuple[bytes, ...]]] | None:
        """The server's pipelined hot path: when nothing is buffered and ``data`` starts
        with two or more whole commands of one *layout* (the same name spelled the same
        way, the same number of arguments, each the same length: a pipeline of SETs as
        ``redis-benchmark -P 16`` or a loader sends them), returns ``(name, columns)``:
        ``columns[i]`` holds argument ``i + 1`` of every command (the keys, then the
        values), a tuple each. Whatever follows the grid stays buffered for
        ``take``/``commands``. None: not such a read (nothing consumed: ``take`` it).

        A layout fixes every byte of framing of the commands like it, so its arguments
        are cut at their offsets by one ``Struct.unpack_from`` (``_Layout.cut``), and
        the read is a grid of it if packing them back with the layout's framing gives
        the read: a few C calls, no object per command. A read as long as the last
        grid cut for its size (``_GRID_READS``: the reads of a -P 16 client) is tried
        so first; others are probed (``_probe_grid``).
        """
        if self._have or self._args is not None or self._ready or self.error is not None:
            return None
        cut = _GRID_READS.get(len(data))
        if cut is not None and type(data) is bytes:
            # (``_grid``, spelled out: the call would cost a tenth of a 16-GET grid)
            name, unpack, pack, frame, width = cut
            args = unpack(data)
            if pack is None:
                if frame[0] + frame[1].join(args) + frame[2] == data:
                    return name, [args]
            else:
                frame = frame.copy()
                frame[1::2] = args
                if pack(*frame) == data:
                    if width == 2:
                        return name, [args[0::2], args[1::2]]
                    return name, [args[i::width] for i in range(width)]
        return self._probe_grid(data)

    def _probe_grid(self, data: bytes) -> tuple[bytes, list[tuple[bytes, ...]]] | None:
        """``take_grid`` for a read not known by its size: its layout is known by the
        first command's first bytes and its length (``_GRIDS``: the second command is
        where those bytes are found again), and parsed from the first command when it
        is new. A read of whole rows of a known layout is checked as the fast path
        checks it (``_grid``); else the layout's regex ``match`` (headers literal, each argument ``.{n}``) finds
        the longest run of whole rows of the layout from the start, up to _GRID_BYTES.
        """
        if type(data) is not bytes or len(data) < 2 * _GRID_PROBE or data[0] != 42:
            return None
        probe = data[:_GRID_PROBE]
        row = data.find(probe, 1)  # where a second command like the first starts
        if row < 0:
            return None
        rows = (len(data) if len(data) < _GRID_BYTES else _GRID_BYTES) // row
        if rows < 2:
            return None
        end = rows * row
        layout = _GRIDS.get((probe, row))
        if layout is not None:
            columns = _grid(layout.cut(rows), data if end == len(data) else data[:end])
            if columns is not None:
                if end < len(data):
                    self.feed(data[end:])
                return layout.name, columns
        grid = None if layout is None else layout.pattern.match(data, 0, end)
        if layout is None or grid is None:  # not the layout known by this probe and size
            layout = _Layout.of(data[:row])  # new (or another with the same probe and size)
            if layout is None:
                return None  # not a small canonical command: the general parser decides
            if len(_GRIDS) >= _GRID_LAYOUTS:
                _GRIDS.clear()
            _GRIDS[(probe, row)] = layout
            grid = layout.pattern.match(data, 0, end)
            if grid is None:  # (cannot be: the layout is the first command's)
                return None
        # The pattern matched the longest run of rows of the layout from the start: a
        # command of another layout (a longer value, another command) ends the grid.
        end = grid.end()
        rows = end // row
        if rows < 2:
            return None  # one command of the layout, then others: ``take`` parses them
        columns = _grid(layout.cut(rows), data if end == len(data) else data[:end])
        if columns is None:  # (cannot be: the pattern matched those rows)
            return None
        if end < len(data):
            self.feed(data[end:])
        return layout.name, columns

    def commands(self) -> list[list[bytes]]:
        """Every complete command buffered, in order (possibly none)."""
        if self._ready:
            out = self._ready[::-1]
            self._ready = []
            try:
                return out + self._parse_all()
            except ProtocolError:
                return out  # the error stays pending for the next call
        return self._parse_all()

    def limits(self, unauthenticated: bool) -> RequestParser:
        """This parser, or one carrying on from its state, applying Redis's limits for a
        client that has not authenticated (``UnauthenticatedParser``) or the normal ones.

        A limit of an unauthenticated client pending (``Unauthenticated``) is no
        longer an error once the client logged in: the normal parser goes on from
        the header that was refused (the commands pipelined after AUTH in one read).
        """
        cls = UnauthenticatedParser if unauthenticated else RequestParser
        if type(self) is cls:
            return self
        other = cls.__new__(cls)
        for name in RequestParser.__slots__:
            setattr(other, name, getattr(self, name))
        if unauthenticated and self._args is not None and self.error is None:
            # Logged out (RESET) with a command half-received under the normal limits:
            # Redis had not parsed it yet, so its header and whole bulks meet the
            # unauthenticated limits now, and the bulk in progress is parsed again from
            # its header. Refused as ``Unauthenticated``, so a login before it undoes it.
            why = unauthenticated_refusal([*self._args, *[b""] * self._remaining])
            if why is not None:
                other.error = Unauthenticated(why)
            elif other._buf:
                try:
                    other._parse([])  # (cannot complete it: the normal parser could not)
                except Unauthenticated as e:
                    other.error = e
        return other

    def _parse_all(self) -> list[list[bytes]]:
        out: list[list[bytes]] = []
        if self.error is not None:
            if not isinstance(self.error, Unauthenticated):
                raise self.error
            self.error = None  # the client logged in since: what was refused is parsed now
        if self._have < self._need or not self._have:
            return out
        if self._chunks:
            self._buf = b"".join([self._buf, *self._chunks])
            self._chunks = []
        return self._parse_buffer()

    def _parse_buffer(self) -> list[list[bytes]]:
        """The commands of the buffer: split fast path first, then the general parser.
        A protocol error after some commands is kept for the next call (they go first)."""
        out: list[list[bytes]] = []
        try:
            if self._args is None and self._buf[0] == 42:  # '*': try the split fast path
                self._parse_split(out)
            if self._buf:
                self._parse(out)
        except ProtocolError as e:
            self.error = e
            self._buf, self._have = b"", 0
            if not out:
                raise
        return out

    def _parse_split(self, out: list[list[bytes]]) -> None:
        """The hot path: split the buffer on CRLF once and take whole commands from the parts.

        A command is taken only when it is plainly well-formed: every header
        equals what ``encode_command`` would write for its value (so values
        containing CRLF, odd headers and incomplete commands are left to the
        general parser, which also produces the errors). This turns per-token
        ``find``/``int`` calls into one C-level split plus list comparisons;
        a run of commands of one size (a pipeline of SETs) is checked and cut
        column by column (``_take_grid``), so its cost per command is C-level.
        """
        parts = self._buf.split(b"\r\n")
        last = len(parts) - 1  # parts[last] is the unterminated tail (often b"")
        counts = _SPLIT_COUNTS
        headers = _SPLIT_HEADERS
        append = out.append
        i = 0
        while i < last:
            count = counts.get(parts[i])
            if count is None:
                break  # not a small canonical "*N": the general parser decides
            end = i + 1 + 2 * count
            if end > last:
                break  # incomplete: the general parser keeps it for later
            if end + end - i <= last and parts[end] == parts[i]:  # a run of one size?
                stop = _take_grid(parts, i, count, last, out)
                if stop > i:
                    i = stop
                    continue
            # Each header must be the one of its value (else a value with CRLF in it, an
            # odd header: the general parser); spelled out for 2 and 3 words (GET, SET),
            # where it costs less than making a list of them.
            if count == 3:
                if (
                    parts[i + 1] != headers.get(len(parts[i + 2]))
                    or parts[i + 3] != headers.get(len(parts[i + 4]))
                    or parts[i + 5] != headers.get(len(parts[i + 6]))
                ):
                    break
            elif count == 2:
                if parts[i + 1] != headers.get(len(parts[i + 2])) or parts[i + 3] != headers.get(
                    len(parts[i + 4])
                ):
                    break
            elif parts[i + 1 : end : 2] != list(map(headers.get, map(len, parts[i + 2 : end : 2]))):
                break
            append(parts[i + 2 : end : 2])
            i = end
        if i:
            self._buf = b"\r\n".join(parts[i:]) if i < last else parts[last]
            self._have = len(self._buf)
            self._need = 0  # (what an earlier partial command needed is here now)

    def _refuse(
        self, what: str, value: int, buf: bytes, pos: int, args: list[bytes] | None, remaining: int
    ) -> ProtocolError:
        """The error for a header over its limit (``what``: "multibulk" or "bulk"); the
        header is at ``pos`` of ``buf``, the command so far ``args``."""
        return ProtocolError(f"invalid {what} length")

    def _parse(self, out: list[list[bytes]]) -> None:
        max_count, max_bulk = self.max_count, self.max_bulk
        buf = self._buf
        n = len(buf)
        pos = 0
        args = self._args
        remaining = self._remaining
        need = 0
        while True:
            if args is None:
                if pos >= n:
                    break
                if buf[pos] != 42:  # not '*': an inline command
                    nxt, cmd = self._inline(buf, pos, n)
                    if nxt < 0:
                        need = n + 1
                        break
                    pos = nxt
                    if cmd:
                        out.append(cmd)
                    continue
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    if n - pos > MAX_INLINE_LEN:
                        raise ProtocolError("too big mbulk count string")
                    need = n + 1
                    break
                count = _header_int(buf[pos + 1 : nl], "multibulk length")
                if count > max_count:
                    raise self._refuse("multibulk", count, buf, pos, args, remaining)
                pos = nl + 2
                if count <= 0:
                    continue  # "*0" / "*-1": an empty command, ignored like Redis
                args, remaining = [], count
            # the bulks of the current command
            while remaining:
                if pos >= n:
                    need = n + 1
                    break
                if buf[pos] != 36:  # '$'
                    raise ProtocolError(f"expected '$', got '{chr(buf[pos])}'")
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    if n - pos > MAX_INLINE_LEN:
                        raise ProtocolError("too big bulk count string")
                    need = n + 1
                    break
                size = _header_int(buf[pos + 1 : nl], "bulk length")
                if size < 0 or size > max_bulk:
                    raise self._refuse("bulk", size, buf, pos, args, remaining)
                end = nl + 2 + size
                if end + 2 > n:
                    need = end + 2
                    break
                if buf[end : end + 2] != b"\r\n":
                    raise ProtocolError("expected CRLF after bulk string")
                args.append(buf[nl + 2 : end])
                pos = end + 2
                remaining -= 1
            if remaining:
                break
            out.append(args)
            args = None
        self._args, self._remaining = args, remaining
        self._buf = buf[pos:] if pos < n else b""
        self._have = n - pos
        self._need = need - pos if need else 0

    @staticmethod
    def _inline(buf: bytes, pos: int, n: int) -> tuple[int, list[bytes]]:
        """One inline line from ``pos``; returns (-1, []) when the line is incomplete."""
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if n - pos > MAX_INLINE_LEN:
                raise ProtocolError("too big inline request")
            return -1, []
        if nl - pos > MAX_INLINE_LEN:
            raise ProtocolError("too big inline request")
        end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
        return nl + 1, InlineCommand(split_inline(buf[pos:end]))


# Redis 7.0's limits for a client that has not authenticated (when the default user
# needs a password): more elements or bytes are refused at the header, before the
# rest arrives, so a peer without the password cannot make the server buffer much.
UNAUTH_MAX_MULTIBULK_LEN: Final = 10
UNAUTH_MAX_BULK_LEN: Final = 16384
# Past this count Redis 7.0 answers "invalid multibulk length" even then (INT_MAX).
_INT_MAX: Final = 2**31 - 1


class Unauthenticated(ProtocolError):
    """A header over an unauthenticated client's limit. The parser keeps its state at that
    header: should the client log in first (an AUTH before it in the same read), the
    normal parser goes on from there instead of raising it (``RequestParser.limits``)."""


class InlineCommand(list[bytes]):
    """A command sent inline (``PING a b`` and a newline, as from telnet): a list like any
    other, marked because Redis applies no unauthenticated limits to those."""

    __slots__ = ()


def unauthenticated_refusal(args: list[bytes]) -> str | None:
    """Why a command parsed under the normal limits would have been refused under an
    unauthenticated client's (its element count first, then each bulk in order, as the
    parser meets their headers), or None (an inline command has no such limits). For a
    session that logs out (RESET) with commands after it already parsed: Redis would
    parse those after the RESET."""
    if type(args) is InlineCommand:
        return None
    if len(args) > UNAUTH_MAX_MULTIBULK_LEN:
        return "unauthenticated multibulk length"
    for arg in args:
        if len(arg) > UNAUTH_MAX_BULK_LEN:
            return "unauthenticated bulk length"
    return None


class UnauthenticatedParser(RequestParser):
    """The parser while the client has not authenticated: Redis's ``authRequired`` limits.

    At most ``UNAUTH_MAX_MULTIBULK_LEN`` elements and ``UNAUTH_MAX_BULK_LEN``-byte
    bulks ("unauthenticated multibulk length" / "unauthenticated bulk length", the
    connection closed after the replies of the commands before). No split fast
    path (it takes up to 1023 elements); inline commands keep their limits, as in
    Redis. The session swaps parsers with ``limits`` when the client logs in or out,
    so the authenticated parser pays nothing for this.
    """

    __slots__ = ()
    max_count: ClassVar[int] = UNAUTH_MAX_MULTIBULK_LEN
    max_bulk: ClassVar[int] = UNAUTH_MAX_BULK_LEN

    def take(self, data: bytes) -> list[list[bytes]]:
        self.feed(data)
        return self.commands()

    def take_one(self, data: bytes) -> list[bytes] | None:
        return None  # (every header is checked against the limits by ``_parse``)

    def take_grid(self, data: bytes) -> tuple[bytes, list[tuple[bytes, ...]]] | None:
        return None  # (every header is checked against the limits by ``_parse``)

    def _parse_all(self) -> list[list[bytes]]:
        out: list[list[bytes]] = []
        if self.error is not None:
            raise self.error
        if self._have < self._need or not self._have:
            return out
        if self._chunks:
            self._buf = b"".join([self._buf, *self._chunks])
            self._chunks = []
        try:
            self._parse(out)
        except Unauthenticated as e:
            self.error = e  # (the state stays at the refused header: see Unauthenticated)
            if not out:
                raise
        except ProtocolError as e:
            self.error = e
            self._buf, self._have = b"", 0
            if not out:
                raise
        return out

    def _refuse(
        self, what: str, value: int, buf: bytes, pos: int, args: list[bytes] | None, remaining: int
    ) -> ProtocolError:
        if value < 0 or value > (_INT_MAX if what == "multibulk" else MAX_BULK_LEN):
            return ProtocolError(f"invalid {what} length")
        self._buf = buf[pos:]
        self._have, self._need = len(self._buf), 0
        self._args, self._remaining = args, remaining
        return Unauthenticated(f"unauthenticated {what} length")


# take_grid: a read is probed for a second command starting with the first one's first
# bytes ("*3\r\n$3\r\nSET\r" is 12); grids of commands of 2..4 words (GET key .. HSET
# key field value), at most _GRID_BYTES long (a longer read: the rest is parsed as
# usual); at most _GRID_LAYOUTS layouts kept (then the cache is emptied: a client
# sending ever new lengths costs a parse and a compile per read, and bounded memory).
# The layouts keep the cuts of the row counts they met (``_Layout.cut``: a ``Struct``
# holds a field per argument of every row), at most _GRID_CUTS arguments in all (about
# 2 MB, 127 bytes per argument of a SET grid, 42 of a GET grid; then every layout's are
# dropped, and ``_GRID_READS`` with them): a client sending grids of every row count up
# to the limit would otherwise make one layout keep about rows**2 / 2 fields (a GET
# grid: over 10**6, 100+ MB).
_GRID_PROBE: Final = 12
_GRID_MAX_ARGS: Final = 4
_GRID_BYTES: Final = 32 * 1024
_GRID_LAYOUTS: Final = 64
_GRID_CUTS: Final = 16384


# The cut of some rows of a layout (``_Layout.cut``): (name, unpack, pack, frame, width).
# ``unpack`` is a ``Struct.unpack_from`` taking every argument of every row, row after
# row (``width`` per row) from a read; ``pack`` and ``frame`` give back the read those
# arguments make, framed as the layout frames them (``_grid``). One argument: no
# ``pack``, and ``frame`` is the framing before the first, between two and after the
# last (``frame[1].join(args)``). More: ``frame`` is the read in pieces, the framing at
# even places and a room for each argument at odd ones (``[1::2]``), which ``pack`` (a
# ``Struct.pack``) glues: a fifth cheaper than ``b"".join`` of them, which takes and
# releases a buffer per piece.
_Cut = tuple[
    bytes,
    Callable[[bytes], tuple[bytes, ...]],
    Callable[..., bytes] | None,
    list[bytes],
    int,
]


class _Layout:
    """One command's layout: its name (as spelled), where each argument after the name
    sits in it, the framing around them, and ``pattern`` matching one or more commands
    framed like it (every header, the name and each CRLF literal, argument ``i`` as
    ``.{n}``): where a read that is not all rows of the layout stops being so."""

    __slots__ = ("name", "pattern", "row", "args", "frames", "_cuts")
    kept: ClassVar[int] = 0  # arguments in the ``_cuts`` of every layout (at most _GRID_CUTS)

    def __init__(
        self, name: bytes, pattern: re.Pattern[bytes], first: bytes, args: list[tuple[int, int]]
    ) -> None:
        self.name = name
        self.pattern = pattern
        self.row = len(first)  # bytes per command
        self.args = args  # (offset in the command, length) of each argument after the name
        # The bytes before the first argument, between two, and after the last.
        bounds = [0, *[x for at, n in args for x in (at, at + n)], len(first)]
        self.frames = [first[i:j] for i, j in zip(bounds[::2], bounds[1::2], strict=True)]
        self._cuts: dict[int, _Cut] = {}

    @staticmethod
    def of(first: bytes) -> _Layout | None:
        """The layout of ``first``, one whole command, or None if it is not a small
        canonical one (as ``encode_command`` writes it: the general parser's business).
        Read header after header: an argument may hold CRLF."""
        nl = first.find(b"\r\n")
        count = _SPLIT_COUNTS.get(first[:nl]) if nl > 0 else None
        if count is None or not 2 <= count <= _GRID_MAX_ARGS:
            return None
        words, at = [], nl + 2  # (offset, length) of each word
        for _ in range(count):
            nl = first.find(b"\r\n", at)
            size = _SPLIT_LENGTHS.get(first[at:nl]) if nl > 0 else None
            if size is None or first[nl + 2 + size : nl + 4 + size] != b"\r\n":
                return None
            words.append((nl + 2, size))
            at = nl + 4 + size
        if at != len(first):
            return None
        (start, n), args = words[0], words[1:]
        regex, done = re.escape(first[: start + n + 2]), start + n + 2
        for at, n in args:
            regex += re.escape(first[done:at]) + b".{%d}\r\n" % n
            done = at + n + 2
        pattern = re.compile(b"(?:%s)+" % regex, re.DOTALL)
        return _Layout(first[start : start + words[0][1]], pattern, first, args)

    def cut(self, rows: int) -> _Cut:
        """The cut of ``rows`` commands of the layout (``_Cut``), kept for the next grid
        of as many rows (and in ``_GRID_READS`` for a read of exactly those rows),
        within the layouts' budget (_GRID_CUTS)."""
        cut = self._cuts.get(rows)
        if cut is None:
            row, fmt, pos = self.row, ["<"], 0
            for r in range(rows):
                for at, n in self.args:
                    fmt.append(f"{at + r * row - pos}x{n}s")
                    pos = at + r * row + n
            frames = self.frames
            joint = frames[-1] + frames[0]  # from a row's last argument to the next's first
            pack = None
            if len(self.args) == 1:
                frame = [frames[0], joint, frames[-1]]
            else:
                one = [x for f in [*frames[1:-1], joint] for x in (b"", f)]
                frame = [frames[0], *one * rows]
                frame[-1] = frames[-1]
                sizes = [len(f) for f in frame]
                sizes[1::2] = [n for _, n in self.args] * rows
                pack = struct.Struct("<" + "".join([f"{n}s" for n in sizes])).pack
            cut = (self.name, struct.Struct("".join(fmt)).unpack_from, pack, frame, len(self.args))
            size = rows * len(self.args)
            if _Layout.kept + size > _GRID_CUTS:  # (counting those of dropped layouts too)
                for layout in _GRIDS.values():
                    layout._cuts.clear()
                self._cuts.clear()
                _GRID_READS.clear()
                _Layout.kept = 0
            self._cuts[rows] = cut
            _Layout.kept += size
        _GRID_READS[rows * self.row] = cut
        return cut


def _grid(cut: _Cut, data: bytes) -> list[tuple[bytes, ...]] | None:
    """The columns of ``data`` if it is all rows of the layout ``cut`` cuts (as many as
    it cuts), else None: its arguments unpacked, then packed again with the layout's
    framing, which must give ``data`` back."""
    _, unpack, pack, frame, width = cut
    args = unpack(data)
    if pack is None:
        return [args] if frame[0] + frame[1].join(args) + frame[2] == data else None
    frame = frame.copy()  # (not the cut's: it would keep the arguments alive)
    frame[1::2] = args
    if pack(*frame) != data:
        return None
    if width == 2:
        return [args[0::2], args[1::2]]
    return [args[i::width] for i in range(width)]


_GRIDS: dict[tuple[bytes, int], _Layout] = {}
_GRID_READS: dict[int, _Cut] = {}  # a read's length -> the last cut of exactly its size


def _take_grid(parts: list[bytes], i: int, count: int, last: int, out: list[list[bytes]]) -> int:
    """Commands of ``count`` arguments one after another from ``parts[i]``: a grid of
    rows of ``2 * count + 1`` parts, checked and cut column by column with C-level
    calls (a column of equal headers, "$3" each, needs only its values' lengths
    counted). Takes the rows before the first that is not whole or not canonical;
    returns where they end (``i`` if none is taken)."""
    width = 2 * count + 1
    stop = i + (last - i) // width * width
    col = parts[i:stop:width]
    if col.count(col[0]) != len(col):  # a command of another size: the grid ends before it
        stop = i + next(r for r, c in enumerate(col) if c != col[0]) * width
    for j in range(i + 1, i + width, 2):
        if stop == i:
            break
        got = parts[j:stop:width]
        size = _SPLIT_LENGTHS.get(got[0])
        lengths = list(map(len, parts[j + 1 : stop : width]))
        if size is not None and got.count(got[0]) == lengths.count(size) == len(got):
            continue  # every header of the column is the same, and right
        want = list(map(_SPLIT_HEADERS.get, lengths))
        if got != want:  # a row with an odd header: the grid ends before it
            stop = (
                i
                + next(r for r, (g, w) in enumerate(zip(got, want, strict=True)) if g != w) * width
            )
    if count == 1:
        out.extend([v] for v in parts[i + 2 : stop : width])
    else:
        columns = [parts[j:stop:width] for j in range(i + 2, i + width, 2)]
        out.extend(map(list, zip(*columns, strict=True)))
    return stop
