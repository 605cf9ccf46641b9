"""RFC 9111 for a shared cache, table by table, on the sans-IO ``servers.cdn.policy``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.cdn import policy
from servers.cdn.policy import Action, Fields, Stored, format_date

pytestmark = pytest.mark.exercise("N8")

NOW = 1_800_000_000.0


def stored(headers: dict[str, str], *, status: int = 200, fetched: float = NOW, rtt: float = 0.0,
           vary: dict[str, str] | None = None) -> Stored:  # fmt: skip
    h = {"date": format_date(fetched), **headers}
    return Stored(status, list(Fields(h).items), b"body", fetched - rtt, fetched, vary or {})


def req(**headers: str) -> Fields:
    return Fields({k.replace("_", "-"): v for k, v in headers.items()})


@pytest.mark.parametrize(("value", "expected"), [
    ("max-age=60", {"max-age": "60"}),
    ("Max-Age=60, PUBLIC", {"max-age": "60", "public": None}),
    ('private="set-cookie, x-a", max-age=5', {"private": "set-cookie, x-a", "max-age": "5"}),
    ("max-age=1, max-age=99", {"max-age": "1"}),
    (" , ,no-store,, ", {"no-store": None}),
    ("max-age=\"30\"", {"max-age": "30"}),
])  # fmt: skip
def test_cache_control_parsing(value: str, expected: dict[str, str | None]) -> None:
    assert policy.parse_cache_control([value]) == expected


def test_cache_control_directive_count_is_capped() -> None:
    value = ", ".join(f"x{i}" for i in range(1000))
    assert len(policy.parse_cache_control([value])) == policy.MAX_DIRECTIVES


@pytest.mark.parametrize(("d", "expected"), [
    ({"max-age": "60"}, 60), ({"max-age": "-1"}, None), ({"max-age": "abc"}, None),
    ({"max-age": "99999999999999999999"}, policy.MAX_DELTA), ({}, None), ({"max-age": "٣"}, None),
])  # fmt: skip
def test_delta_seconds(d: dict[str, str], expected: int | None) -> None:
    assert policy.delta(d, "max-age") == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "request_h", "response_h", "ok"), [
    (200, {}, {"cache-control": "max-age=60"}, True),
    (200, {}, {}, True),  # heuristically cacheable status: storable (freshness 0 or heuristic)
    (200, {}, {"cache-control": "no-store"}, False),
    (200, {"cache-control": "no-store"}, {"cache-control": "max-age=60"}, False),
    (200, {}, {"cache-control": "private, max-age=60"}, False),
    (200, {}, {"cache-control": 'private="set-cookie", max-age=60'}, True),
    (200, {"authorization": "Bearer x"}, {"cache-control": "max-age=60"}, False),
    (200, {"authorization": "Bearer x"}, {"cache-control": "s-maxage=60"}, True),
    (200, {"authorization": "Bearer x"}, {"cache-control": "public, max-age=60"}, True),
    (200, {}, {"vary": "*", "cache-control": "max-age=60"}, False),
    (302, {}, {}, False),
    (302, {}, {"cache-control": "max-age=60"}, True),
    (404, {}, {}, True),
    (500, {}, {"cache-control": "max-age=60"}, False),
    (206, {}, {"cache-control": "max-age=60"}, False),
])  # fmt: skip
def test_storable(status: int, request_h: dict[str, str], response_h: dict[str, str], ok: bool) -> None:
    assert policy.storable(status, Fields(request_h), Fields(response_h)) is ok


@pytest.mark.parametrize(("headers", "status", "lifetime", "heuristic"), [
    ({"cache-control": "max-age=60"}, 200, 60, False),
    ({"cache-control": "max-age=60, s-maxage=600"}, 200, 600, False),  # shared: s-maxage wins
    ({"cache-control": "max-age=junk"}, 200, 0, False),
    ({"expires": format_date(NOW + 120)}, 200, 120, False),
    ({"expires": "0"}, 200, 0, False),  # invalid Expires: already expired
    ({"expires": format_date(NOW + 120), "cache-control": "max-age=5"}, 200, 5, False),
    ({"last-modified": format_date(NOW - 36_000)}, 200, 3600, True),  # 10% of 10 hours
    ({"last-modified": format_date(NOW - 10**8)}, 200, policy.HEURISTIC_MAX, True),
    ({"last-modified": format_date(NOW - 36_000)}, 302, 0, False),  # not heuristically cacheable
    ({}, 200, 0, True),
])  # fmt: skip
def test_freshness_lifetime(headers: dict[str, str], status: int, lifetime: float, heuristic: bool) -> None:
    h = Fields({"date": format_date(NOW), **headers})
    assert policy.freshness_lifetime(status, h) == (lifetime, heuristic)


def test_age_counts_the_age_header_the_delay_and_residence() -> None:
    s = stored({"age": "30"}, rtt=2.0)
    assert policy.current_age(s, NOW + 10) == 30 + 2 + 10


def test_age_uses_the_apparent_age_when_the_date_is_older() -> None:
    s = stored({}, fetched=NOW)
    s.headers = [("date", format_date(NOW - 100))]
    assert policy.current_age(s, NOW) == 100


@pytest.mark.parametrize(("headers", "request_h", "elapsed", "action"), [
    ({"cache-control": "max-age=60"}, {}, 10, Action.FRESH),
    ({"cache-control": "max-age=60"}, {}, 61, Action.REVALIDATE),
    ({"cache-control": "max-age=60", "age": "55"}, {}, 10, Action.REVALIDATE),
    ({"cache-control": "max-age=60"}, {"cache-control": "no-cache"}, 1, Action.REVALIDATE),
    ({"cache-control": "max-age=60"}, {"pragma": "no-cache"}, 1, Action.REVALIDATE),
    ({"cache-control": "max-age=60"}, {"pragma": "no-cache", "cache-control": "max-age=99"}, 1, Action.FRESH),
    ({"cache-control": "max-age=60"}, {"cache-control": "max-age=5"}, 10, Action.REVALIDATE),
    ({"cache-control": "max-age=60"}, {"cache-control": "min-fresh=55"}, 10, Action.REVALIDATE),
    ({"cache-control": "max-age=60"}, {"cache-control": "max-stale=30"}, 80, Action.FRESH),
    ({"cache-control": "max-age=60"}, {"cache-control": "max-stale"}, 9999, Action.FRESH),
    ({"cache-control": "max-age=60, must-revalidate"}, {"cache-control": "max-stale"}, 61, Action.REVALIDATE),
    ({"cache-control": "no-cache, max-age=60"}, {}, 1, Action.REVALIDATE),
    ({"cache-control": "max-age=1, stale-while-revalidate=30"}, {}, 20, Action.STALE_REFRESH),
    ({"cache-control": "max-age=1, stale-while-revalidate=30"}, {}, 40, Action.REVALIDATE),
    ({"cache-control": "max-age=1, stale-while-revalidate=30, must-revalidate"}, {}, 20, Action.REVALIDATE),
    ({"cache-control": "s-maxage=1, stale-while-revalidate=30"}, {}, 20, Action.STALE_REFRESH),
])  # fmt: skip
def test_decide(headers: dict[str, str], request_h: dict[str, str], elapsed: float, action: Action) -> None:
    assert policy.decide(stored(headers), Fields(request_h), NOW + elapsed) is action


@pytest.mark.parametrize(("headers", "request_h", "elapsed", "ok"), [
    ({"cache-control": "max-age=1, stale-if-error=60"}, {}, 30, True),
    ({"cache-control": "max-age=1, stale-if-error=60"}, {}, 90, False),
    ({"cache-control": "max-age=1"}, {}, 30, False),
    ({"cache-control": "max-age=1"}, {"cache-control": "stale-if-error=60"}, 30, True),
    ({"cache-control": "max-age=1, stale-if-error=60, must-revalidate"}, {}, 30, False),
    ({"cache-control": "max-age=1, stale-if-error=60, proxy-revalidate"}, {}, 30, False),
    ({"cache-control": "no-cache, stale-if-error=60"}, {}, 30, False),
])  # fmt: skip
def test_stale_if_error(headers: dict[str, str], request_h: dict[str, str], elapsed: float, ok: bool) -> None:
    assert policy.stale_on_error(stored(headers), Fields(request_h), NOW + elapsed) is ok


def test_vary_selects_by_the_named_request_fields() -> None:
    resp = Fields({"vary": "Accept-Language, accept-encoding"})
    key = policy.vary_key(resp, req(accept_language="en,  fr", accept_encoding="gzip"))
    s = stored({}, vary=key)
    assert policy.vary_matches(s, req(accept_language="en, fr", accept_encoding="gzip"))
    assert not policy.vary_matches(s, req(accept_language="de", accept_encoding="gzip"))
    assert not policy.vary_matches(s, req(accept_language="en, fr"))  # absent != present


def test_conditional_headers_carry_both_validators() -> None:
    s = stored({"etag": '"v1"', "last-modified": format_date(NOW - 5)})
    assert policy.conditional_headers(s) == {"if-none-match": '"v1"', "if-modified-since": format_date(NOW - 5)}


def test_a_304_freshens_the_stored_headers_but_not_the_framing() -> None:
    s = stored({"etag": '"v1"', "cache-control": "max-age=1", "content-length": "4", "x-a": "old"})
    got = Fields({"etag": '"v1"', "cache-control": "max-age=60", "content-length": "0", "x-a": "new",
                  "date": format_date(NOW + 100)})  # fmt: skip
    fresh = policy.freshen(s, got, NOW + 100, NOW + 100)
    assert fresh is not None
    f = fresh.fields
    assert (f.get("cache-control"), f.get("content-length"), f.get("x-a")) == ("max-age=60", "4", "new")
    assert fresh.body == b"body" and policy.decide(fresh, Fields({}), NOW + 110) is Action.FRESH


def test_a_304_for_another_etag_does_not_freshen() -> None:
    s = stored({"etag": '"v1"'})
    assert policy.freshen(s, Fields({"etag": '"v2"'}), NOW, NOW) is None


def test_hop_by_hop_fields_are_dropped_with_the_ones_connection_names() -> None:
    h = [("Connection", "close, X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "5"), ("TE", "trailers"),
         ("Upgrade", "h2c"), ("Proxy-Authorization", "Basic x"), ("X-Kept", "yes")]  # fmt: skip
    assert policy.end_to_end(h) == [("x-kept", "yes")]


def test_private_named_fields_are_stripped_before_storing() -> None:
    cc = policy.parse_cache_control(['private="set-cookie"'])
    assert policy.strip_private_fields([("set-cookie", "a"), ("x", "y")], cc) == [("x", "y")]


@pytest.mark.parametrize(("method", "status", "yes"), [
    ("POST", 200, True), ("DELETE", 204, True), ("PUT", 500, False), ("GET", 200, False),
])  # fmt: skip
def test_unsafe_methods_invalidate(method: str, status: int, yes: bool) -> None:
    assert policy.invalidates(method, status) is yes


@given(st.text(max_size=300))
def test_any_cache_control_value_parses_to_a_bounded_dict(value: str) -> None:
    d = policy.parse_cache_control([value])
    assert len(d) <= policy.MAX_DIRECTIVES
    for name in ("max-age", "s-maxage", "stale-if-error"):
        v = policy.delta(d, name)
        assert v is None or 0 <= v <= policy.MAX_DELTA
