"""The Kafka wire protocol, sans-IO: imported by ``servers.kafka`` and ``clients.kafka``.

Layout: ``primitives`` (INT32, VARINT, COMPACT_STRING...), ``schema`` (a small
field-list language compiled per version), ``apis`` (the schemas of the APIs we
speak and the version ranges we implement), ``framing`` (size-prefixed frames,
request/response headers, ``RemoteProtocolError``), ``records`` (record batch
v2 with CRC-32C), ``errors`` (error codes). No module here imports a socket.
"""

from .apis import APIS, Api
from .framing import (
    MAX_FRAME,
    FrameReader,
    RemoteProtocolError,
    Request,
    encode_request,
    encode_response,
    parse_request,
    parse_response,
)

__all__ = [
    "APIS", "Api", "MAX_FRAME", "FrameReader", "RemoteProtocolError", "Request",
    "encode_request", "encode_response", "parse_request", "parse_response",
]  # fmt: skip
