"""N4: the React page (web/sse, built by ``make setup``) in headless Chromium, fed by servers.sse.

The test publishes events and reads the DOM, stops the server, publishes more
right after it comes back (before the page reconnects: they must come by
replay), and checks that every event is on the page once, in order."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from harness.procs import require_binary
from servers.catalog import REPO_ROOT
from tests.sse_support import publish, sse_child, stats
from tests.support import wait_until

pytestmark = pytest.mark.exercise("N4")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
DIST = REPO_ROOT / "web" / "sse" / "dist"


def items(page: Page) -> list[tuple[str, str]]:
    return [(li.get_attribute("data-id") or "", li.inner_text())
            for li in page.query_selector_all("#events li")]  # fmt: skip


def counters(page: Page) -> dict[str, int]:
    return {t: int(page.inner_text(f"#counters span[data-type={t}] b")) for t in ("message", "note", "alert")}


def test_react_page_updates_live_and_resumes_after_a_restart_without_loss_or_repeat(tmp_path: Path) -> None:
    assert (DIST / "index.html").is_file(), "web/sse is not built: run `make setup`"
    chromium = require_binary("chromium", "chromium")
    args = ("--dir", str(tmp_path), "--web", str(DIST), "--retry", "1500")
    first = sse_child(*args).start()
    port = first.port
    assert port is not None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_function("document.getElementById('state').textContent === 'open'", timeout=15_000)
                wait_until(lambda: stats(port)["clients"] == 1, what="the page subscribed")
                publish(port, "first", "note")
                publish(port, "second")
                publish(port, "third", "alert")
                page.wait_for_function("document.querySelectorAll('#events li').length === 3", timeout=10_000)
                assert counters(page) == {"message": 1, "note": 1, "alert": 1}

                first.signal(signal.SIGTERM)
                assert first.proc is not None and first.proc.wait(10) == 0
                page.wait_for_function("document.getElementById('state').textContent !== 'open'", timeout=10_000)
                second = sse_child(*args)
                second.argv[second.argv.index("--port") + 1] = str(port)  # the page knows this port
                with second.start():
                    assert stats(port)["clients"] == 0  # the page has not come back yet
                    publish(port, "while away 1")  # only a replay can bring these
                    publish(port, "while away 2", "note")
                    page.wait_for_function("document.getElementById('state').textContent === 'open'",
                                           timeout=15_000)  # fmt: skip
                    publish(port, "after", "alert")
                    page.wait_for_function("document.querySelectorAll('#events li').length >= 6", timeout=10_000)
                    got = items(page)
                    assert counters(page) == {"message": 2, "note": 2, "alert": 2}
                    page.click("#send")  # the page's own form publishes too (an empty message)
                    page.wait_for_function("document.querySelectorAll('#events li').length === 7", timeout=10_000)
            finally:
                browser.close()
    finally:
        first.stop()
    assert [i for i, _ in got] == ["1", "2", "3", "4", "5", "6"]
    assert [t.split("] ", 1)[1] for _, t in got] == ["first", "second", "third", "while away 1", "while away 2",
                                                    "after"]  # fmt: skip
    assert got[0][1] == "#1 [note] first" and got[5][1] == "#6 [alert] after"
