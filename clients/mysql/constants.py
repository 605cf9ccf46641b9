"""Numbers from the MySQL/MariaDB client/server protocol, in one place.

Values come from the MariaDB protocol documentation ("Client/Server Protocol")
and MySQL's ``include/mysql_com.h``. Reader and writer import the same names so
they cannot disagree.
"""

from __future__ import annotations

# -- framing ---------------------------------------------------------------
HEADER_SIZE = 4  # 3-byte little-endian payload length + 1-byte sequence id
MAX_PACKET_CHUNK = 0xFFFFFF  # a payload this long continues in the next packet (16MB - 1)
# The largest logical payload we accept from a server (joined from 16MB chunks).
# MariaDB's max_allowed_packet tops out at 1GB; 256MB is far beyond any row this
# lab stores and bounds what a broken or hostile server can make us buffer.
MAX_PAYLOAD = 256 * 1024 * 1024
# Bytes asked of the socket per read: large enough that a result-set burst comes
# in few syscalls, small enough not to matter for memory.
RECV_SIZE = 256 * 1024

# -- capability flags (Protocol::CapabilityFlags) ----------------------------
CLIENT_LONG_PASSWORD = 1
CLIENT_FOUND_ROWS = 1 << 1
CLIENT_LONG_FLAG = 1 << 2
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_LOCAL_FILES = 1 << 7
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_INTERACTIVE = 1 << 10
CLIENT_SSL = 1 << 11
CLIENT_TRANSACTIONS = 1 << 13
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PS_MULTI_RESULTS = 1 << 18
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_CONNECT_ATTRS = 1 << 20
CLIENT_PLUGIN_AUTH_LENENC_DATA = 1 << 21
CLIENT_SESSION_TRACK = 1 << 23
CLIENT_DEPRECATE_EOF = 1 << 24

# What this client always asks for (the server must offer PROTOCOL_41 and
# SECURE_CONNECTION; everything older than MySQL 4.1 is out of scope).
BASE_CAPABILITIES = (
    CLIENT_LONG_PASSWORD
    | CLIENT_LONG_FLAG
    | CLIENT_PROTOCOL_41
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_PLUGIN_AUTH_LENENC_DATA
    | CLIENT_SESSION_TRACK  # the server reports SET NAMES etc. in OK packets (escaping needs it)
)
REQUIRED_SERVER_CAPABILITIES = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION

# -- server status flags (in OK and EOF packets) -------------------------------
SERVER_STATUS_IN_TRANS = 1
SERVER_STATUS_AUTOCOMMIT = 2
SERVER_MORE_RESULTS_EXISTS = 8
SERVER_STATUS_NO_BACKSLASH_ESCAPES = 512
SERVER_SESSION_STATE_CHANGED = 1 << 14
SESSION_TRACK_SYSTEM_VARIABLES = 0  # a session-state entry: name and new value

# -- commands ------------------------------------------------------------------
COM_QUIT = 0x01
COM_INIT_DB = 0x02
COM_QUERY = 0x03
COM_PING = 0x0E
COM_STMT_PREPARE = 0x16
COM_STMT_EXECUTE = 0x17
COM_STMT_CLOSE = 0x19
COM_STMT_RESET = 0x1A

# -- packet headers ----------------------------------------------------------------
OK_HEADER = 0x00
EOF_HEADER = 0xFE
ERR_HEADER = 0xFF
LOCAL_INFILE_HEADER = 0xFB
AUTH_SWITCH_HEADER = 0xFE
AUTH_MORE_DATA_HEADER = 0x01

# -- charsets ------------------------------------------------------------------------
UTF8MB4_GENERAL_CI = 45  # the collation id sent in the handshake response
BINARY_CHARSET = 63  # a column in this "charset" holds bytes, not text

# -- column types (enum_field_types) -----------------------------------------------
T_DECIMAL = 0
T_TINY = 1
T_SHORT = 2
T_LONG = 3
T_FLOAT = 4
T_DOUBLE = 5
T_NULL = 6
T_TIMESTAMP = 7
T_LONGLONG = 8
T_INT24 = 9
T_DATE = 10
T_TIME = 11
T_DATETIME = 12
T_YEAR = 13
T_NEWDATE = 14
T_VARCHAR = 15
T_BIT = 16
T_JSON = 245
T_NEWDECIMAL = 246
T_ENUM = 247
T_SET = 248
T_TINY_BLOB = 249
T_MEDIUM_BLOB = 250
T_LONG_BLOB = 251
T_BLOB = 252
T_VAR_STRING = 253
T_STRING = 254
T_GEOMETRY = 255

# -- column flags ------------------------------------------------------------------
FLAG_NOT_NULL = 1
FLAG_PRI_KEY = 2
FLAG_UNSIGNED = 32
FLAG_BINARY = 128

# -- auth plugins --------------------------------------------------------------------
NATIVE_PASSWORD = "mysql_native_password"
SCRAMBLE_LENGTH = 20
