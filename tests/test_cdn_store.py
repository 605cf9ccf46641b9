"""The edge's store: LRU bounded in bytes, Vary variants, and the disk tier of checksummed records."""

from __future__ import annotations

from pathlib import Path

import pytest

from servers.cdn.policy import Fields, Stored
from servers.cdn.store import MAX_VARIANTS, Store

pytestmark = pytest.mark.exercise("N8")
NO_FIELDS = Fields({})


def entry(size: int, vary: dict[str, str] | None = None, tag: bytes = b"x") -> Stored:
    return Stored(200, [("etag", '"e"')], tag * size, 1.0, 2.0, vary or {})


def test_lru_evicts_the_least_recently_used_by_bytes() -> None:
    s = Store(max_bytes=3 * entry(1000).size)
    for k in "abc":
        assert s.put(k, entry(1000))
    s.lookup("a", NO_FIELDS)  # a is now the most recent
    s.put("d", entry(1000))
    assert s.lookup("b", NO_FIELDS) is None
    assert all(s.lookup(k, NO_FIELDS) is not None for k in "acd")
    assert s.mem_bytes <= s.max_bytes and s.evictions == 1


def test_an_entry_larger_than_the_cache_is_refused() -> None:
    s = Store(max_bytes=500)
    assert not s.put("big", entry(1000)) and len(s) == 0


def test_variants_are_kept_per_vary_selection_and_bounded() -> None:
    s = Store(max_bytes=10**6)
    for i in range(MAX_VARIANTS + 5):
        s.put("k", entry(10, {"accept-language": f"l{i}"}, tag=b"%d" % i))
    assert len(s.mem["k"]) == MAX_VARIANTS
    hit = s.lookup("k", Fields({"accept-language": f"l{MAX_VARIANTS + 4}"}))
    assert hit is not None and hit.body.startswith(b"%d" % (MAX_VARIANTS + 4))
    assert s.lookup("k", Fields({"accept-language": "l0"})) is None  # the oldest variant went


def test_the_disk_tier_keeps_what_memory_evicts(tmp_path: Path) -> None:
    s = Store(max_bytes=2 * entry(1000).size, disk_dir=tmp_path, disk_bytes=10**6)
    for k in "abc":
        s.put(k, entry(1000, {"accept": "x"}, tag=k.encode()))
    assert "a" not in s.mem and "a" in s.disk and len(list(tmp_path.glob("*.entry"))) == 1
    got = s.lookup("a", Fields({"accept": "x"}))
    assert got is not None and got.body == b"a" * 1000 and got.headers == [("etag", '"e"')]
    assert "a" in s.mem and "a" not in s.disk  # promoted back; b went to disk instead
    assert s.purge_prefix("") == 3 and not list(tmp_path.glob("*.entry"))


def test_the_disk_tier_is_bounded_too(tmp_path: Path) -> None:
    one = entry(1000).size
    s = Store(max_bytes=one, disk_dir=tmp_path, disk_bytes=int(2.5 * one))
    for k in "abcde":
        s.put(k, entry(1000))
    assert s.disk_bytes <= int(2.5 * one) and list(s.disk) == ["c", "d"]


def test_a_corrupt_disk_entry_is_a_miss_and_is_dropped(tmp_path: Path) -> None:
    s = Store(max_bytes=entry(1000).size, disk_dir=tmp_path, disk_bytes=10**6)
    s.put("a", entry(1000))
    s.put("b", entry(1000))
    (path,) = tmp_path.glob("*.entry")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert s.lookup("a", NO_FIELDS) is None
    assert not path.exists() and "a" not in s.disk


def test_a_restart_starts_cold(tmp_path: Path) -> None:
    s = Store(max_bytes=entry(1000).size, disk_dir=tmp_path, disk_bytes=10**6)
    s.put("a", entry(1000))
    s.put("b", entry(1000))
    assert list(tmp_path.glob("*.entry"))
    Store(max_bytes=100, disk_dir=tmp_path, disk_bytes=10**6)
    assert not list(tmp_path.glob("*.entry"))
