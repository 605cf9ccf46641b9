"""RESP's shared vocabulary, sans-IO: the limits, NEED_DATA, ProtocolError, the decoded value types.

Imported by the request parser (_requests), the reply parser
(_replies) and the encoders (_encode); ``netlib.resp`` re-exports it all.
"""

from __future__ import annotations

from typing import Any, Final

# --- limits (each a named constant with where its value comes from) -----------

# Largest bulk string accepted: Redis's ``proto-max-bulk-len`` default (512 MB).
MAX_BULK_LEN: Final = 512 * 1024 * 1024
# Most elements in one multibulk request: Redis rejects counts above 1024*1024
# ("invalid multibulk length") so one header line cannot make it reserve a huge array.
MAX_MULTIBULK_LEN: Final = 1024 * 1024
# Longest inline command line, and longest header line (``*N`` / ``$N``) we wait
# for: Redis's PROTO_INLINE_MAX_SIZE (64 KiB). Past it without a newline the
# peer is not speaking RESP (or is attacking the buffer).
MAX_INLINE_LEN: Final = 64 * 1024
# Elements in one aggregate reply a client accepts (ReplyParser): generous,
# replies like LRANGE of a big list are legitimate, but a header claiming 2**62
# elements must not be believed. 2**31 as hiredis/Redis use for aggregate sizes.
MAX_AGGREGATE_LEN: Final = 2**31 - 1

CRLF: Final = b"\r\n"


class _NeedData:
    """The sentinel type: more bytes are needed before anything can be returned."""

    _instance: _NeedData | None = None

    def __new__(cls) -> _NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __bool__(self) -> bool:
        return False


NEED_DATA: Final = _NeedData()


class ProtocolError(Exception):
    """The peer broke RESP; ``reply`` is what to send before closing the connection."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.reply = b"-ERR Protocol error: " + message.encode() + CRLF


# --- value types the client side decodes into ---------------------------------


class SimpleString(str):
    """A ``+...`` status reply (``+OK``, ``+PONG``), distinct from a bulk string."""

    __slots__ = ()


class ReplyError(Exception):
    """A ``-ERR ...`` (or RESP3 ``!``) reply: returned by the parser, not raised."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        """The error's first word: ERR, WRONGTYPE, MOVED, OOM, ..."""
        return self.message.split(" ", 1)[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReplyError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


class Verbatim(str):
    """A RESP3 verbatim string (``=``) with its three-letter format (``txt``, ``mkd``)."""

    fmt: str  # not ``format``: that would shadow str.format

    def __new__(cls, text: str, fmt: str = "txt") -> Verbatim:
        self = super().__new__(cls, text)
        self.fmt = fmt
        return self


class Push(list):  # type: ignore[type-arg]
    """A RESP3 out-of-band push (``>``): pub/sub messages, invalidations."""


class RespSet(list):  # type: ignore[type-arg]
    """A RESP3 set whose members are unhashable (e.g. arrays): kept as a list."""


class Attributed:
    """Wraps a value that came with a RESP3 attribute frame (``|``)."""

    __slots__ = ("value", "attributes")

    def __init__(self, value: Any, attributes: dict[Any, Any]) -> None:
        self.value = value
        self.attributes = attributes

    def __repr__(self) -> str:
        return f"Attributed({self.value!r}, {self.attributes!r})"
