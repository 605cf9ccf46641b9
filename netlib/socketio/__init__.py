"""netlib.socketio: Socket.IO v5 on Engine.IO v4 (N15).

Layout: ``packets`` is the sans-IO codec (packet types, namespaces, ack ids,
binary attachments as placeholders, the ``Decoder`` that gathers them);
``server`` is the server on ``netlib.engineio.server``: namespaces with
CONNECT/CONNECT_ERROR, event handlers whose return value is the ack, rooms,
broadcasts, and connection state recovery (pid and offset). The chat of
servers/chat is built on it.

Only the sans-IO codec is imported here; ``from netlib.socketio.server import
SocketIOServer`` brings in the event loop.
"""

from .packets import MAX_ATTACHMENTS, Decoder, Packet, PacketType, ProtocolError, encode

__all__ = ["MAX_ATTACHMENTS", "Decoder", "Packet", "PacketType", "ProtocolError", "encode"]
