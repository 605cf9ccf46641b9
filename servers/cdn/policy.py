"""RFC 9111 for a shared cache, sans-IO: header values and clock readings in, decisions out.

Every rule the edge follows is a pure function here, so each is table-tested
without a socket (tests/test_cdn_policy.py):

* ``parse_cache_control``: the directive list (RFC 9111 §5.2), with limits;
* ``storable``: may a shared cache keep this response at all (§3, §3.5);
* ``freshness_lifetime``: s-maxage > max-age > Expires - Date > heuristic (§4.2.1,
  §4.2.2; the heuristic only for heuristically cacheable statuses without any
  explicit expiry, 10% of the time since Last-Modified, as the RFC suggests);
* ``current_age``: §4.2.3's corrected age, Age header included;
* ``decide``: what to do with a stored response for this request: serve it
  (fresh), serve it stale and refresh behind (stale-while-revalidate, RFC 5861),
  or revalidate first; request directives (max-age, min-fresh, max-stale,
  no-cache, Pragma) are honoured;
* ``stale_on_error``: may a stale response stand in for a failed origin
  (stale-if-error, RFC 5861 §4);
* ``conditional_headers`` and ``freshen``: revalidation with ETag /
  Last-Modified, and the stored headers updated from a 304 (§4.3.4);
* ``end_to_end``: hop-by-hop fields dropped before forwarding (RFC 9110 §7.6.1).

One judgement call, written down: RFC 9111 §3.2 says s-maxage implies
proxy-revalidate, which forbids serving stale. CDNs (Fastly, Cloudflare) still
honour an explicit ``stale-while-revalidate`` / ``stale-if-error`` next to
s-maxage, because the origin asked for both in the same header; so do we.
``must-revalidate``, ``proxy-revalidate`` and ``no-cache`` forbid stale always.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

Directives = dict[str, str | None]
HeaderList = list[tuple[str, str]]  # lower-case names, in order

# A Cache-Control header with more directives than this is garbage (real ones have
# a handful); we read the first MAX_DIRECTIVES and ignore the rest.
MAX_DIRECTIVES = 32
# Delta-seconds larger than 2**31 are capped to it (RFC 9111 §1.2.2 says exactly this).
MAX_DELTA = 2**31
# Heuristic freshness: 10% of the time since Last-Modified (§4.2.2's suggestion),
# capped at one day as Squid and Varnish cap theirs.
HEURISTIC_FRACTION = 0.1
HEURISTIC_MAX = 86_400.0
# Statuses a cache may store and give heuristic freshness to (RFC 9110 §15.1),
# minus 206: the edge does not assemble ranges.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
# Statuses stored when the origin gives explicit freshness (302/307 too, then).
STORABLE_STATUSES = HEURISTIC_STATUSES | {302, 307}
# Hop-by-hop fields (RFC 9110 §7.6.1), plus the old Keep-Alive/Proxy-Connection.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
    "upgrade", "proxy-authenticate", "proxy-authorization",
})  # fmt: skip
# Fields a 304 must not overwrite in the stored response (§3.2: framing stays ours).
NOT_UPDATED = frozenset({"content-length", "content-encoding", "transfer-encoding", "content-range"})
# Statuses that stale-if-error may cover (RFC 5861 §4).
ERROR_STATUSES = frozenset({500, 502, 503, 504})


def parse_cache_control(values: Iterable[str]) -> Directives:
    """``max-age=60, no-cache="set-cookie", private`` -> {"max-age": "60", ...}.

    Names are case-insensitive; the first occurrence of a directive wins (§4.2.1
    says duplicates make the response stale; a first-wins reading plus
    ``delta`` refusing junk is the common practice)."""
    out: Directives = {}
    for value in values:
        for part in _split_list(value):
            if len(out) >= MAX_DIRECTIVES:
                return out
            name, eq, arg = part.partition("=")
            name = name.strip().lower()
            if not name:
                continue
            arg = arg.strip()
            if len(arg) >= 2 and arg[0] == arg[-1] == '"':
                arg = arg[1:-1]
            out.setdefault(name, arg if eq else None)
    return out


def _split_list(value: str) -> list[str]:
    """Split a comma list, keeping commas inside quoted strings (``no-cache="a, b"``)."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def delta(d: Directives, name: str) -> int | None:
    """A directive's delta-seconds; None if absent or not a number (§1.2.2)."""
    v = d.get(name)
    if v is None or not v.isdigit() or not v.isascii():
        return None
    return min(int(v[:12]), MAX_DELTA)


def http_date(value: str | None) -> float | None:
    """Seconds since the epoch of an IMF-fixdate (or the two obsolete forms), else None."""
    if not value or len(value) > 64:
        return None
    v = " ".join(value.split())
    for fmt in ("%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"):
        try:
            return float(calendar.timegm(time.strptime(v, fmt)))
        except ValueError:
            continue
    return None


def format_date(when: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(when))


class Fields:
    """Case-insensitive multi-valued view of a header list (names stored lower-case)."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self.items: HeaderList = [(k.lower(), v) for k, v in pairs]

    def get(self, name: str) -> str | None:
        vals = self.getall(name)
        return ", ".join(vals) if vals else None

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.items if k == name]

    def first(self, name: str) -> str | None:
        for k, v in self.items:
            if k == name:
                return v
        return None

    def cc(self) -> Directives:
        return parse_cache_control(self.getall("cache-control"))


def end_to_end(headers: Iterable[tuple[str, str]]) -> HeaderList:
    """The fields a proxy forwards: hop-by-hop ones and those named in Connection dropped."""
    items = [(k.lower(), v) for k, v in headers]
    named = {t.strip().lower() for k, v in items if k == "connection" for t in v.split(",")}
    return [(k, v) for k, v in items if k not in HOP_BY_HOP and k not in named]


# -- storing -------------------------------------------------------------------------


def storable(status: int, request: Fields, response: Fields) -> bool:
    """May a shared cache store this response to a GET (RFC 9111 §3)?"""
    req_cc, cc = request.cc(), response.cc()
    if "no-store" in req_cc or "no-store" in cc:
        return False
    if "private" in cc and cc["private"] is None:  # private="field" only hides that field
        return False
    if (response.get("vary") or "").strip() == "*":
        return False  # never matches a later request (§4.1): not worth the space
    if request.first("authorization") is not None and not (
        "public" in cc or "must-revalidate" in cc or "s-maxage" in cc
    ):
        return False  # §3.5
    explicit = (
        "public" in cc or "max-age" in cc or "s-maxage" in cc or response.first("expires") is not None
    )
    if status in HEURISTIC_STATUSES:
        return True
    return status in STORABLE_STATUSES and explicit


def strip_private_fields(headers: HeaderList, cc: Directives) -> HeaderList:
    """``private="set-cookie"`` / ``no-cache="set-cookie"``: drop those fields before storing."""
    names: set[str] = set()
    for d in ("private", "no-cache"):
        if cc.get(d):
            names |= {n.strip().lower() for n in (cc[d] or "").split(",")}
    return [(k, v) for k, v in headers if k not in names]


def freshness_lifetime(status: int, response: Fields) -> tuple[float, bool]:
    """(seconds, heuristic?) a stored response stays fresh (§4.2.1)."""
    cc = response.cc()
    for name in ("s-maxage", "max-age"):
        if name in cc:
            d = delta(cc, name)
            return (float(d) if d is not None else 0.0), False  # junk value: stale at once
    expires = response.first("expires")
    if expires is not None:
        when = http_date(expires)
        date = http_date(response.first("date"))
        if when is None or date is None:
            return 0.0, False  # an invalid Expires means already expired (§5.3)
        return max(0.0, when - date), False
    if status not in HEURISTIC_STATUSES and "public" not in cc:
        return 0.0, False
    last_mod = http_date(response.first("last-modified"))
    date = http_date(response.first("date"))
    if last_mod is None or date is None or date <= last_mod:
        return 0.0, True
    return min(HEURISTIC_MAX, (date - last_mod) * HEURISTIC_FRACTION), True


@dataclass
class Stored:
    """A response as the cache keeps it, with the clock readings §4.2.3 needs."""

    status: int
    headers: HeaderList  # end-to-end fields, lower-case names
    body: bytes
    request_time: float  # when the request that fetched it was sent
    response_time: float  # when its response arrived
    vary: dict[str, str] = field(default_factory=dict)  # selecting request fields, normalised

    @property
    def fields(self) -> Fields:
        return Fields(self.headers)

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) + 4 for k, v in self.headers) + 64


def current_age(s: Stored, now: float) -> float:
    """§4.2.3: the corrected initial age plus the time it has been resident here."""
    f = s.fields
    date = http_date(f.first("date"))
    apparent = max(0.0, s.response_time - date) if date is not None else 0.0
    age_hdr = f.first("age")
    age_value = float(min(int(age_hdr), MAX_DELTA)) if age_hdr and age_hdr.strip().isdigit() else 0.0
    corrected_age = age_value + (s.response_time - s.request_time)
    return max(apparent, corrected_age) + (now - s.response_time)


# -- using a stored response ----------------------------------------------------------


def vary_names(response: Fields) -> list[str]:
    return sorted({n.strip().lower() for v in response.getall("vary") for n in v.split(",") if n.strip()})


def normalise(value: str | None) -> str:
    """Whitespace around list commas does not make two requests differ (§4.1)."""
    if value is None:
        return "\x00absent"
    return ",".join(" ".join(p.split()) for p in value.split(","))


def vary_key(response: Fields, request: Fields) -> dict[str, str]:
    """The request fields a stored response was selected by (its Vary)."""
    return {n: normalise(request.get(n)) for n in vary_names(response)}


def vary_matches(s: Stored, request: Fields) -> bool:
    return all(normalise(request.get(n)) == v for n, v in s.vary.items())


class Action(Enum):
    FRESH = "fresh"  # serve it (X-Cache: HIT)
    STALE_REFRESH = "stale-refresh"  # serve it stale now, revalidate behind (SWR)
    REVALIDATE = "revalidate"  # ask the origin first (conditional request)


def request_directives(request: Fields) -> Directives:
    cc = request.cc()
    if not request.getall("cache-control") and "no-cache" in (request.get("pragma") or "").lower():
        cc["no-cache"] = None  # §5.4: Pragma: no-cache only counts without Cache-Control
    return cc


def forbids_stale(cc: Directives) -> bool:
    return "must-revalidate" in cc or "proxy-revalidate" in cc or "no-cache" in cc


def decide(s: Stored, request: Fields, now: float) -> Action:
    """What to do with a stored response that matched this request (§4, RFC 5861 §3)."""
    cc = s.fields.cc()
    req = request_directives(request)
    if "no-cache" in cc or "no-cache" in req:
        return Action.REVALIDATE
    lifetime, _ = freshness_lifetime(s.status, s.fields)
    age = current_age(s, now)
    if (ma := delta(req, "max-age")) is not None:
        lifetime = min(lifetime, float(ma))
    if (mf := delta(req, "min-fresh")) is not None:
        age += mf
    if age < lifetime:
        return Action.FRESH
    staleness = age - lifetime
    if "max-stale" in req and not forbids_stale(cc):
        ms = delta(req, "max-stale")
        if ms is None or staleness <= ms:  # bare max-stale: any staleness is fine
            return Action.FRESH
    swr = delta(cc, "stale-while-revalidate")
    if swr is not None and staleness <= swr and not forbids_stale(cc):
        return Action.STALE_REFRESH
    return Action.REVALIDATE


def stale_on_error(s: Stored, request: Fields, now: float) -> bool:
    """May this stored response stand in for an origin that failed (RFC 5861 §4)?"""
    cc = s.fields.cc()
    if forbids_stale(cc):
        return False
    lifetime, _ = freshness_lifetime(s.status, s.fields)
    staleness = current_age(s, now) - lifetime
    window = delta(request_directives(request), "stale-if-error")
    if window is None:
        window = delta(cc, "stale-if-error")
    return window is not None and staleness <= window


def conditional_headers(s: Stored) -> dict[str, str]:
    """The validators to revalidate with (§4.3.1): If-None-Match, else If-Modified-Since."""
    f = s.fields
    out = {}
    if (etag := f.first("etag")) is not None:
        out["if-none-match"] = etag
    if (lm := f.first("last-modified")) is not None:
        out["if-modified-since"] = lm
    return out


def freshen(s: Stored, not_modified: Fields, request_time: float, response_time: float) -> Stored | None:
    """The stored response updated by a 304 (§4.3.4); None when the 304 is for another one."""
    new_etag = not_modified.first("etag")
    old_etag = s.fields.first("etag")
    if new_etag is not None and old_etag is not None and new_etag.removeprefix("W/") != old_etag.removeprefix("W/"):
        return None
    updated = {k for k, _ in not_modified.items if k not in NOT_UPDATED and k not in HOP_BY_HOP}
    headers = [(k, v) for k, v in s.headers if k not in updated]
    headers += [(k, v) for k, v in not_modified.items if k in updated]
    return Stored(s.status, headers, s.body, request_time, response_time, s.vary)


def invalidates(method: str, status: int) -> bool:
    """An unsafe request answered without error invalidates the target URI (§4.4)."""
    return method not in ("GET", "HEAD", "OPTIONS", "TRACE") and 200 <= status < 400
