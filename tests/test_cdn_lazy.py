"""N12 in headless Chromium: web/lazy/index.html through the CDN edge, image requests counted
at load and after scrolling, for native lazy loading, the IntersectionObserver version and the
eager baseline; and the placeholders keep the layout from moving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from harness.procs import require_binary
from tests.cdn_support import edge_proc, origin_proc, url

pytestmark = pytest.mark.exercise("N12")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
N = 300
# Every image whose box meets the viewport has arrived: what "the screen is painted" means here.
VISIBLE_LOADED = """() => [...document.images].filter(i => {
    const r = i.getBoundingClientRect();
    return r.bottom > 0 && r.top < innerHeight;
}).every(i => i.complete && i.naturalWidth > 0)"""


@pytest.fixture(scope="module")
def edge() -> Iterator[str]:
    with origin_proc() as o, edge_proc(url(o)) as e:
        yield url(e)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=require_binary("chromium", "chromium"), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def open_gallery(browser: Any, edge: str, mode: str) -> tuple[Page, list[int], dict[str, float]]:
    """The page in a fresh context; (page, indexes of the images requested, layout at load)."""
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    requested: list[int] = []
    page.on("request", lambda r: requested.append(int(r.url.rsplit("/", 1)[1].split(".")[0]))
            if "/img/" in r.url else None)  # fmt: skip
    page.goto(f"{edge}/web/lazy/index.html?mode={mode}&n={N}")
    page.wait_for_load_state("load")
    page.wait_for_function(VISIBLE_LOADED, timeout=20_000)
    return page, requested, layout(page)


def layout(page: Page) -> dict[str, float]:
    return page.evaluate("""() => ({height: document.documentElement.scrollHeight,
        last: document.querySelector('figure:last-child').getBoundingClientRect().top + scrollY})""")


def scroll_to(page: Page, index: int) -> None:
    page.evaluate(f"document.querySelectorAll('figure')[{index}].scrollIntoView()")
    page.wait_for_function(VISIBLE_LOADED, timeout=20_000)


def test_eager_loads_every_image_at_once(browser: Any, edge: str) -> None:
    page, requested, before = open_gallery(browser, edge, "eager")
    page.wait_for_function("[...document.images].every(i => i.complete)", timeout=30_000)
    assert sorted(set(requested)) == list(range(N))
    assert layout(page) == before  # every image landed in the box it had before it arrived
    page.context.close()


@pytest.mark.parametrize("mode", ["native", "io"])
def test_lazy_versions_load_only_what_is_near_the_viewport(browser: Any, edge: str, mode: str) -> None:
    page, requested, before = open_gallery(browser, edge, mode)
    at_load = set(requested)
    assert 0 in at_load and len(at_load) < N / 3, f"{mode}: {len(at_load)} images at load"
    assert max(at_load) < N / 3  # all from the top of the page
    scroll_to(page, N // 2)
    after = set(requested)
    new = after - at_load
    assert N // 2 in new and len(after) < N * 2 / 3, f"{mode}: {len(after)} after one scroll"
    assert min(new) > max(at_load) - 1 and all(abs(i - N // 2) < N / 4 for i in new)  # near the middle
    assert layout(page) == before  # placeholders: loading images moved nothing
    status = page.text_content("#status") or ""
    assert status.startswith("images requested: ") and f"of {N} ({mode})" in status
    page.context.close()


def test_the_observer_version_requests_fewer_than_native_and_both_far_fewer_than_eager(
    browser: Any, edge: str
) -> None:
    counts = {}
    for mode in ("io", "native"):
        page, requested, _ = open_gallery(browser, edge, mode)
        counts[mode] = len(set(requested))
        page.context.close()
    assert 0 < counts["io"] <= counts["native"] < N / 3, counts
