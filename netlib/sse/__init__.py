"""netlib.sse: the sans-IO core of server-sent events (the ``text/event-stream`` format).

Layout: ``core`` holds both directions. ``encode(Event)`` / ``comment(text)`` make
the bytes a server sends; ``Parser`` is the client side, fed bytes with
``receive_data`` and handing back ``Event``s from ``next_event()`` (or
``NEED_DATA``), exactly as the HTML Standard's "interpreting an event stream"
says a browser's EventSource does (BOM, CR/LF/CRLF line ends, ``data`` lines
joined with LF, ``id`` kept across events, ``retry`` digits only, comments
skipped). The server is ``servers/sse``; the benchmark and the tests read
streams with ``Parser``.
"""

from .core import (
    MAX_EVENT_BYTES,
    MAX_LINE,
    NEED_DATA,
    Event,
    LocalProtocolError,
    Parser,
    RemoteProtocolError,
    comment,
    encode,
)

__all__ = [
    "MAX_EVENT_BYTES", "MAX_LINE", "NEED_DATA", "Event", "LocalProtocolError", "Parser",
    "RemoteProtocolError", "comment", "encode",
]  # fmt: skip
