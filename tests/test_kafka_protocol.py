"""The Kafka codec: primitives, schemas per version, framing fed byte by byte,
record batch v2 with CRC-32C, and the parser contract under random input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.kafka.protocol import apis
from clients.kafka.protocol import records as R
from clients.kafka.protocol.framing import (
    FrameReader,
    RemoteProtocolError,
    encode_request,
    encode_response,
    parse_request,
    parse_response,
)
from clients.kafka.protocol.primitives import Reader, Writer, encode_varint

pytestmark = pytest.mark.exercise("M1")


@pytest.mark.parametrize(
    "value,encoded",
    [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (63, b"\x7e"), (-64, b"\x7f"), (64, b"\x80\x01"),
     (300, b"\xd8\x04"), (-(2**63), b"\xff" * 9 + b"\x01")],
)  # fmt: skip
def test_zigzag_varints_match_the_protocol_guide(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert Reader(encoded).varint() == value


def test_compact_string_null_and_empty_differ() -> None:
    w = Writer()
    w.compact_string(None)
    w.compact_string("")
    w.compact_string("ab")
    assert bytes(w.buf) == b"\x00\x01\x03ab"
    r = Reader(bytes(w.buf))
    assert [r.compact_string(True), r.compact_string(True), r.compact_string()] == [None, "", "ab"]


def test_metadata_v0_request_exact_bytes() -> None:
    raw = encode_request(apis.METADATA, 0, 7, "c", {"topics": [{"name": "t"}]})
    assert raw == struct.pack(">ihhih", 18, 3, 0, 7, 1) + b"c" + struct.pack(">ih", 1, 1) + b"t"


def test_flexible_api_versions_v3_request_has_tagged_header() -> None:
    raw = encode_request(apis.API_VERSIONS, 3, 1, "c", {"client_software_name": "x",
                                                        "client_software_version": "1"})
    req = parse_request(raw[4:])
    assert not isinstance(req, tuple)
    assert req.body == {"client_software_name": "x", "client_software_version": "1"}
    # header: key, version, corr, client_id (STRING, not compact), empty tag section
    assert raw[4:16] == struct.pack(">hhih", 18, 3, 1, 1) + b"c" + b"\x00"


@pytest.mark.parametrize("api", list(apis.APIS.values()), ids=lambda a: a.name)
def test_every_version_round_trips_a_request_and_response(api: apis.Api) -> None:
    for v in range(api.lo, api.hi + 1):
        empty = api.request.decode(v, Reader(bytes(api.request.encode(v, {}).buf)))
        raw = encode_request(api, v, 42, "cid", empty)
        req = parse_request(raw[4:])
        assert not isinstance(req, tuple) and req.body == empty and req.correlation_id == 42
        resp = api.response.decode(v, Reader(bytes(api.response.encode(v, {}).buf)))
        corr, body = parse_response(api, v, encode_response(api, v, 9, resp)[4:])
        assert corr == 9 and body == resp


def test_frames_arrive_one_byte_at_a_time_and_pipelined() -> None:
    a = encode_request(apis.METADATA, 1, 1, None, {"topics": None})
    b = encode_request(apis.LIST_GROUPS, 0, 2, None, {})
    fr = FrameReader()
    got = []
    for byte in a + b:
        fr.feed(bytes([byte]))
        while (f := fr.next_frame()) is not None:
            got.append(f)
    assert got == [a[4:], b[4:]]


@pytest.mark.parametrize("size", [-1, 101 * 1024 * 1024])
def test_frame_size_outside_limits_is_a_protocol_error(size: int) -> None:
    fr = FrameReader()
    fr.feed(struct.pack(">i", size))
    with pytest.raises(RemoteProtocolError):
        fr.next_frame()


def test_unknown_api_and_version_are_reported_not_parsed() -> None:
    assert parse_request(struct.pack(">hhi", 999, 0, 5)) == (999, 0, 5)
    assert parse_request(struct.pack(">hhi", 18, 77, 6)) == (18, 77, 6)


def test_truncated_body_is_a_protocol_error_with_correlation_id() -> None:
    raw = encode_request(apis.PRODUCE, 3, 11, "c", {"acks": 1, "timeout_ms": 1, "topics": []})
    with pytest.raises(RemoteProtocolError) as e:
        parse_request(raw[4:-3])
    assert e.value.correlation_id == 11


def _batch() -> bytes:
    return R.encode_batch([(b"k", b"v", [("h", b"x")], 1000), (None, b"w", [], 1007)])


def test_record_batch_round_trip_and_header_fields() -> None:
    b = _batch()
    [info] = R.check_batches(b, 1 << 20)
    assert (info.count, info.base_timestamp, info.max_timestamp, info.size) == (2, 1000, 1007, len(b))
    recs = list(R.decode_batches(b))
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in recs] == [
        (0, 1000, b"k", b"v", [("h", b"x")]), (1, 1007, None, b"w", [])]


def test_base_offset_is_outside_the_crc() -> None:
    b = bytearray(_batch())
    R.set_base_offset(b, 0, 12345)
    R.check_batches(bytes(b), 1 << 20)
    assert [r.offset for r in R.decode_batches(bytes(b))] == [12345, 12346]


@pytest.mark.parametrize("pos", [21, 30, 61, -1])
def test_a_flipped_bit_fails_the_crc(pos: int) -> None:
    b = bytearray(_batch())
    b[pos] ^= 0x10
    with pytest.raises(R.CorruptBatch) as e:
        R.check_batches(bytes(b), 1 << 20)
    assert e.value.code == 2  # CORRUPT_MESSAGE


def test_gzip_batches_decode() -> None:
    b = R.encode_batch([(None, b"x" * 100, [], 5)] * 3, compression=R.COMPRESSION_GZIP)
    assert len(b) < 150
    assert [r.value for r in R.decode_batches(b)] == [b"x" * 100] * 3


def test_partial_last_batch_in_a_fetch_is_skipped() -> None:
    b = _batch() + _batch()
    assert len(list(R.decode_batches(b[:-5]))) == 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parse_request_only_ever_raises_the_protocol_error(data: bytes) -> None:
    try:
        parse_request(data)
    except RemoteProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 60))
def test_check_batches_only_ever_raises_corrupt_batch(noise: bytes, cut: int) -> None:
    data = _batch()[:cut] + noise
    try:
        R.check_batches(data, 1 << 20)
    except R.CorruptBatch:
        pass


def test_netlib_free_codec_imports_no_sockets() -> None:
    import pathlib

    root = pathlib.Path(apis.__file__).parent
    for f in root.glob("*.py"):
        text = f.read_text()
        for bad in ("import socket", "import asyncio", "import selectors"):
            assert bad not in text, f"{f.name} imports I/O"
