"""N9: Open Graph cards drawn by the origin and cached at the edge."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterator

import pytest
from PIL import Image

from netlib.http import HTTPClient
from servers.cdn import og
from tests.cdn_support import edge_proc, origin_count, origin_proc, url, xcache

pytestmark = pytest.mark.exercise("N9")


@pytest.fixture(scope="module")
def cdn() -> Iterator[tuple[str, str]]:
    with origin_proc() as o, edge_proc(url(o)) as e:
        yield url(o), url(e)


@pytest.fixture
async def client() -> AsyncIterator[HTTPClient]:
    async with HTTPClient(timeout=10) as c:
        yield c


async def renders(client: HTTPClient, origin: str) -> int:
    return int((await client.get(f"{origin}/_origin/stats")).json()["renders"])


def test_the_card_is_a_1200x630_png_with_the_language_colour_bar() -> None:
    info = og.repo_info("torvalds", "linux")
    img = Image.open(io.BytesIO(og.render(info)))
    assert (img.format, img.size) == ("PNG", (1200, 630))
    bar = og.LANGUAGES[info.language].lstrip("#")
    assert img.convert("RGB").getpixel((600, 625)) == tuple(int(bar[i : i + 2], 16) for i in (0, 2, 4))


def test_the_etag_follows_the_inputs_not_the_bytes() -> None:
    a, b = og.repo_info("a", "x"), og.repo_info("a", "y")
    assert a.etag() == og.repo_info("a", "x").etag() != b.etag()


async def test_the_edge_caches_the_card_and_the_origin_draws_it_once(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    before = await renders(client, origin)
    first = await client.get(f"{edge}/og/python/cpython.png")
    second = await client.get(f"{edge}/og/python/cpython.png")
    assert (first.status, first.headers["content-type"], xcache(first), xcache(second)) == (
        200, "image/png", "MISS", "HIT")  # fmt: skip
    assert second.body == first.body and first.body.startswith(b"\x89PNG")
    assert "s-maxage=604800" in first.headers["cache-control"]
    assert await renders(client, origin) == before + 1


async def test_revalidation_is_a_304_without_drawing(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    r = await client.get(f"{origin}/og/rust-lang/rust.png")
    before = await renders(client, origin)
    again = await client.get(f"{origin}/og/rust-lang/rust.png", headers={"if-none-match": r.headers["etag"]})
    assert again.status == 304 and await renders(client, origin) == before


async def test_the_repo_page_points_og_image_at_the_edge(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    page = (await client.get(f"{edge}/repo/torvalds/linux")).text()
    image = re.search(r'<meta property="og:image" content="([^"]+)"', page)
    assert image is not None and image[1] == f"{edge}/og/torvalds/linux.png"
    assert '<meta property="og:image:width" content="1200">' in page
    r = await client.get(image[1])
    assert r.status == 200 and r.body.startswith(b"\x89PNG")


async def test_bad_card_names_are_404(cdn: tuple[str, str], client: HTTPClient) -> None:
    origin, edge = cdn
    for path in ("/og/a/b.gif", "/og/a%20b/c.png", "/og/" + "x" * 101 + "/y.png"):
        assert (await client.get(edge + path)).status == 404
    assert await origin_count(client, origin, "/og/a/b.gif") == 1
