"""A thin AMQP 0-9-1 client (exercise M1), spoken to a real rabbitmq-server.

Layout: ``frames`` is the sans-IO codec (frames, methods from a spec table,
content headers, field tables); ``client`` is the blocking Connection and its
Channels (negotiation, heartbeats, publisher confirms, consumers, basic.get,
errors as ``ChannelError`` / ``ConnectionClosed``).
"""

from .client import AMQPError, Channel, ChannelError, Connection, ConnectionClosed, Message

__all__ = ["AMQPError", "Channel", "ChannelError", "Connection", "ConnectionClosed", "Message"]
