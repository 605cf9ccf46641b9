"""clients/resp: a thin RESP2/RESP3 client for redis-server and syslab's cache (N14, O4).

Layout: the codec is ``netlib/resp/`` (sans-IO, shared with servers/cache);
``core.py`` is the client's I/O-free half (handshake, pipelines, pub/sub
bookkeeping, error mapping) shared by ``sync.py`` (blocking sockets) and
``aio.py`` (asyncio streams); ``errors.py`` is the flat exception tree;
``slots.py`` is Redis Cluster's key -> slot function (CRC16-XMODEM, hash tags)
and ``cluster.py`` the cluster client that routes by slot and follows MOVED
and ASK (exercise O4; the cluster launcher is ``harness/redis_cluster.py``).

Values come back as the codec decodes them: bulk strings as ``bytes``,
``+OK`` as a ``str`` subclass, integers, None, lists, and in RESP3 dicts,
sets, floats and booleans. Arguments may be bytes, str, int or float.
"""

from .aio import AsyncConnection, AsyncPipeline, AsyncPubSub, connect_async
from .cluster import ClusterClient
from .core import Message
from .errors import (
    AskError,
    ClusterError,
    ConnectionError,
    InvalidReply,
    MovedError,
    RespError,
    ResponseError,
    TimeoutError,
    WatchError,
    WrongTypeError,
)
from .slots import key_slot
from .sync import Connection, Pipeline, PubSub, connect

__all__ = [
    "AskError", "AsyncConnection", "AsyncPipeline", "AsyncPubSub", "ClusterClient",
    "ClusterError", "Connection", "ConnectionError", "InvalidReply", "Message", "MovedError",
    "Pipeline", "PubSub", "RespError", "ResponseError", "TimeoutError", "WatchError",
    "WrongTypeError", "connect", "connect_async", "key_slot",
]  # fmt: skip
