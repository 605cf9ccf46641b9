"""Conditional and range decisions, table by table (netlib.http.conditional is pure)."""

import pytest

from netlib.http.conditional import (
    MAX_RANGES,
    UNSATISFIABLE,
    _date,
    accepts_gzip,
    coalesce,
    if_range_holds,
    multipart,
    not_modified,
    parse_ranges,
)


@pytest.mark.parametrize("value,size,expected", [
    ("bytes=0-0", 1, [(0, 0)]),
    ("bytes=2-5", 10, [(2, 5)]),
    ("bytes=7-", 10, [(7, 9)]),
    ("bytes=-3", 10, [(7, 9)]),
    ("bytes=-5", 3, [(0, 2)]),  # a suffix longer than the file: all of it
    ("bytes=5-100", 10, [(5, 9)]),
    ("bytes=0-1,5-9", 10, [(0, 1), (5, 9)]),
    ("bytes=5-9,0-1", 10, [(5, 9), (0, 1)]),  # disjoint: the order asked is kept
    ("bytes=0-0,-1", 10, [(0, 0), (9, 9)]),
    ("bytes=0-3,2-5", 10, [(0, 5)]),  # overlapping: merged
    ("bytes=4-5,0-1,2-3", 10, [(0, 5)]),  # touching: merged, ascending
    ("bytes=0-,0-,0-", 10, [(0, 9)]),  # CVE-2011-3192's shape: the file once
    ("BYTES = 1-2", 10, [(1, 2)]),  # the unit is case-insensitive
    ("bytes= 1 - 2 , ,", 10, [(1, 2)]),  # optional whitespace, empty list elements
    ("bytes=10-", 10, UNSATISFIABLE),
    ("bytes=-0", 10, UNSATISFIABLE),
    ("bytes=0-", 0, UNSATISFIABLE),
    ("bytes=-1", 0, UNSATISFIABLE),
    ("bytes=20-30,40-", 10, UNSATISFIABLE),
    ("bytes=20-30,1-1", 10, [(1, 1)]),  # the unsatisfiable spec is dropped
    ("bytes=99999999999999999999999999-", 10, UNSATISFIABLE),  # huge: beyond any file
    ("bytes=0-99999999999999999999999999", 10, [(0, 9)]),
    ("bytes=" + "9" * 5000 + "-", 10, UNSATISFIABLE),  # past int()'s digit limit: no crash
    ("bytes=5-2", 10, None),  # invalid spec: the header is ignored
    ("bytes=1-2,5-2", 10, None),
    ("items=0-1", 10, None),
    ("bytes=a-b", 10, None),
    ("bytes=-", 10, None),
    ("bytes=", 10, None),
    ("bytes=,", 10, None),
    ("bytes", 10, None),
    ("bytes=\u00b2-", 10, None),  # a Latin-1 superscript two is not a digit here
    ("bytes=\u0661-", 10, None),  # nor an Arabic-Indic one
    ("bytes=1-2;3-4", 10, None),
])  # fmt: skip
def test_parse_ranges(value, size, expected):
    assert parse_ranges(value, size) == expected


def test_too_many_ranges_are_ignored_not_served():
    ok = ",".join(f"{2 * i}-{2 * i}" for i in range(MAX_RANGES))
    assert len(parse_ranges("bytes=" + ok, 1000)) == MAX_RANGES  # type: ignore[arg-type]
    too_many = ",".join(f"{2 * i}-{2 * i}" for i in range(MAX_RANGES + 1))
    assert parse_ranges("bytes=" + too_many, 1000) is None
    assert parse_ranges("bytes=" + ",".join(["0-"] * 1000), 1000) is None


def test_coalesce_keeps_disjoint_order_and_merges_overlaps():
    assert coalesce([(5, 6), (0, 1)]) == [(5, 6), (0, 1)]
    assert coalesce([(5, 9), (0, 5)]) == [(0, 9)]
    assert coalesce([(0, 0), (1, 1), (3, 3)]) == [(0, 1), (3, 3)]
    assert coalesce([]) == []


def test_multipart_layout_and_length():
    pieces, length = multipart([(0, 1), (5, 9)], 10, "text/plain", "B")
    assert pieces == [
        b"\r\n--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 0-1/10\r\n\r\n", (0, 2),
        b"\r\n--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 5-9/10\r\n\r\n", (5, 5),
        b"\r\n--B--\r\n",
    ]  # fmt: skip
    assert length == sum(len(p) if isinstance(p, bytes) else p[1] for p in pieces)


ETAG = '"a-1"'
LM = "Wed, 01 Jan 2020 00:00:00 GMT"
MTIME = 1577836800


@pytest.mark.parametrize("inm,ims,expected", [
    (ETAG, None, True),
    ('"x", W/"a-1"', None, True),  # weak comparison
    ("*", None, True),
    ('"x"', None, False),
    ('"x"', LM, False),  # If-None-Match wins over If-Modified-Since
    (None, LM, True),
    (None, "Tue, 31 Dec 2019 23:59:59 GMT", False),
    (None, "not a date", False),
    (None, None, False),
])  # fmt: skip
def test_not_modified(inm, ims, expected):
    assert not_modified(inm, ims, ETAG, MTIME) is expected


@pytest.mark.parametrize("value,now,expected", [
    (ETAG, MTIME + 10, True),
    ('"other"', MTIME + 10, False),
    ('W/"a-1"', MTIME + 10, False),  # If-Range compares strongly: a weak tag never matches
    (LM, MTIME + 10, True),
    ("Wednesday, 01-Jan-20 00:00:00 GMT", MTIME + 10, True),  # RFC 850 form
    ("Wed Jan  1 00:00:00 2020", MTIME + 10, True),  # asctime form
    ("Wed, 01 Jan 2020 00:00:01 GMT", MTIME + 10, False),  # a date must be exactly Last-Modified
    (LM, MTIME, False),  # modified within the second: the date is a weak validator
    ("garbage", MTIME + 10, False),
])  # fmt: skip
def test_if_range(value, now, expected):
    assert if_range_holds(value, ETAG, MTIME, now) is expected


@pytest.mark.parametrize("value,expected", [
    ("gzip", True), ("gzip, deflate, br", True), ("GZIP;q=0.5", True), ("x-gzip", True),
    ("gzip;q=0", False), ("gzip; q=0.0, *", False), ("br", False), ("*", True),
    ("*;q=0", False), ("identity", False), ("", False), ("gzip;q=bogus", False),
])  # fmt: skip
def test_accepts_gzip(value, expected):
    assert accepts_gzip(value) is expected


def test_http_dates():
    assert _date("Thu, 01 Jan 1970 00:00:10 GMT") == 10
    assert _date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777
    assert _date("x" * 1000) is None
