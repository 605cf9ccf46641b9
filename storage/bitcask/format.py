"""Bitcask's payloads inside the shared record format, and its file names.

Every data and hint file is a sequence of ``storage.record`` records (CRC-32C,
length, type) opened by a FILE_HEADER of kind ``bitcask-data`` or
``bitcask-hint``; the payload layouts are in the Bitcask section of
``storage/FORMAT.md``. Reader and writer share the constants below.

Why a logical timestamp instead of the wall clock: start-up and merge decide
which of two records for one key is newer by ``ts``, not by file order (merge
output files get ids *above* the active file). ``ts`` is the wall clock in
nanoseconds but never goes backwards within one directory (``max(now, last+1)``),
so it is unique and monotonic even if the clock steps back.
"""

from __future__ import annotations

import re
import struct
from typing import NamedTuple

from storage.record import FIRST_ENGINE_TYPE, MAX_PAYLOAD

DATA_KIND = "bitcask-data"
HINT_KIND = "bitcask-hint"

# Record types (storage/FORMAT.md reserves 16..255 for engines).
T_PUT = FIRST_ENGINE_TYPE  # 16: ts key value
T_DELETE = FIRST_ENGINE_TYPE + 1  # 17: ts key  (the tombstone)
T_HINT_PUT = FIRST_ENGINE_TYPE + 2  # 18: ts offset size key
T_HINT_DELETE = FIRST_ENGINE_TYPE + 3  # 19: ts key
T_HINT_END = FIRST_ENGINE_TYPE + 4  # 20: count data_size  (last record of a whole hint file)
T_RETIRE = FIRST_ENGINE_TYPE + 5  # 21: file ids a committed merge replaced (MERGE-RETIRE)

RETIRE_KIND = "bitcask-retire"

PUT_FIELDS = struct.Struct("<QI")  # ts, key length; then key, then value
HINT_PUT_FIELDS = struct.Struct("<QQII")  # ts, record offset, record size, key length; then key
HINT_DEL_FIELDS = struct.Struct("<QI")  # ts, key length; then key
HINT_END_FIELDS = struct.Struct("<QQ")  # entries, data file size the hint describes

# Keys are names, not blobs: 64 KiB is Riak's practical ceiling and keeps the
# keydir (which holds every key in memory) from being blown up by one request.
MAX_KEY_SIZE = 64 * 1024
# A value must fit one record: the record format refuses payloads over MAX_PAYLOAD.
MAX_VALUE_SIZE = MAX_PAYLOAD - PUT_FIELDS.size - MAX_KEY_SIZE

_DATA_NAME = re.compile(r"^(\d{9})\.data$")


def data_name(file_id: int) -> str:
    return f"{file_id:09d}.data"


def hint_name(file_id: int) -> str:
    return f"{file_id:09d}.hint"


def parse_data_name(name: str) -> int | None:
    m = _DATA_NAME.match(name)
    return int(m.group(1)) if m else None


class Entry(NamedTuple):
    """One record of a data file or hint file, decoded (value left out).

    A NamedTuple, not a dataclass: start-up makes one per key, and a tuple is
    built several times faster.
    """

    key: bytes
    ts: int
    deleted: bool
    offset: int = 0  # where the data record starts (puts only)
    size: int = 0  # the data record's size, header included (puts only)


def put_payload(ts: int, key: bytes, value: bytes) -> bytes:
    return PUT_FIELDS.pack(ts, len(key)) + key + value


def delete_payload(ts: int, key: bytes) -> bytes:
    return PUT_FIELDS.pack(ts, len(key)) + key


def split_data(payload: bytes) -> tuple[int, bytes, bytes]:
    """(ts, key, value) of a PUT or DELETE payload (value is b"" for a DELETE)."""
    ts, klen = PUT_FIELDS.unpack_from(payload)
    start = PUT_FIELDS.size
    return ts, payload[start : start + klen], payload[start + klen :]


def hint_put(ts: int, offset: int, size: int, key: bytes) -> bytes:
    return HINT_PUT_FIELDS.pack(ts, offset, size, len(key)) + key


def hint_delete(ts: int, key: bytes) -> bytes:
    return HINT_DEL_FIELDS.pack(ts, len(key)) + key


def hint_end(count: int, data_size: int) -> bytes:
    return HINT_END_FIELDS.pack(count, data_size)


def decode_hint(rtype: int, payload: bytes) -> Entry:
    if rtype == T_HINT_PUT:
        ts, off, size, klen = HINT_PUT_FIELDS.unpack_from(payload)
        return Entry(
            payload[HINT_PUT_FIELDS.size : HINT_PUT_FIELDS.size + klen], ts, False, off, size
        )
    ts, klen = HINT_DEL_FIELDS.unpack_from(payload)
    return Entry(payload[HINT_DEL_FIELDS.size : HINT_DEL_FIELDS.size + klen], ts, True)


def decode_end(payload: bytes) -> tuple[int, int]:
    count, size = HINT_END_FIELDS.unpack(payload)
    return count, size
