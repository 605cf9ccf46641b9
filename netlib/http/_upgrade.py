"""A protocol switch (RFC 9110 §7.8, 15.2.2): whether the client offered the
protocol, the ``101 Switching Protocols`` head (or the answer instead of one), and
what the connection is handed to."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from netlib.shell import Connection, Session

from . import core as h11
from .messages import HTTPError, Request, Response, Upgrade


def switching_head(h: h11.Connection, req: Request, up: Upgrade,
                   log: logging.LoggerAdapter) -> bytes | Response:  # fmt: skip
    """The 101 head, sent through ``h``; or the response to give instead (426, 500)."""
    if not wants_upgrade(req, up.protocol):  # only to what the client offered
        hdrs = [(b"upgrade", up.protocol.encode()), (b"connection", b"upgrade")]
        return Response(f"this resource needs Upgrade: {up.protocol}\n", 426, hdrs)
    if h.their_state != h11.DONE:  # a streaming route that left its body unread
        log.error("Upgrade before the request body was read: refused")
        return _internal_error()
    headers = [(b"upgrade", up.protocol.encode()), (b"connection", b"upgrade"), *up.headers]
    try:
        return h.send(h11.InformationalResponse(101, headers))
    except h11.LocalProtocolError as e:  # e.g. Content-Length on a 1xx
        log.error("handler's 101 refused: %s", e)
        return _internal_error()


def _internal_error() -> Response:
    e = HTTPError(500, "internal server error")
    return Response(f"{e.detail}\n", e.status)


def _tokens(values: list[str]) -> set[str]:
    return {t.strip().lower() for v in values for t in v.split(",")}


def wants_upgrade(req: Request, protocol: str) -> bool:
    """The client offered ``protocol`` (RFC 9110 §7.8; HTTP/1.0 upgrades are ignored)."""
    if req.http_version != "1.1" or "upgrade" not in _tokens(req.headers.getall("connection")):
        return False
    offered = _tokens(req.headers.getall("upgrade"))
    p = protocol.lower()
    return p in offered or any(t.split("/", 1)[0] == p for t in offered)


def upgrade_target(up: Upgrade, conn: Connection) -> Any:
    """What ``conn.hand_over`` gets: the coroutine itself, or the session made for ``conn``."""
    if inspect.iscoroutinefunction(up.to):
        return up.to
    session = up.to(conn)
    if not isinstance(session, Session):
        raise TypeError(f"Upgrade.to must make a netlib.shell.Session, made {session!r}")
    return session
