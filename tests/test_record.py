"""The checksummed record format: named after the edge cases (leveldb style)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.record import (
    HEADER_SIZE,
    Corruption,
    Reader,
    Writer,
    encode,
    file_header,
    file_kind,
    read_file,
)

pytestmark = pytest.mark.exercise("S3")


def _three(payloads=(b"alpha", b"beta", b"gamma")):
    return file_header("test") + b"".join(encode(16, p) for p in payloads)


def test_roundtrip_of_whole_file():
    r = Reader(_three())
    recs = list(r)
    assert file_kind(recs[0]) == "test"
    assert [x.payload for x in recs[1:]] == [b"alpha", b"beta", b"gamma"]
    assert r.torn_at is None


@pytest.mark.parametrize("cut", range(1, 5 + HEADER_SIZE))
def test_truncated_trailing_record_is_ignored(cut):
    data = _three()
    r = Reader(data[:-cut])
    recs = list(r)
    assert [x.payload for x in recs[1:]] == [b"alpha", b"beta"]
    assert r.torn_at == len(data) - len(encode(16, b"gamma"))


def test_zero_filled_tail_is_a_torn_tail_not_corruption():
    data = _three() + b"\0" * 100
    r = Reader(data)
    assert len(list(r)) == 4 and r.torn_at == len(_three())


def test_bad_checksum_in_last_record_is_torn_tail():
    data = bytearray(_three())
    data[-1] ^= 0xFF
    r = Reader(bytes(data))
    assert [x.payload for x in list(r)[1:]] == [b"alpha", b"beta"]
    assert r.torn_at is not None


def test_bad_checksum_in_the_middle_is_reported_with_its_offset():
    data = bytearray(_three())
    off = len(file_header("test")) + len(encode(16, b"alpha"))  # the "beta" record
    data[off + HEADER_SIZE] ^= 0x01
    with pytest.raises(Corruption) as e:
        list(Reader(bytes(data), "x.log"))
    assert e.value.offset == off and e.value.file == "x.log"


def test_every_single_byte_flip_is_caught_or_is_the_tail():
    clean = _three()
    expected = [b"alpha", b"beta", b"gamma"]
    for i in range(len(clean)):
        data = bytearray(clean)
        data[i] ^= 0x40
        try:
            got = [x.payload for x in list(Reader(bytes(data)))[1:]]
        except Corruption:
            continue
        # never garbage: only a clean prefix of what was written
        assert got == expected[: len(got)] and len(got) < 3, (i, got)


def test_writer_truncates_a_torn_tail_before_appending(tmp_path):
    p = tmp_path / "f.log"
    with Writer(p, "test") as w:
        w.append(16, b"one")
        w.append(16, b"two")
    size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(size - 2)  # tear "two"
    with Writer(p, "test") as w:
        w.append(16, b"three")
    recs, torn = read_file(p)
    assert [r.payload for r in recs[1:]] == [b"one", b"three"] and torn is None


@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_any_prefix_of_a_file_reads_as_a_prefix_of_its_records(payloads, data):
    buf = file_header("p") + b"".join(encode(16, p) for p in payloads)
    cut = data.draw(st.integers(0, len(buf)))
    got = [r.payload for r in Reader(buf[:cut])]
    assert got[1:] == payloads[: max(0, len(got) - 1)]


def test_flipped_length_in_the_middle_is_corruption_not_a_torn_tail():
    """A length bit flip makes a middle record "run past the end"; the records behind it
    are still whole, so dropping them as a torn tail would lose acknowledged data."""
    clean = _three()
    off = len(file_header("test")) + len(encode(16, b"alpha"))  # the "beta" record
    for byte in range(4, 8):  # each byte of the length field
        data = bytearray(clean)
        data[off + byte] ^= 0x10
        with pytest.raises(Corruption) as e:
            list(Reader(bytes(data), "x.log"))
        assert e.value.offset == off


def test_torn_last_record_whose_length_runs_past_the_end_is_still_a_tail():
    data = _three() + encode(16, b"x" * 500)[:200]
    r = Reader(data)
    assert [x.payload for x in list(r)[1:]] == [b"alpha", b"beta", b"gamma"]
    assert r.torn_at == len(_three())


def test_write_atomically_replaces_whole_and_leaves_no_temp(tmp_path):
    from storage.record import write_atomically

    p = tmp_path / "f.hint"
    write_atomically(p, [b"old"])
    write_atomically(p, [b"new ", b"content"])
    assert p.read_bytes() == b"new content" and not list(tmp_path.glob("*.tmp"))


def test_flipped_length_that_swallows_the_records_behind_it_is_corruption():
    """The length grows to end just before trailing zero bytes (a last record's u64 high
    bytes): "only zeros follow" must not make the whole records it swallowed a tail."""
    last = encode(20, (7).to_bytes(8, "little"))  # ends in seven zero bytes
    clean = file_header("test") + encode(16, b"alpha") + encode(16, b"beta") + last
    off = len(file_header("test"))
    data = bytearray(clean)
    new_len = len(clean) - off - HEADER_SIZE - 3  # "ends" 3 bytes before EOF, all zeros
    data[off + 4 : off + 8] = new_len.to_bytes(4, "little")
    with pytest.raises(Corruption) as e:
        list(Reader(bytes(data), "x.log"))
    assert e.value.offset == off


def test_a_torn_multi_megabyte_value_is_judged_in_linear_time(monkeypatch):
    """A crash tears a 4 MiB random value: its bytes hold ~80k things that look like
    record headers. Checksumming each one's claimed extent would be quadratic (a
    torn 16 MiB value took 70 s); the reader may checksum only a few times the file."""
    import random

    import storage.record as record

    payload = random.Random(7).randbytes(4 << 20)
    data = _three() + encode(16, payload)[: 2 << 20]
    hashed = 0
    real = record.crc32c

    def counting(b: bytes) -> int:
        nonlocal hashed
        hashed += len(b)
        return real(b)

    monkeypatch.setattr(record, "crc32c", counting)
    r = Reader(data)
    assert len(list(r)) == 4 and r.torn_at == len(_three())
    assert hashed < 4 * len(data)


def test_damaged_length_and_a_torn_last_record_together_are_corruption():
    """Two faults at once: bit rot in a middle length, and the crash that tore the last
    append. The whole records between them still make it Corruption, not a tail."""
    clean = _three() + encode(16, b"delta" * 20)
    torn = clean[:-30]
    off = len(file_header("test")) + len(encode(16, b"alpha"))
    data = bytearray(torn)
    data[off + 6] ^= 0x01  # the "beta" record now claims ~64 KiB
    with pytest.raises(Corruption) as e:
        list(Reader(bytes(data), "x.log"))
    assert e.value.offset == off
