"""OK, EOF and ERR packets: what ends a command or a result set.

``OkPacket`` is also what the client hands back for statements that return no
rows (affected rows, last insert id, warnings, status flags, info text).
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import (
    SERVER_MORE_RESULTS_EXISTS,
    SERVER_SESSION_STATE_CHANGED,
    SERVER_STATUS_NO_BACKSLASH_ESCAPES,
    SESSION_TRACK_SYSTEM_VARIABLES,
)
from .errors import DatabaseError, ProtocolError, from_server
from .packets import Reader


@dataclass(slots=True)
class OkPacket:
    """The server's summary of a statement (OK packet, or the EOF that ends rows)."""

    affected_rows: int = 0
    insert_id: int = 0
    status: int = 0
    warnings: int = 0
    info: str = ""
    changed: dict[str, str] | None = None  # system variables the statement changed

    @property
    def more_results(self) -> bool:
        return bool(self.status & SERVER_MORE_RESULTS_EXISTS)

    @property
    def no_backslash_escapes(self) -> bool:
        return bool(self.status & SERVER_STATUS_NO_BACKSLASH_ESCAPES)


def parse_ok(payload: bytes, lenenc_info: bool = True) -> OkPacket:
    """OK packet (header 0x00, or 0xFE when it ends rows under DEPRECATE_EOF).

    MariaDB always sends the info text length-encoded; MySQL without
    CLIENT_SESSION_TRACK sends it as the rest of the packet. With session
    tracking, a statement that changed system variables (SET NAMES,
    SET autocommit...) lists their new values after the info.
    """
    if len(payload) == 7 and payload[1] < 0xFB and payload[2] < 0xFB:  # the usual short OK
        return OkPacket(
            payload[1], payload[2], payload[3] | payload[4] << 8, payload[5] | payload[6] << 8
        )
    r = Reader(payload, 1)
    affected = r.lenenc_int() or 0
    insert_id = r.lenenc_int() or 0
    status = r.uint(2)
    warnings = r.uint(2)
    info = b""
    if r.remaining():
        info = r.lenenc_bytes() if lenenc_info else r.rest()
    changed = None
    if status & SERVER_SESSION_STATE_CHANGED and r.remaining():
        changed = _session_variables(Reader(r.lenenc_bytes()))
    text = info.decode("utf-8", "replace")
    return OkPacket(affected, insert_id, status, warnings, text, changed)


def _session_variables(r: Reader) -> dict[str, str]:
    """The SESSION_TRACK_SYSTEM_VARIABLES entries of a session-state block."""
    out: dict[str, str] = {}
    while r.remaining():
        kind = r.u8()
        data = Reader(r.lenenc_bytes())
        if kind == SESSION_TRACK_SYSTEM_VARIABLES:
            name = data.lenenc_str()
            out[name] = data.lenenc_str()
    return out


def parse_eof(payload: bytes) -> OkPacket:
    """The pre-DEPRECATE_EOF EOF packet: 0xFE, warnings:2, status:2."""
    r = Reader(payload, 1)
    warnings = r.uint(2)
    status = r.uint(2)
    return OkPacket(status=status, warnings=warnings)


def parse_err(payload: bytes) -> DatabaseError:
    """ERR packet -> the matching exception (not raised here)."""
    r = Reader(payload, 1)
    code = r.uint(2)
    sqlstate = ""
    if r.remaining() and payload[r.pos] == 0x23:  # '#': PROTOCOL_41 adds the SQLSTATE
        r.u8()
        sqlstate = r.fixed(5).decode("ascii", "replace")
    message = r.rest().decode("utf-8", "replace")
    return from_server(code, sqlstate, message)


def check_nonempty(payload: bytes) -> int:
    """The first byte of a payload; an empty one is a protocol error here."""
    if not payload:
        raise ProtocolError("empty packet where a response was expected")
    return payload[0]
