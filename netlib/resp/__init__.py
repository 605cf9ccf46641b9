"""RESP2/RESP3, sans-IO: the one codec the cache, the Bitcask server and clients/resp share.

Strategy. Two parsers, one per role, each fed bytes and handing back values:

* ``RequestParser`` (server role) turns bytes into commands (``list[bytes]``):
  multibulk arrays of bulk strings as every client library sends them, and
  *inline* commands (a line split on spaces, with Redis's quoting rules) so a
  human with ``nc`` or ``telnet`` can type ``SET k "hello world"``. It is the
  hot path of the cache, so ``commands()`` parses every complete command in the
  buffer in one tight loop and resumes a half-received command where it
  stopped (a 100k-argument MSET arriving in 64 KiB reads is parsed once, not
  re-parsed per read; a 100 MB bulk is joined once when complete).
  ``UnauthenticatedParser`` is its variant with Redis's limits for a client
  that has not authenticated yet (10 elements, 16 KiB bulks); ``limits()``
  switches between the two, keeping what was buffered.
* ``ReplyParser`` (client role) decodes every RESP2 and RESP3 type with an
  explicit stack of half-built aggregates (no recursion, resumable mid-reply).

Encoding is a set of small functions producing bytes; the ones whose shape
differs between protocol versions take ``proto`` (2 or 3): a map is a flat
array in RESP2, a double a bulk string, a boolean an integer, a null ``$-1``.

The parser contract (STYLE.md 5): incomplete input -> ``NEED_DATA``; complete
-> a value; bad input -> ``ProtocolError`` whose ``reply`` is what Redis would
answer (``-ERR Protocol error: ...``) before closing the connection. Nothing
else escapes; tests/test_resp_codec.py fuzzes that with Hypothesis.

Layout: ``_types.py`` (limits, NEED_DATA, ProtocolError, decoded value
types), ``_requests.py`` (RequestParser, inline splitting),
``_replies.py`` (ReplyParser), ``_encode.py`` (encoders and reply
constants); this module re-exports them all, so ``from netlib import resp``
and ``from netlib.resp import X`` are the only imports anyone needs.

What Redis does differently: it parses in C into a reusable query buffer and
answers protocol errors with the same wording; we mirror the wording and the
limits, not the memory layout.
"""

from __future__ import annotations

from ._encode import (
    EMPTY_ARRAY,
    EMPTY_BULK,
    NULL3,
    NULL_ARRAY,
    NULL_BULK,
    OK,
    ONE,
    PONG,
    QUEUED,
    ZERO,
    array,
    big_number,
    boolean,
    bulk,
    bulks,
    double,
    encode_command,
    encode_reply,
    error,
    format_double,
    integer,
    map_,
    null,
    null_array,
    push,
    set_,
    simple,
    verbatim,
)
from ._replies import ReplyParser
from ._requests import (
    SPLIT_MAX,
    RequestParser,
    Unauthenticated,
    UnauthenticatedParser,
    split_inline,
    unauthenticated_refusal,
)
from ._types import (
    CRLF,
    MAX_AGGREGATE_LEN,
    MAX_BULK_LEN,
    MAX_INLINE_LEN,
    MAX_MULTIBULK_LEN,
    NEED_DATA,
    Attributed,
    ProtocolError,
    Push,
    ReplyError,
    RespSet,
    SimpleString,
    Verbatim,
)

__all__ = [
    "CRLF", "EMPTY_ARRAY", "EMPTY_BULK", "MAX_AGGREGATE_LEN", "MAX_BULK_LEN", "MAX_INLINE_LEN",
    "MAX_MULTIBULK_LEN", "NEED_DATA", "NULL3", "NULL_ARRAY", "NULL_BULK", "OK", "ONE", "PONG",
    "QUEUED", "SPLIT_MAX", "ZERO", "Attributed", "ProtocolError", "Push", "ReplyError",
    "ReplyParser", "RequestParser", "RespSet", "SimpleString", "Unauthenticated",
    "UnauthenticatedParser", "unauthenticated_refusal", "Verbatim", "array", "big_number",
    "boolean", "bulk", "bulks", "double", "encode_command", "encode_reply", "error",
    "format_double", "integer", "map_", "null", "null_array", "push", "set_", "simple",
    "split_inline", "verbatim",
]  # fmt: skip
