"""Sans-IO permessage-deflate (RFC 7692): the offer and answer, and the codec.

Negotiation (§7.1). A client offers ``permessage-deflate`` with parameters; the
server accepts one offer (its answer names the parameters in force) or declines
them all (the connection then runs uncompressed). The four parameters:

* ``server_no_context_takeover`` / ``client_no_context_takeover``: that side
  starts every message with an empty LZ77 window (less memory kept per
  connection, worse ratio on small similar messages).
* ``server_max_window_bits=N`` / ``client_max_window_bits[=N]``: that side's
  compressor uses a window of at most 2**N bytes (8 <= N <= 15). A client offers
  ``client_max_window_bits`` (maybe without a value) to say it can honour a limit.

An offer with an unknown, repeated or malformed parameter is declined (§7.1);
an answer like that fails the client's handshake. zlib cannot make a raw deflate
stream with a 256-byte window (it silently raises 8 to 9), so a side held to 8
bits compresses with Huffman coding only: no back-references at all, which any
window can read.

The codec. A message is deflated with a sync flush and the trailing
``00 00 ff ff`` dropped (§7.2.1); the receiver puts it back (§7.2.2). RSV1 on a
message's first frame says it is compressed. Inflation is bounded: past the
message limit it stops and the connection fails with 1009, so a small bomb
cannot make a large message.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .frames import INVALID_DATA, MESSAGE_TOO_BIG, ProtocolError

NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"
_PARAMS = frozenset(("server_no_context_takeover", "client_no_context_takeover",
                     "server_max_window_bits", "client_max_window_bits"))  # fmt: skip


class NegotiationError(ValueError):
    """An extension header or parameter that cannot be accepted."""


def parse_extensions(values: list[str]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """``Sec-WebSocket-Extensions`` values -> [(name, [(param, value or None)])], in order."""
    out = []
    for value in values:
        for item in value.split(","):
            parts = [p.strip() for p in item.split(";")]
            if not parts[0]:
                continue
            params: list[tuple[str, str | None]] = []
            for p in parts[1:]:
                if not p:
                    continue
                k, eq, v = p.partition("=")
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] == '"':
                    v = v[1:-1]
                params.append((k.strip().lower(), v if eq else None))
            out.append((parts[0].lower(), params))
    return out


@dataclass(frozen=True)
class DeflateParams:
    """The parameters in force on a connection (or what a side is willing to use)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def header(self, *, client_bits_offered: bool = False) -> str:
        """The answer (server) naming every parameter that differs from the default."""
        out = [NAME]
        if self.server_no_context_takeover:
            out.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            out.append("client_no_context_takeover")
        if self.server_max_window_bits < 15:
            out.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits < 15 and client_bits_offered:
            out.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(out)


def _bits(value: str | None, *, optional: bool) -> int | None:
    if value is None:
        if optional:
            return None
        raise NegotiationError("window bits need a value")
    if not value.isdigit() or value != str(int(value)) or not 8 <= int(value) <= 15:
        raise NegotiationError(f"window bits must be 8..15, not {value!r}")
    return int(value)


def _checked(params: list[tuple[str, str | None]], *, offer: bool) -> dict[str, str | None]:
    seen: dict[str, str | None] = {}
    for k, v in params:
        if k not in _PARAMS:
            raise NegotiationError(f"unknown parameter {k!r}")
        if k in seen:
            raise NegotiationError(f"parameter {k!r} repeated")
        if k.endswith("context_takeover") and v is not None:
            raise NegotiationError(f"{k} takes no value")
        if k.endswith("window_bits"):
            _bits(v, optional=offer and k == "client_max_window_bits")
        seen[k] = v
    return seen


def accept_offer(values: list[str], wanted: DeflateParams) -> tuple[DeflateParams, str] | None:
    """Server side: the first acceptable permessage-deflate offer -> (params in force,
    the answer header); None if there is none (the connection is uncompressed).
    ``wanted``: what this server asks for itself (no context takeover, smaller windows)."""
    for name, params in parse_extensions(values):
        if name != NAME:
            continue
        try:
            p = _checked(params, offer=True)
        except NegotiationError:
            continue  # a malformed offer is declined; a later one may do
        server_bits = wanted.server_max_window_bits
        if "server_max_window_bits" in p:
            server_bits = min(server_bits, int(p["server_max_window_bits"] or 15))
        client_bits = 15
        client_offered = "client_max_window_bits" in p
        if client_offered:
            client_bits = min(wanted.client_max_window_bits, int(p["client_max_window_bits"] or 15))
        agreed = DeflateParams(
            server_no_context_takeover="server_no_context_takeover" in p
            or wanted.server_no_context_takeover,
            client_no_context_takeover=wanted.client_no_context_takeover,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )
        header = agreed.header(client_bits_offered=client_offered)
        if "server_max_window_bits" in p and f"server_max_window_bits={server_bits}" not in header:
            header += f"; server_max_window_bits={server_bits}"  # asked for 15: say so anyway
        return agreed, header
    return None


def offer_header(wanted: DeflateParams | list[DeflateParams] | None = None) -> str:
    """Client side: the offer (several: alternatives in order of preference). We
    always say we can honour a client window limit."""
    if isinstance(wanted, list):
        return ", ".join(offer_header(w) for w in wanted)
    w = wanted or DeflateParams()
    out = [NAME]
    if w.server_no_context_takeover:
        out.append("server_no_context_takeover")
    if w.client_no_context_takeover:
        out.append("client_no_context_takeover")
    if w.server_max_window_bits < 15:
        out.append(f"server_max_window_bits={w.server_max_window_bits}")
    out.append("client_max_window_bits" if w.client_max_window_bits == 15
               else f"client_max_window_bits={w.client_max_window_bits}")  # fmt: skip
    return "; ".join(out)


def check_answer(
    values: list[str], offers: DeflateParams | list[DeflateParams]
) -> DeflateParams | None:
    """Client side: the server's answer -> the params in force; None if it declined.
    ``offers``: what we offered, in order. An answer that fits none of them raises
    ``NegotiationError``: fail the handshake (§7.1, "the client MUST _Fail the
    WebSocket Connection_")."""
    exts = parse_extensions(values)
    if not exts:
        return None
    if len(exts) > 1 or exts[0][0] != NAME:
        raise NegotiationError(f"server answered extensions we did not offer: {values!r}")
    p = _checked(exts[0][1], offer=False)
    why = "no offer"
    for offered in offers if isinstance(offers, list) else [offers]:
        try:
            return _fits(p, offered)
        except NegotiationError as e:
            why = str(e)
    raise NegotiationError(why)


def _fits(p: dict[str, str | None], offered: DeflateParams) -> DeflateParams:
    server_bits = int(p.get("server_max_window_bits") or 15)
    if server_bits > offered.server_max_window_bits:
        raise NegotiationError("server window larger than we asked for")
    if offered.server_no_context_takeover and "server_no_context_takeover" not in p:
        raise NegotiationError("server_no_context_takeover was asked for and not granted")
    client_bits = int(p.get("client_max_window_bits") or offered.client_max_window_bits)
    if client_bits > offered.client_max_window_bits:
        raise NegotiationError("client window larger than we offered")
    return DeflateParams(
        server_no_context_takeover="server_no_context_takeover" in p,
        # offered: a promise (§7.1.1.1) we keep even if the answer does not repeat it
        client_no_context_takeover="client_no_context_takeover" in p
        or offered.client_no_context_takeover,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
    )


def _compressor(bits: int, level: int) -> zlib._Compress:
    if bits == 8:  # no back-references at all: valid for a 256-byte window (see above)
        return zlib.compressobj(level, zlib.DEFLATED, -9, 8, zlib.Z_HUFFMAN_ONLY)
    return zlib.compressobj(level, zlib.DEFLATED, -bits, 8)


class PerMessageDeflate:
    """One connection's compressor and decompressor, as ``params`` and our role say."""

    def __init__(self, params: DeflateParams, *, server: bool, level: int = 6) -> None:
        self.params = params
        self.level = level
        if server:
            self.out_bits, self.out_reset = (params.server_max_window_bits,
                                             params.server_no_context_takeover)  # fmt: skip
            self.in_bits, self.in_reset = (params.client_max_window_bits,
                                           params.client_no_context_takeover)  # fmt: skip
        else:
            self.out_bits, self.out_reset = (params.client_max_window_bits,
                                             params.client_no_context_takeover)  # fmt: skip
            self.in_bits, self.in_reset = (params.server_max_window_bits,
                                           params.server_no_context_takeover)  # fmt: skip
        self._comp: zlib._Compress | None = None
        self._decomp: zlib._Decompress | None = None

    def compress(self, data: bytes) -> bytes:
        if self._comp is None or self.out_reset:
            self._comp = _compressor(self.out_bits, self.level)
        out = self._comp.compress(data) + self._comp.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(_TAIL) else out

    def start_message(self) -> None:
        if self._decomp is None or self.in_reset:
            # Inflate with the largest window: it reads any smaller one too.
            self._decomp = zlib.decompressobj(-15)

    def decompress(self, data: bytes, limit: int, final: bool) -> bytes:
        """Inflate one frame's payload; at most ``limit`` bytes, else 1009."""
        d = self._decomp
        assert d is not None, "start_message() first"
        try:
            out = d.decompress(data, limit + 1)
            if not d.unconsumed_tail and final and len(out) <= limit:
                out += d.decompress(_TAIL, limit + 1 - len(out))
        except zlib.error as e:
            raise ProtocolError(INVALID_DATA, f"bad deflate data: {e}") from None
        if len(out) > limit or d.unconsumed_tail:
            raise ProtocolError(MESSAGE_TOO_BIG, "message inflates past the limit")
        return out
