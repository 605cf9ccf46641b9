"""Connection phase: the server's Handshake v10, our HandshakeResponse41, auth.

Strategy: parse the greeting into a ``Greeting``, answer with the
capabilities we want intersected with what the server offers, and compute the
auth data for the plugin the server names. ``mysql_native_password`` is
implemented (SHA1 scramble); ``caching_sha2_password``'s fast path is too (its
full path needs TLS or RSA, which this client does not speak, so it fails with
a clear ``AuthError``); any other plugin (e.g. MariaDB's ``client_ed25519``)
fails the same way instead of hanging.

MariaDB puts four extra capability bytes in the greeting's filler when the
server does not set CLIENT_MYSQL (bit 0); we answer them in the same place and
ask for MARIADB_CLIENT_EXTENDED_METADATA, which makes the server name a
column's format (``json``) in its definition so JSON columns decode to Python,
and for STMT_BULK_OPERATIONS (COM_STMT_BULK_EXECUTE: many parameter sets of a
prepared statement in one command, what ``executemany`` uses).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .constants import (
    BASE_CAPABILITIES,
    CLIENT_CONNECT_WITH_DB,
    CLIENT_DEPRECATE_EOF,
    CLIENT_LONG_PASSWORD,
    CLIENT_PLUGIN_AUTH,
    CLIENT_PLUGIN_AUTH_LENENC_DATA,
    NATIVE_PASSWORD,
    REQUIRED_SERVER_CAPABILITIES,
    UTF8MB4_GENERAL_CI,
)
from .errors import AuthError, ProtocolError
from .packets import Reader, lenenc_bytes

CACHING_SHA2 = "caching_sha2_password"
MAX_PACKET_SIZE = 1 << 30  # what we tell the server we accept: MariaDB's own maximum
MARIADB_CLIENT_EXTENDED_METADATA = 1 << 3  # bit 35 of the 64-bit caps, in the extra 4 bytes
MARIADB_CLIENT_STMT_BULK_OPERATIONS = 1 << 2  # bit 34: COM_STMT_BULK_EXECUTE
MARIADB_WANTED = MARIADB_CLIENT_EXTENDED_METADATA | MARIADB_CLIENT_STMT_BULK_OPERATIONS


@dataclass
class Greeting:
    """The fields of Handshake v10 this client uses."""

    protocol_version: int
    server_version: str
    connection_id: int
    scramble: bytes
    capabilities: int
    charset: int
    status: int
    auth_plugin: str
    mariadb_capabilities: int

    @property
    def is_mariadb(self) -> bool:
        return not self.capabilities & CLIENT_LONG_PASSWORD


def parse_greeting(payload: bytes) -> Greeting:
    r = Reader(payload)
    version = r.u8()
    if version != 10:
        raise ProtocolError(f"unsupported handshake protocol version {version}")
    server_version = r.nul_bytes().decode("utf-8", "replace")
    conn_id = r.uint(4)
    scramble = r.fixed(8)
    r.u8()  # filler
    caps = r.uint(2)
    charset = status = auth_len = maria = 0
    plugin = NATIVE_PASSWORD
    if r.remaining():
        charset = r.u8()
        status = r.uint(2)
        caps |= r.uint(2) << 16
        auth_len = r.u8()
        r.fixed(6)
        extra = r.uint(4)  # MariaDB capabilities, or filler for MySQL
        maria = 0 if caps & CLIENT_LONG_PASSWORD else extra
        # The second scramble part: max(13, len - 8) bytes, its last byte a NUL.
        part2 = r.fixed(max(13, auth_len - 8))
        scramble += part2.rstrip(b"\0")
        if caps & CLIENT_PLUGIN_AUTH and r.remaining():
            rest = r.rest()
            plugin = rest.split(b"\0", 1)[0].decode("ascii", "replace")
    if caps & REQUIRED_SERVER_CAPABILITIES != REQUIRED_SERVER_CAPABILITIES:
        raise ProtocolError("server lacks CLIENT_PROTOCOL_41/SECURE_CONNECTION (pre-4.1?)")
    return Greeting(
        version, server_version, conn_id, scramble, caps, charset, status, plugin, maria
    )


def scramble_native(password: bytes, nonce: bytes) -> bytes:
    """mysql_native_password: SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))."""
    if not password:
        return b""
    h1 = hashlib.sha1(password).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(nonce[:20] + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3, strict=True))


def scramble_caching_sha2(password: bytes, nonce: bytes) -> bytes:
    """caching_sha2_password fast path: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce)."""
    if not password:
        return b""
    p1 = hashlib.sha256(password).digest()
    p2 = hashlib.sha256(p1).digest()
    p3 = hashlib.sha256(p2 + nonce[:20]).digest()
    return bytes(a ^ b for a, b in zip(p1, p3, strict=True))


def auth_data(plugin: str, password: bytes, nonce: bytes) -> bytes:
    """The auth response for ``plugin``, or an AuthError naming what is missing."""
    if plugin == NATIVE_PASSWORD:
        return scramble_native(password, nonce)
    if plugin == CACHING_SHA2:
        return scramble_caching_sha2(password, nonce)
    raise AuthError(
        f"authentication plugin {plugin!r} is not supported by this client "
        f"(supported: {NATIVE_PASSWORD}, {CACHING_SHA2} fast path)"
    )


def client_capabilities(greeting: Greeting, database: str, deprecate_eof: bool) -> int:
    want = BASE_CAPABILITIES & ~CLIENT_LONG_PASSWORD  # bit 0 set would mean "not MariaDB-aware"
    if database:
        want |= CLIENT_CONNECT_WITH_DB
    if deprecate_eof:
        want |= CLIENT_DEPRECATE_EOF
    return want & greeting.capabilities


def handshake_response(
    greeting: Greeting, caps: int, user: str, auth: bytes, database: str, plugin: str
) -> bytes:
    """HandshakeResponse41."""
    maria = greeting.mariadb_capabilities & MARIADB_WANTED
    out = [
        caps.to_bytes(4, "little"),
        MAX_PACKET_SIZE.to_bytes(4, "little"),
        bytes((UTF8MB4_GENERAL_CI,)),
        b"\0" * 19,
        maria.to_bytes(4, "little") if greeting.is_mariadb else b"\0" * 4,
        user.encode() + b"\0",
    ]
    if caps & CLIENT_PLUGIN_AUTH_LENENC_DATA:
        out.append(lenenc_bytes(auth))
    else:
        out.append(bytes((len(auth),)) + auth)
    if caps & CLIENT_CONNECT_WITH_DB:
        out.append(database.encode() + b"\0")
    if caps & CLIENT_PLUGIN_AUTH:
        out.append(plugin.encode() + b"\0")
    return b"".join(out)


def parse_auth_switch(payload: bytes) -> tuple[str, bytes]:
    """AuthSwitchRequest (0xFE, plugin name NUL, plugin data) -> (plugin, nonce)."""
    r = Reader(payload, 1)
    plugin = r.nul_bytes().decode("ascii", "replace")
    return plugin, r.rest().rstrip(b"\0")
