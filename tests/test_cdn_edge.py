"""The edge's caching rules against a real origin process (one of each, on port 0).

Every test uses its own ``/lab/NAME`` resource, whose caching headers the query
string sets, and reads how many requests reached the origin from the origin.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

import pytest

from netlib.http import HTTPClient
from tests.cdn_support import edge_proc, edge_stats, origin_count, origin_proc, url, xcache

pytestmark = pytest.mark.exercise("N8")


@pytest.fixture(scope="module")
def cdn() -> Iterator[tuple[str, str]]:
    with origin_proc() as o, edge_proc(url(o), args=("--max-object", "1mb")) as e:
        yield url(o), url(e)


@pytest.fixture
async def client() -> AsyncIterator[HTTPClient]:
    async with HTTPClient(timeout=10) as c:
        yield c


def lab(name: str, **q: str) -> str:
    return f"/lab/{name}?" + "&".join(f"{k}={quote(v)}" for k, v in q.items())


async def test_fresh_response_is_a_hit_with_an_age(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    path = lab("fresh", cc="max-age=60")
    first = await client.get(edge + path)
    second = await client.get(edge + path)
    assert (first.status, xcache(first), xcache(second)) == (200, "MISS", "HIT")
    assert second.body == first.body and second.headers["age"].isdigit()
    assert await origin_count(client, origin, "/lab/fresh") == 1


async def test_s_maxage_wins_over_max_age_at_a_shared_cache(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    path = lab("smax", cc="max-age=0, s-maxage=60")
    assert [xcache(await client.get(edge + path)) for _ in range(2)] == ["MISS", "HIT"]


async def test_expires_gives_freshness_and_a_past_expires_none(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    assert [xcache(await client.get(edge + lab("exp", expires="60"))) for _ in range(2)] == ["MISS", "HIT"]
    assert [xcache(await client.get(edge + lab("exp-past", expires="-60"))) for _ in range(2)] == ["MISS", "MISS"]
    assert await origin_count(client, origin, "/lab/exp-past") == 2


async def test_no_store_is_never_stored(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    for _ in range(2):
        assert xcache(await client.get(edge + lab("nostore", cc="no-store, max-age=60"))) == "MISS"
    path = lab("nostore-req", cc="max-age=60")
    for _ in range(2):
        assert xcache(await client.get(edge + path, headers={"cache-control": "no-store"})) == "MISS"
    assert await origin_count(client, origin, "/lab/nostore") == 2
    assert await origin_count(client, origin, "/lab/nostore-req") == 2


async def test_private_is_not_stored_by_a_shared_cache(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    for _ in range(2):
        assert xcache(await client.get(edge + lab("priv", cc="private, max-age=60"))) == "MISS"
    assert await origin_count(client, origin, "/lab/priv") == 2


async def test_authorization_needs_public_or_s_maxage(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    auth = {"authorization": "Bearer t"}
    got = [xcache(await client.get(edge + lab("authz", cc="max-age=60"), headers=auth)) for _ in range(2)]
    assert got == ["MISS", "MISS"]
    got = [xcache(await client.get(edge + lab("authz-pub", cc="public, max-age=60"), headers=auth))
           for _ in range(2)]  # fmt: skip
    assert got == ["MISS", "HIT"]


async def test_stale_with_etag_is_revalidated_by_a_304(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    path = lab("reval", cc="max-age=0", etag="1")
    first = await client.get(edge + path)
    second = await client.get(edge + path)
    assert (xcache(first), xcache(second)) == ("MISS", "REVALIDATED")
    assert second.status == 200 and second.body == first.body
    await client.post(f"{origin}/lab/reval/bump")
    third = await client.get(edge + path)
    assert xcache(third) == "MISS" and b"reval v1" in third.body
    assert await origin_count(client, origin, "/lab/reval") == 3


async def test_last_modified_is_revalidated_with_if_modified_since(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    path = lab("reval-lm", cc="max-age=0", lm="3600")
    assert [xcache(await client.get(edge + path)) for _ in range(2)] == ["MISS", "REVALIDATED"]


async def test_response_no_cache_revalidates_every_time(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    path = lab("nocache", cc="no-cache, max-age=600", etag="1")
    assert [xcache(await client.get(edge + path)) for _ in range(3)] == ["MISS", "REVALIDATED", "REVALIDATED"]
    assert await origin_count(client, origin, "/lab/nocache") == 3


async def test_request_no_cache_revalidates_a_fresh_entry(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    path = lab("req-nocache", cc="max-age=600", etag="1")
    await client.get(edge + path)
    r = await client.get(edge + path, headers={"cache-control": "no-cache"})
    assert xcache(r) == "REVALIDATED"


async def test_heuristic_freshness_only_where_allowed(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    # 200 with Last-Modified ten hours ago and no explicit expiry: an hour of heuristic freshness
    assert [xcache(await client.get(edge + lab("heur", lm="36000"))) for _ in range(2)] == ["MISS", "HIT"]
    # 302 is not heuristically cacheable: never stored without explicit freshness
    path = lab("heur-302", lm="36000", status="302")
    assert [xcache(await client.get(edge + path)) for _ in range(2)] == ["MISS", "MISS"]


async def test_vary_keeps_one_variant_per_request_header(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    path = lab("vary", cc="max-age=60", vary="accept-language")
    seen = []
    for lang in ("en", "fr", "en", "fr"):
        r = await client.get(edge + path, headers={"accept-language": lang})
        seen.append((xcache(r), r.body.split()[2].decode()))
    assert seen == [("MISS", "en"), ("MISS", "fr"), ("HIT", "en"), ("HIT", "fr")]


async def test_stale_while_revalidate_answers_stale_and_refreshes_behind(
    cdn: tuple[str, str], client: HTTPClient
) -> None:
    origin, edge = cdn
    path = lab("swr", cc="max-age=0, stale-while-revalidate=60", etag="1")
    await client.get(edge + path)
    await client.post(f"{origin}/lab/swr/bump")
    r = await client.get(edge + path)
    assert xcache(r) == "STALE" and b"swr v0" in r.body  # the old one, at once
    deadline = time.monotonic() + 10
    while await origin_count(client, origin, "/lab/swr") < 2:  # the background refresh arrives
        assert time.monotonic() < deadline, "no background revalidation reached the origin"
        await asyncio.sleep(0.02)
    while b"swr v1" not in (r := await client.get(edge + path)).body:
        assert time.monotonic() < deadline, "the refreshed response never replaced the stale one"
        await asyncio.sleep(0.02)


async def test_a_client_conditional_is_answered_304_by_the_edge(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    path = lab("cond", cc="max-age=60", etag="1")
    etag = (await client.get(edge + path)).headers["etag"]
    r = await client.get(edge + path, headers={"if-none-match": etag})
    assert (r.status, xcache(r), r.body) == (304, "HIT", b"")
    assert await origin_count(client, origin, "/lab/cond") == 1


async def test_only_if_cached_gets_504_on_a_miss(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    r = await client.get(edge + lab("oic", cc="max-age=60"), headers={"cache-control": "only-if-cached"})
    assert r.status == 504
    assert await origin_count(client, origin, "/lab/oic") == 0


async def test_hop_by_hop_fields_are_not_forwarded_either_way(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    hdrs = {"connection": "x-private", "x-private": "1", "te": "trailers", "x-end": "kept",
            "proxy-authorization": "Basic eDp5"}  # fmt: skip
    r = await client.get(f"{edge}/_origin/echo", headers=hdrs)
    got = {k for k, _ in r.json()["headers"]}
    assert "x-end" in got and "via" in got
    assert not got & {"x-private", "te", "proxy-authorization", "connection"}
    r = await client.get(edge + lab("hop", cc="max-age=60", hop="1"))
    assert r.status == 200 and "x-hop" not in r.headers and "keep-alive" not in r.headers


@pytest.mark.parametrize("head", [
    b"GET /lab/smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET /lab/smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"GET /lab/smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"GET /lab/smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
    b"GET /lab/smuggle HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
])  # fmt: skip
async def test_smuggling_shapes_are_refused_at_the_edge(cdn: tuple[str, str], client: HTTPClient, head: bytes) -> None:
    origin, edge = cdn
    port = int(edge.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head + b"0\r\n\r\nGET /lab/smuggle2 HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    assert await origin_count(client, origin, "/lab/smuggle") == 0
    assert await origin_count(client, origin, "/lab/smuggle2") == 0


async def test_a_response_too_big_for_the_cache_is_streamed_through(
    cdn: tuple[str, str], client: HTTPClient
) -> None:
    origin, edge = cdn
    before = (await edge_stats(client, edge))["streamed_through"]
    for q in ({"size": str(3 * 1024 * 1024)}, {"size": str(3 * 1024 * 1024), "chunked": "1"}):
        path = lab("big", cc="max-age=60", **q)
        r = await client.get(edge + path, stream=True)
        body = r.stream()
        first = await body.__anext__()  # the head and a first piece before the rest
        rest = b"".join([chunk async for chunk in body])
        assert xcache(r) == "MISS" and len(first) + len(rest) == 3 * 1024 * 1024
        assert xcache(await client.get(edge + path)) == "MISS"  # it was not stored
    stats = await edge_stats(client, edge)
    assert stats["streamed_through"] == before + 4  # type: ignore[operator]
    assert stats["bytes_memory"] < 1024 * 1024  # type: ignore[operator]


async def test_purge_one_path_and_a_prefix(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    for name in ("purge-a", "purge-b"):
        await client.get(edge + f"/lab/{name}?cc=max-age%3D60")
    r = await client.request("PURGE", edge + "/lab/purge-a?cc=max-age%3D60")
    assert r.status == 200 and r.json() == {"purged": 1}
    assert xcache(await client.get(edge + "/lab/purge-a?cc=max-age%3D60")) == "MISS"
    assert xcache(await client.get(edge + "/lab/purge-b?cc=max-age%3D60")) == "HIT"
    r = await client.post(edge + "/_cdn/purge", json={"prefix": "/lab/purge-"})
    assert r.json()["purged"] == 2
    assert xcache(await client.get(edge + "/lab/purge-b?cc=max-age%3D60")) == "MISS"
    assert (await client.post(edge + "/_cdn/purge", json=["x"])).status == 400


async def test_a_successful_post_invalidates_the_target(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    await client.get(edge + "/api/popular-searches?region=us")
    assert xcache(await client.get(edge + "/api/popular-searches?region=us")) == "HIT"
    r = await client.post(edge + "/api/search", json={"q": "edge caching", "region": "us"})
    assert r.status == 202
    r = await client.get(edge + "/api/popular-searches?region=us")
    assert xcache(r) == "HIT"  # another URI: a POST only invalidates its own target (§4.4)
