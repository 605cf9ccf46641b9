"""The sans-IO client protocol: bytes in, events out, bytes to send.

``ClientProtocol`` knows the state of one connection (greeting, auth, idle,
which response it is reading) and nothing about sockets: the blocking and the
asyncio clients both drive it the same way, in the style of h11:

    data = proto.query("SELECT 1")      # command -> bytes to write
    while (ev := proto.next_event()) is NEED_DATA:
        proto.receive_data(sock.recv(n))

Events: ``OkPacket`` (a statement without rows, the end of a result set, a
successful login or ping), ``ResultHeader`` (the columns of a result set),
``Rows`` (a batch of decoded rows: as many as the buffered bytes held),
``Prepared`` (a prepared statement's id and metadata). A server ERR packet is
raised as its ``DatabaseError`` subclass and leaves the connection usable; a
malformed stream raises ``ProtocolError`` and marks it broken. During the
handshake, bytes to answer with (login, auth switch) queue in
``data_to_send()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import constants as C
from .binary import Decoder, decode_binary_row, execute_payload, parse_prepare_ok
from .errors import AuthError, DatabaseError, DataError, InterfaceError, ProtocolError
from .events import NEED_DATA, Event, Prepared, ResultHeader, Rows
from .handshake import (
    CACHING_SHA2,
    Greeting,
    auth_data,
    client_capabilities,
    handshake_response,
    parse_auth_switch,
    parse_greeting,
)
from .packets import PacketBuffer, Reader, frame
from .plans import plan_for
from .responses import OkPacket, parse_eof, parse_err, parse_ok
from .resultset import decode_text_row, parse_column, python_codec
from .textrows import Scanner

_COM_QUERY = bytes((C.COM_QUERY,))

# Pipelined executes per window. The server answers each while we may still be
# writing: the window's commands (<= 64KB) and its answers (~11 bytes per OK)
# must fit in the sockets' buffers, or both sides could block writing.
PIPELINE_COMMANDS = 1000
PIPELINE_BYTES = 64 * 1024

# MariaDB extended capability (bit 35 of 64): column definitions carry "json" etc.
_EXTENDED_METADATA = 1 << 3
_STMT_BULK_OPERATIONS = 1 << 2


class ClientProtocol:
    """One connection's protocol state. Not thread-safe; one command at a time."""

    def __init__(
        self,
        user: str = "root",
        password: str = "",
        database: str = "",
        *,
        deprecate_eof: bool = True,
        auth_plugin: str | None = None,
    ) -> None:
        self.user, self.database = user, database
        self._password = password.encode()
        self._want_deprecate_eof = deprecate_eof
        self._announce_plugin = auth_plugin  # None: answer with the server's default plugin
        self._in = PacketBuffer()
        self._out: list[bytes] = []
        self._state: Callable[[], Event] = self._on_greeting
        self.greeting: Greeting | None = None
        self.capabilities = 0
        self.status = 0
        self.broken = False
        # System variables the server reported changed (session tracking), e.g. after
        # SET NAMES: the escaping in escape.py must know the connection's charset.
        self.session_vars: dict[str, str] = {}
        self._encoding = "utf-8"  # Python codec of character_set_results (text, names)
        self.out_encoding = "utf-8"  # Python codec of character_set_client (SQL, params)
        self._col_payloads: list[bytes] = []  # column definitions of this result set
        self._n_columns = 0
        self._binary = False
        self._convs: list[Any] = []
        self._scan: Scanner | None = None  # chosen per result set (textrows)
        self._decoders: list[Decoder] = []
        self._eof_limit = 9  # 0xFE-led packets shorter than this end rows (no DEPRECATE_EOF)
        self._prep: Prepared | None = None
        self._plugin = C.NATIVE_PASSWORD
        self._extended = False  # MariaDB sends extended column metadata
        self._deprecate_eof = False  # negotiated: rows end with an OK, no EOF packets
        self._lenenc_info = True  # MariaDB: OK info is length-encoded; MySQL: rest of packet
        self._plan: list[str] = []  # what a COM_STMT_PREPARE answer still has to send
        self._ahead: tuple[OkPacket, Callable[[], Event]] = (OkPacket(), self._on_idle)
        self._pending = 0  # pipelined commands whose responses follow the current one
        self.bulk = False  # the server takes COM_STMT_BULK_EXECUTE (MariaDB >= 10.2.7)

    # -- plumbing --------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        self._in.receive_data(data)

    @property
    def buffered(self) -> int:
        """Received bytes not yet parsed."""
        return self._in.buffered

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event:
        """The next event, or NEED_DATA. Raises the server's error or ProtocolError."""
        try:
            return self._state()
        except (ProtocolError, AuthError):
            self.broken = True
            self._state = self._on_broken
            raise

    @property
    def idle(self) -> bool:
        return self._state == self._on_idle

    @property
    def deprecate_eof(self) -> bool:
        return self._deprecate_eof

    @property
    def in_transaction(self) -> bool:
        return bool(self.status & C.SERVER_STATUS_IN_TRANS)

    @property
    def autocommit(self) -> bool:
        return bool(self.status & C.SERVER_STATUS_AUTOCOMMIT)

    @property
    def client_charset(self) -> str:
        """character_set_client: utf8mb4 from the handshake unless a SET changed it."""
        return self.session_vars.get("character_set_client", "utf8mb4")

    @property
    def no_backslash_escapes(self) -> bool:
        return bool(self.status & C.SERVER_STATUS_NO_BACKSLASH_ESCAPES)

    def _payload(self) -> bytes | None:
        return self._in.next_payload()

    # -- commands (each returns the bytes to write) ---------------------------------------

    def _check_idle(self) -> None:
        if self.broken:
            raise InterfaceError("connection is broken; open a new one")
        if self._state != self._on_idle:
            raise InterfaceError("another command is in progress on this connection")

    def _command(self, payload: bytes, state: Callable[[], Event], binary: bool = False) -> bytes:
        if self.broken or self._state != self._on_idle:
            self._check_idle()  # raises the right InterfaceError
        data, self._in.seq = frame(payload, 0)
        self._state = state
        self._binary = binary  # only once the command is really ours
        return data

    def query(self, sql: str | bytes) -> bytes:
        """COM_QUERY: answered by OkPacket, or ResultHeader, Rows..., OkPacket."""
        return self._command(_COM_QUERY + self._text(sql), self._on_result)

    def _text(self, sql: str | bytes) -> bytes:
        """SQL in character_set_client (utf8mb4 unless a SET NAMES changed it)."""
        if not isinstance(sql, str):
            return sql
        try:
            return sql.encode(self.out_encoding)
        except UnicodeEncodeError as e:
            raise DataError(f"SQL not representable in {self.client_charset}: {e}") from None

    def ping(self) -> bytes:
        return self._command(bytes((C.COM_PING,)), self._on_simple)

    def init_db(self, database: str) -> bytes:
        return self._command(bytes((C.COM_INIT_DB,)) + database.encode(), self._on_simple)

    def quit(self) -> bytes:
        data = self._command(bytes((C.COM_QUIT,)), self._on_broken)
        self.broken = True  # nothing may follow COM_QUIT
        return data

    def prepare(self, sql: str | bytes) -> bytes:
        """COM_STMT_PREPARE: answered by a Prepared event."""
        body = self._text(sql)
        return self._command(bytes((C.COM_STMT_PREPARE,)) + body, self._on_prepare_ok)

    def execute(self, stmt: Prepared, params: Sequence[Any] = ()) -> bytes:
        """COM_STMT_EXECUTE: answered like query(), with binary rows."""
        payload = execute_payload(stmt.stmt_id, params, len(stmt.params), self.out_encoding)
        return self._command(payload, self._on_result, binary=True)

    def execute_pipeline(self, stmt: Prepared, params_seq: Sequence[Any]) -> tuple[bytes, int]:
        """Several COM_STMT_EXECUTEs sent at once, answered one after another.

        Takes executes from the front of ``params_seq`` until ``PIPELINE_COMMANDS``
        or ``PIPELINE_BYTES``; returns (bytes to write, how many were taken). Each
        response then arrives like ``execute``'s; a server error in one is raised
        when it is read, and the protocol moves on to the next response, so the
        caller keeps reading until ``idle``.
        """
        self._check_idle()
        n_params = len(stmt.params)
        parts: list[bytes] = []
        size = 0
        for params in params_seq[:PIPELINE_COMMANDS]:
            payload = execute_payload(stmt.stmt_id, params, n_params, self.out_encoding)
            data, _ = frame(payload, 0)
            parts.append(data)
            size += len(data)
            if size >= PIPELINE_BYTES:
                break
        if not parts:
            raise InterfaceError("execute_pipeline needs at least one set of parameters")
        self._in.seq = 1  # the first response (each command was sent with sequence 0)
        self._state, self._binary, self._pending = self._on_result, True, len(parts) - 1
        return b"".join(parts), len(parts)

    def bulk_execute(self, payload: bytes) -> bytes:
        """COM_STMT_BULK_EXECUTE (a payload from ``binary.bulk_payloads``): one OK or ERR."""
        return self._command(payload, self._on_result, binary=True)

    def close_statement(self, stmt_id: int) -> bytes:
        """COM_STMT_CLOSE: the server sends no answer, so the connection stays idle."""
        payload = bytes((C.COM_STMT_CLOSE,)) + stmt_id.to_bytes(4, "little")
        return self._command(payload, self._on_idle)

    # -- connection phase ------------------------------------------------------------------

    def _on_greeting(self) -> Event:
        payload = self._payload()
        if payload is None:
            return NEED_DATA
        if payload[:1] == b"\xff":  # e.g. too many connections: nothing follows
            self._state = self._on_broken
            self.broken = True
            raise parse_err(payload)
        g = self.greeting = parse_greeting(payload)
        self.status = g.status
        self.capabilities = client_capabilities(g, self.database, self._want_deprecate_eof)
        self._deprecate_eof = bool(self.capabilities & C.CLIENT_DEPRECATE_EOF)
        plugin = self._announce_plugin or g.auth_plugin
        try:
            auth = auth_data(plugin, self._password, g.scramble)
        except AuthError:  # unknown default plugin: offer ours, the server may switch
            plugin, auth = (
                C.NATIVE_PASSWORD,
                auth_data(C.NATIVE_PASSWORD, self._password, g.scramble),
            )
        self._plugin = plugin
        self._lenenc_info = g.is_mariadb
        self._extended = g.is_mariadb and bool(g.mariadb_capabilities & _EXTENDED_METADATA)
        self.bulk = g.is_mariadb and bool(g.mariadb_capabilities & _STMT_BULK_OPERATIONS)
        body = handshake_response(g, self.capabilities, self.user, auth, self.database, plugin)
        self._send(body)
        self._state = self._on_auth
        return self._state()

    def _send(self, payload: bytes) -> None:
        data, self._in.seq = frame(payload, self._in.seq)
        self._out.append(data)

    def _on_auth(self) -> Event:
        payload = self._payload()
        if payload is None:
            return NEED_DATA
        head = payload[:1]
        if head == b"\x00":
            return self._finish(parse_ok(payload, self._lenenc_info))
        if head == b"\xff":
            self._state = self._on_broken
            self.broken = True
            raise parse_err(payload)
        if head == b"\xfe":  # AuthSwitchRequest
            plugin, nonce = parse_auth_switch(payload)
            self._plugin = plugin
            self._send(auth_data(plugin, self._password, nonce))
            return self._on_auth()
        if head == b"\x01" and self._plugin == CACHING_SHA2 and payload[1:2] == b"\x03":
            return self._on_auth()  # fast auth succeeded; the OK follows
        raise AuthError(
            f"server asked for more auth data ({payload[:2]!r}) under {self._plugin!r}: "
            "full caching_sha2 authentication needs TLS or RSA, not supported"
        )

    # -- responses ---------------------------------------------------------------------------

    def _server_error(self, payload: bytes) -> DatabaseError:
        """An ERR packet ends the command; the connection stays usable."""
        self._next_command()
        return parse_err(payload)

    def _on_idle(self) -> Event:
        raise InterfaceError("no command in progress")

    def _on_broken(self) -> Event:
        raise InterfaceError("connection is broken; open a new one")

    def _on_simple(self) -> Event:
        payload = self._payload()
        if payload is None:
            return NEED_DATA
        head = payload[:1]
        if head == b"\x00":
            return self._finish(parse_ok(payload, self._lenenc_info))
        if head == b"\xff":
            raise self._server_error(payload)
        raise ProtocolError(f"expected OK or ERR, got 0x{payload[:1].hex()}")

    def _on_result(self) -> Event:
        # The OK/ERR lines repeat _on_simple's on purpose: every query starts here, and
        # a shared helper measured +0.3us (~4%) on a SELECT 1's parse (audit, sansio bench).
        payload = self._in.next_payload()  # (not self._payload(): one call less, hot path)
        if payload is None:
            return NEED_DATA
        head = payload[:1]
        if head == b"\x00":
            return self._finish(parse_ok(payload, self._lenenc_info))
        if head == b"\xff":
            raise self._server_error(payload)
        if head == b"\xfb":
            raise ProtocolError("LOCAL INFILE requested but not enabled by this client")
        if not head:
            raise ProtocolError("empty packet where a result was expected")
        n = head[0] if head[0] < 0xFB else Reader(payload).lenenc_int()
        if not n:
            raise ProtocolError("result set with zero columns")
        self._n_columns = n
        self._col_payloads = []
        self._state = self._on_column
        return self._on_column()

    def _finish(self, ok: OkPacket) -> OkPacket:
        self.status = ok.status
        if ok.changed:
            self.session_vars.update(ok.changed)
            results = self.session_vars.get("character_set_results") or "utf8mb4"
            self._encoding = python_codec(results)
            self.out_encoding = python_codec(self.client_charset)
        if ok.status & C.SERVER_MORE_RESULTS_EXISTS:  # (ok.more_results, without the call)
            self._state = self._on_result
        else:
            self._next_command()
        return ok

    def _next_command(self) -> None:
        """A response ended: idle, or on to the next pipelined command's response."""
        if self._pending:
            self._pending -= 1
            self._in.seq = 1  # every response starts at 1 (its command was 0)
            self._state = self._on_result
        else:
            self._state = self._on_idle

    def _on_column(self) -> Event:
        defs = self._col_payloads
        while len(defs) < self._n_columns:
            payload = self._in.next_payload()
            if payload is None:
                return NEED_DATA
            defs.append(payload)
        if not self._deprecate_eof:
            payload = self._payload()
            if payload is None:
                return NEED_DATA
            self._expect_eof(payload)
        plan = plan_for(defs, self._extended, self._encoding, self._binary)
        cols, self._convs, self._scan, self._decoders = plan  # see plans.py
        self._state = self._on_binary_rows if self._binary else self._on_text_rows
        self._eof_limit = 0xFFFFFF if self._deprecate_eof else 9
        return ResultHeader(cols.copy())  # the plan's list stays ours

    def _expect_eof(self, payload: bytes) -> None:
        if payload[:1] != b"\xfe" or len(payload) >= 9:
            raise ProtocolError("expected an EOF packet after column definitions")
        self.status = parse_eof(payload).status

    def _end_of_rows(self, payload: bytes) -> OkPacket:
        ok = parse_ok(payload, self._lenenc_info) if self._deprecate_eof else parse_eof(payload)
        return self._finish(ok)

    def _on_text_rows(self) -> Event:
        b = self._in
        if b._chunks:
            b.merge()
        rows: list[tuple] = []
        assert self._scan is not None
        b.pos, b.seq = self._scan(b.buf, b.pos, b.seq, rows, self._eof_limit)
        if rows:
            self._read_ahead_end()
            return Rows(rows)
        payload = self._payload()
        if payload is None:
            return NEED_DATA
        if not payload:
            raise ProtocolError("empty row packet")
        head = payload[0]
        if head == 0xFE and len(payload) < self._eof_limit:
            return self._end_of_rows(payload)
        if head == 0xFF:
            raise self._server_error(payload)
        return Rows([decode_text_row(payload, self._convs)])

    def _read_ahead_end(self) -> None:
        """If the rows' end packet is already here, parse it now and hand it out next.

        Small results (a SELECT 1) arrive whole; this spares the next call a
        second pass through the scanner just to find the end (~0.5us a query).
        """
        b, limit = self._in, self._eof_limit
        buf, pos = b.buf, b.pos
        if pos + 5 > len(buf) or buf[pos + 4] != 0xFE or buf[pos + 3] != b.seq:
            return
        plen = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
        if plen >= limit or pos + 4 + plen > len(buf):
            return
        b.pos, b.seq = pos + 4 + plen, (b.seq + 1) & 0xFF
        self._ahead = (self._end_of_rows(buf[pos + 4 : pos + 4 + plen]), self._state)
        self._state = self._hand_out

    def _hand_out(self) -> Event:
        """The end packet ``_read_ahead_end`` parsed; then on to the state it left."""
        ok, self._state = self._ahead
        return ok

    def _on_binary_rows(self) -> Event:
        rows: list[tuple] = []
        decoders = self._decoders
        while True:
            payload = self._payload()
            if payload is None:
                break
            if not payload:
                raise ProtocolError("empty row packet")
            head = payload[0]
            if head == 0x00:
                rows.append(decode_binary_row(payload, decoders))
                continue
            if rows:  # hand back the rows first; the end packet is re-read next time
                self._unread(payload)
                break
            if head == 0xFE and len(payload) < self._eof_limit:
                return self._end_of_rows(payload)
            if head == 0xFF:
                raise self._server_error(payload)
            raise ProtocolError(f"binary row with header 0x{head:02x}")
        return Rows(rows) if rows else NEED_DATA

    def _unread(self, payload: bytes) -> None:
        """Put the last payload back (only ever a short end-of-rows or ERR packet)."""
        b = self._in
        b.seq = (b.seq - 1) & 0xFF
        b.pos -= len(payload) + C.HEADER_SIZE

    # -- prepared statements ------------------------------------------------------------

    def _on_prepare_ok(self) -> Event:
        payload = self._payload()
        if payload is None:
            return NEED_DATA
        if payload[:1] == b"\xff":
            raise self._server_error(payload)
        if payload[:1] != b"\x00":
            raise ProtocolError("expected COM_STMT_PREPARE_OK")
        stmt_id, n_cols, n_params, warnings = parse_prepare_ok(payload)
        self._prep = Prepared(stmt_id, [], [], warnings)
        eof = [] if self.deprecate_eof else ["eof"]
        self._plan = (["param"] * n_params + (eof if n_params else [])
                      + ["column"] * n_cols + (eof if n_cols else []))  # fmt: skip
        self._plan.reverse()  # popped from the end
        self._state = self._on_prepare_meta
        return self._on_prepare_meta()

    def _on_prepare_meta(self) -> Event:
        prep = self._prep
        assert prep is not None
        while self._plan:
            payload = self._payload()
            if payload is None:
                return NEED_DATA
            kind = self._plan.pop()
            if kind == "eof":
                self._expect_eof(payload)
            else:
                col = parse_column(payload, self._extended, self._encoding)
                (prep.params if kind == "param" else prep.columns).append(col)
        self._state = self._on_idle
        return prep
