"""A small RPC on msgpack: length-prefixed frames, request ids, typed errors.

Layout: ``_core`` is the sans-IO part (the frame grammar, message types, the
error hierarchy, ``FrameDecoder``); ``_aio`` puts it on sockets: ``serve_methods``
turns a dict of coroutines into a netlib.shell handler, ``RpcClient`` is one
multiplexed connection, ``Peers`` a connection per address. GFS's master,
chunkservers and client (N18) all speak it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# Lazy (PEP 562): ``import netlib.rpc._core`` must pull in no event loop.
_AIO = {"MAX_INFLIGHT", "Peers", "RpcClient", "serve_methods"}

__all__ = [
    "DEFAULT_MAX_FRAME", "MAX_INFLIGHT", "AppError", "BadFrame", "BadParams", "ConnectionLost",
    "FrameDecoder", "Peers", "RemoteError", "Request", "Response", "RpcClient", "RpcError",
    "UnknownMethod", "decode_body", "encode_request", "encode_response", "serve_methods",
]  # fmt: skip


__getattr__ = lazy_exports(__name__, {n: "_aio" if n in _AIO else "_core" for n in __all__})


if TYPE_CHECKING:
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
