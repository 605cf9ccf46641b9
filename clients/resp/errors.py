"""What a RESP client can raise: one small, flat hierarchy mapped at the boundary.

``RespError`` is the root. Under it, three kinds, so a caller decides by kind:

* ``ConnectionError`` - the server could not be reached, or the connection died
  (refused, reset, closed mid-reply). ``TimeoutError`` is one of these: after
  a timeout in the middle of a reply the stream position is unknown, so the
  connection is closed. Both also derive from Python's builtin of the same
  name, so ``except OSError`` code keeps working.
* ``InvalidReply`` - the bytes were not RESP (the codec's ``ProtocolError``);
  the connection is closed too.
* ``ResponseError`` (also the codec's ``ReplyError``) - the server answered
  with an error reply. The connection is fine. ``message`` is the whole text
  (``WRONGTYPE Operation against...``) and ``code`` its first word; subclasses exist for the codes a program acts
  on (Redis prefixes every error with one upper-case word, see the "RESP
  protocol spec", "Simple errors"). ``MovedError`` and ``AskError`` carry the
  slot and the address a cluster node redirects to.

Names mirror redis-py's (``ResponseError``, ``WrongTypeError`` ...) so people
who know it can guess them; the tree is ours.
"""

from __future__ import annotations

import builtins

from netlib.resp import ReplyError


class RespError(Exception):
    """The root of everything clients.resp raises."""


class ConnectionError(RespError, builtins.ConnectionError):
    """Could not connect, or the connection broke."""


class TimeoutError(ConnectionError, builtins.TimeoutError):
    """No (whole) reply within the timeout; the connection was closed."""


class InvalidReply(RespError):
    """The server sent bytes that are not RESP."""


class ResponseError(RespError, ReplyError):
    """An error reply (``-ERR ...``); the connection stays usable.

    It is also the codec's ``ReplyError`` (the value the parser returns for an
    error reply), so ``message`` and ``code`` come from there, and code that
    catches ``netlib.resp.ReplyError`` catches this too.
    """


class WrongTypeError(ResponseError):
    """``WRONGTYPE Operation against a key holding the wrong kind of value``."""


class OutOfMemoryError(ResponseError):
    """``OOM command not allowed when used memory > 'maxmemory'``."""


class AuthenticationError(ResponseError):
    """``NOAUTH`` / ``WRONGPASS``."""


class NoScriptError(ResponseError):
    """``NOSCRIPT No matching script``."""


class ReadOnlyError(ResponseError):
    """``READONLY You can't write against a read only replica``."""


class BusyError(ResponseError):
    """``BUSY`` (a script is running) / ``BUSYGROUP``."""


class ExecAbortError(ResponseError):
    """``EXECABORT`` a transaction was discarded because of queued errors."""


class WatchError(ResponseError):
    """EXEC answered nil: a WATCHed key was modified, nothing was executed."""


class ClusterError(ResponseError):
    """The cluster's own errors: ``CLUSTERDOWN``, ``CROSSSLOT``, ``TRYAGAIN``."""


class CrossSlotError(ClusterError):
    """``CROSSSLOT Keys in request don't hash to the same slot``."""


class TryAgainError(ClusterError):
    """``TRYAGAIN``: multi-key command during a slot migration; retry later."""


class ClusterDownError(ClusterError):
    """``CLUSTERDOWN``: slots are uncovered or the node is not ready."""


class RedirectError(ClusterError):
    """``MOVED``/``ASK <slot> <host>:<port>``: the slot is served elsewhere."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        try:
            _, slot, where = message.split(" ")
            host, port = where.rsplit(":", 1)
            self.slot = int(slot)
            self.address = (host, int(port))
        except ValueError as exc:
            raise InvalidReply(f"malformed redirect: {message!r}") from exc


class MovedError(RedirectError):
    """The slot now lives on ``address`` for good: update the slot map."""


class AskError(RedirectError):
    """The slot is being migrated: ask ``address`` this once, preceded by ASKING."""


_BY_CODE: dict[str, type[ResponseError]] = {
    "WRONGTYPE": WrongTypeError,
    "OOM": OutOfMemoryError,
    "NOAUTH": AuthenticationError,
    "WRONGPASS": AuthenticationError,
    "NOSCRIPT": NoScriptError,
    "READONLY": ReadOnlyError,
    "BUSY": BusyError,
    "BUSYGROUP": BusyError,
    "EXECABORT": ExecAbortError,
    "CROSSSLOT": CrossSlotError,
    "TRYAGAIN": TryAgainError,
    "CLUSTERDOWN": ClusterDownError,
    "MOVED": MovedError,
    "ASK": AskError,
}


def response_error(message: str) -> ResponseError:
    """The exception for an error reply's text, chosen by its first word."""
    code = message.split(" ", 1)[0]
    return _BY_CODE.get(code, ResponseError)(message)
