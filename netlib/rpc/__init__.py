"""A small RPC on msgpack: length-prefixed frames, request ids, typed errors.

Layout: ``_core`` is the sans-IO part (the frame grammar, message types, the
error hierarchy, ``FrameDecoder``); ``_aio`` puts it on sockets: ``serve_methods``
turns a dict of coroutines into a netlib.shell handler, ``RpcClient`` is one
multiplexed connection, ``Peers`` a connection per address. GFS's master,
chunkservers and client (N18) all speak it.
"""

from ._aio import MAX_INFLIGHT, Peers, RpcClient, serve_methods
from ._core import (
    DEFAULT_MAX_FRAME,
    AppError,
    BadFrame,
    BadParams,
    ConnectionLost,
    FrameDecoder,
    RemoteError,
    Request,
    Response,
    RpcError,
    UnknownMethod,
    decode_body,
    encode_request,
    encode_response,
)

__all__ = [
    "DEFAULT_MAX_FRAME", "MAX_INFLIGHT", "AppError", "BadFrame", "BadParams", "ConnectionLost",
    "FrameDecoder", "Peers", "RemoteError", "Request", "Response", "RpcClient", "RpcError",
    "UnknownMethod", "decode_body", "encode_request", "encode_response", "serve_methods",
]  # fmt: skip
