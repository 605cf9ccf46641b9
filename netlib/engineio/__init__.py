"""netlib.engineio: Engine.IO v4, the transport under Socket.IO (N15).

Layout: ``packets`` is the sans-IO codec (packet types, the ``\\x1e``-joined
polling payload, ``b``+base64 binary); ``session`` is the sans-IO session (the
handshake JSON, the server's ping and its timeout, the outbox, the upgrade
probe); ``server`` runs sessions on netlib.http: the long-polling routes and
the heartbeat timers; ``websocket`` is the WebSocket transport and the
upgrade from polling. ``netlib.socketio`` sits on top.

Only the sans-IO names are imported here; ``from netlib.engineio.server import
EngineServer`` brings in the event loop.
"""

from .packets import (
    DEFAULT_MAX_PAYLOAD,
    SEPARATOR,
    Packet,
    PacketType,
    ProtocolError,
    decode,
    decode_payload,
    encode,
    encode_payload,
)
from .session import Closed, Message, Session

__all__ = [
    "DEFAULT_MAX_PAYLOAD", "SEPARATOR", "Closed", "Message", "Packet", "PacketType",
    "ProtocolError", "Session", "decode", "decode_payload", "encode", "encode_payload",
]  # fmt: skip
