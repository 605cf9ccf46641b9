"""S9: the plain and the deletable Bloom filter: no false negatives, rates near the formula,
union, deletes that never create a false negative, checksummed serialisation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.bloom import (
    BadFilter,
    BloomFilter,
    DeletableBloomFilter,
    false_positive_rate,
    optimal_k,
    optimal_m,
    probes,
)

pytestmark = pytest.mark.exercise("S9")

KEYS = [b"key-%d" % i for i in range(2000)]
ABSENT = [b"absent-%d" % i for i in range(20000)]


def test_probes_are_deterministic_across_processes():
    # Computed once and written down: a salted hash() would change it per process.
    assert probes(b"hello", 3, 1000) == probes(b"hello", 3, 1000)
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "from storage.bloom import probes; print(probes(b'hello', 3, 1000))"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == str(probes(b"hello", 3, 1000))


def test_sizing_formulas_match_the_textbook():
    m = optimal_m(1000, 0.01)
    assert 9500 < m < 9700  # 9.59 bits per key
    assert optimal_k(m, 1000) == 7
    assert false_positive_rate(m, 7, 1000) == pytest.approx(0.01, rel=0.05)


def test_no_false_negatives_and_rate_near_the_formula():
    f = BloomFilter.for_capacity(len(KEYS), 0.01)
    f.update(KEYS)
    assert all(k in f for k in KEYS)
    rate = sum(k in f for k in ABSENT) / len(ABSENT)
    assert 0.004 < rate < 0.02, rate  # formula: 0.010; 20k trials: sd 0.0007


def test_union_holds_both_sets_and_refuses_other_shapes():
    a, b = BloomFilter(4096, 4), BloomFilter(4096, 4)
    a.update(KEYS[:100])
    b.update(KEYS[100:200])
    u = a | b
    assert all(k in u for k in KEYS[:200])
    assert u.count == 200 and u.bits_set() >= max(a.bits_set(), b.bits_set())
    with pytest.raises(ValueError):
        a.union(BloomFilter(4096, 5))


def test_serialised_filter_round_trips():
    f = BloomFilter(1000, 3)
    f.update(KEYS[:50])
    g = BloomFilter.from_bytes(f.to_bytes())
    assert g == f and g.count == 50


@pytest.mark.parametrize("cls", ["plain", "deletable"])
def test_flipped_byte_in_a_serialised_filter_is_refused(cls):
    f = BloomFilter(1000, 3) if cls == "plain" else DeletableBloomFilter(1000, 3, 10)
    f.add(b"x")
    data = bytearray(f.to_bytes())
    for pos in (0, 6, 12, len(data) // 2, len(data) - 1):
        bad = bytearray(data)
        bad[pos] ^= 0x40
        with pytest.raises(BadFilter):
            type(f).from_bytes(bytes(bad))
    with pytest.raises(BadFilter):
        type(f).from_bytes(bytes(data[:-3]))  # truncated
    with pytest.raises(BadFilter):
        BloomFilter.from_bytes(b"")


def test_deletable_filter_deletes_into_free_regions_only():
    d = DeletableBloomFilter(20000, 4, 500)
    for k in KEYS[:300]:
        d.add(k)
    assert all(k in d for k in KEYS[:300])
    deleted = [k for k in KEYS[:150] if d.delete(k)]
    assert deleted, "at this load most keys must be deletable"
    assert all(k not in d for k in deleted)
    assert all(k in d for k in KEYS[150:300])  # no false negative for what stays
    assert d.count == 300 - len(deleted)


def test_deletable_share_falls_as_the_filter_fills():
    d = DeletableBloomFilter(8000, 4, 200)
    shares = []
    for i, k in enumerate(KEYS[:1500]):
        d.add(k)
        if i + 1 in (100, 500, 1500):
            shares.append(sum(d.deletable(x) for x in KEYS[: i + 1]) / (i + 1))
    assert shares[0] > shares[1] > shares[2]
    assert shares[0] > 0.9


def test_deletable_round_trip_keeps_the_bitmap():
    d = DeletableBloomFilter(4000, 3, 40)
    for k in KEYS[:400]:
        d.add(k)
    e = DeletableBloomFilter.from_bytes(d.to_bytes())
    assert (e.bits, e.bitmap, e.count) == (d.bits, d.bitmap, d.count)
    assert [e.deletable(k) for k in KEYS[:400]] == [d.deletable(k) for k in KEYS[:400]]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=60, unique=True),
    st.data(),
)
def test_deleting_any_subset_never_loses_a_remaining_key(keys, data):
    d = DeletableBloomFilter(600, 3, 20)
    for k in keys:
        d.add(k)
    gone = data.draw(st.lists(st.sampled_from(keys), unique=True))
    for k in gone:
        d.delete(k)
    assert all(k in d for k in keys if k not in gone)
