"""Conditional and range requests, sans-IO: header values in, decisions out.

What a file server must decide before it sends a byte, each a pure function of
header values and the file's validators (so each is table-tested on its own):

* ``precondition_failed``: If-Match (strong comparison) and If-Unmodified-Since,
  RFC 9110 §13.1.1 and §13.1.4 (a 412, as nginx answers);
* ``not_modified``: If-None-Match (weak comparison, and it overrides
  If-Modified-Since), RFC 9110 §13.1.2 and §13.1.3;
* ``if_range_holds``: If-Range with an entity-tag (strong comparison) or a date
  (exactly the Last-Modified, and only if that is a strong validator: the file
  is at least a second older than now), RFC 9110 §13.1.5;
* ``parse_ranges``: ``Range: bytes=...`` to the spans actually sent, RFC 9110
  §14.1.2 and §14.2: syntax errors and units other than bytes are ignored
  (whole file), unsatisfiable specs are dropped, none left is 416;
* ``multipart``: the ``multipart/byteranges`` body layout, RFC 9110 §14.6;
* ``accepts_gzip``: Accept-Encoding with q-values, RFC 9110 §12.5.3.

Defences against hostile Range headers (the Apache "Range: bytes=0-,0-,..." CVE-2011-3192
sent the same file hundreds of times over): at most ``MAX_RANGES`` specs, and
overlapping or touching spans are merged (RFC 9110 §14.3 allows coalescing), so
a response never carries more file bytes than the file has.
"""

from __future__ import annotations

import calendar
import re
import time

Span = tuple[int, int]  # (first byte, last byte), inclusive as on the wire
UNSATISFIABLE = "unsatisfiable"

# More range specs than this and the header is ignored (the whole file is sent, as
# RFC 9110 §14.2 allows). Apache's default MaxRanges is 200; real clients (video
# players, PDF viewers, download managers) ask for a handful. 32 is generous.
MAX_RANGES = 32
# A position with more digits is past any file (2**63 has 19): read as "infinity"
# rather than feeding int() thousands of digits.
MAX_DIGITS = 19
_HUGE = 1 << 63
_SPEC = re.compile(r"[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*", re.ASCII)
# Accept-Encoding element: coding, then optional parameters of which we want q.
_QPARAM = re.compile(r";\s*q\s*=\s*([^;\s]*)", re.ASCII | re.IGNORECASE)
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?", re.ASCII)  # RFC 9110 §12.4.2


def _num(digits: str) -> int:
    return int(digits) if len(digits) <= MAX_DIGITS else _HUGE


def parse_ranges(value: str, size: int) -> list[Span] | str | None:
    """The spans to send for a ``Range`` value on a file of ``size`` bytes.

    None: ignore the header (bad syntax, another unit, too many specs);
    ``UNSATISFIABLE``: valid, but no span lies in the file (416); else the spans,
    merged where they overlap or touch.
    """
    unit, eq, rest = value.partition("=")
    if not eq or unit.strip(" \t").lower() != "bytes":
        return None
    specs = [s for s in rest.split(",") if s.strip(" \t")]  # empty list elements are allowed
    if not specs or len(specs) > MAX_RANGES:
        return None
    spans: list[Span] = []
    for spec in specs:
        m = _SPEC.fullmatch(spec)
        if m is None or not (m[1] or m[2]):
            return None
        span = _span(m[1], m[2], size)
        if span is None:
            return None
        if span != UNSATISFIABLE:
            spans.append(span)  # type: ignore[arg-type]
    return coalesce(spans) if spans else UNSATISFIABLE


def _span(first: str, last: str, size: int) -> Span | str | None:
    if not first:  # suffix: the last n bytes
        n = _num(last)
        if n == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - n), size - 1
    start = _num(first)
    end = _num(last) if last else _HUGE
    if end < start:
        return None  # an invalid range-spec: the whole header is ignored (§14.1.1)
    if start >= size:
        return UNSATISFIABLE
    return start, min(end, size - 1)


def coalesce(spans: list[Span]) -> list[Span]:
    """Spans as asked when disjoint; merged into ascending order when any overlap or touch."""
    if len(spans) < 2:
        return spans
    ordered = sorted(spans)
    merged = [ordered[0]]
    for start, end in ordered[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return spans if len(merged) == len(spans) else merged


def multipart(
    spans: list[Span], size: int, content_type: str, boundary: str
) -> tuple[list[bytes | tuple[int, int]], int]:
    """The body of a ``multipart/byteranges`` answer as literal pieces and (offset, length)
    file ranges, and its total length (for Content-Length). Layout as nginx sends it:
    each part is CRLF, ``--boundary``, its Content-Type and Content-Range, a blank line,
    the bytes; the body ends with CRLF ``--boundary--`` CRLF."""
    pieces: list[bytes | tuple[int, int]] = []
    total = 0
    for start, end in spans:
        head = (f"\r\n--{boundary}\r\ncontent-type: {content_type}\r\n"
                f"content-range: bytes {start}-{end}/{size}\r\n\r\n").encode("latin-1")  # fmt: skip
        pieces += [head, (start, end - start + 1)]
        total += len(head) + end - start + 1
    tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
    pieces.append(tail)
    return pieces, total + len(tail)


def precondition_failed(
    if_match: str | None, if_unmodified_since: str | None, etag: str, mtime: int
) -> bool:
    """True when a request must be answered 412 (RFC 9110 §13.2.2, steps 1 and 2): an
    If-Match none of whose tags is the current one by strong comparison (``*``: any
    current representation, there is one), or, without If-Match, an If-Unmodified-Since
    the file was modified after (an invalid date is ignored, §13.1.4)."""
    if if_match is not None:
        tags = [t.strip() for t in if_match.split(",")]
        return "*" not in tags and (etag.startswith("W/") or etag not in tags)
    if if_unmodified_since is not None:
        when = _date(if_unmodified_since)
        return when is not None and mtime > when
    return False


def not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, mtime: int
) -> bool:
    """True when a GET may be answered 304 (RFC 9110 §13.2.2 order: INM wins over IMS)."""
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag.removeprefix("W/") in tags
    if if_modified_since is not None:
        when = _date(if_modified_since)
        return when is not None and mtime <= when
    return False


def if_range_holds(value: str, etag: str, mtime: int, now: float) -> bool:
    """If-Range: the Range applies only while the validator still matches (§13.1.5)."""
    v = value.strip()
    if v.startswith('"') or v.startswith("W/"):
        return v == etag and not etag.startswith("W/")  # strong comparison
    when = _date(v)
    return when is not None and when == mtime and now - mtime >= 1


# HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, and the two obsolete forms a recipient must
# still read (RFC 850 and asctime). Always GMT. (email.utils would import socket.)
_DATE_FORMATS = ("%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y")
_MAX_DATE = 64  # longer than any of those: not worth parsing


def _date(value: str) -> int | None:
    """Seconds since the epoch of an HTTP-date, or None if it is not one."""
    v = " ".join(value.split())
    if len(v) > _MAX_DATE:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return calendar.timegm(time.strptime(v, fmt))
        except ValueError:
            continue
    return None


def accepts_gzip(value: str) -> bool:
    """Does Accept-Encoding allow gzip (``gzip``, ``x-gzip`` or ``*``, with q > 0)?"""
    star = None
    for element in value.split(","):
        coding, _, params = element.partition(";")
        coding = coding.strip().lower()
        m = _QPARAM.search(";" + params)
        q = 1.0 if m is None else float(m[1]) if _QVALUE.fullmatch(m[1]) else 0.0
        if coding in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            star = q > 0
    return bool(star)
