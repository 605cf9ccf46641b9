"""N15: the chat page (web/chat, on the npm socket.io-client) in headless Chromium: two browser
contexts (two users, no shared cookies or storage) join a channel and exchange messages;
presence and the typing indicator show up on the other side."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, sync_playwright

from harness.procs import require_binary
from servers.chat.app import CLIENT_BUNDLE
from tests.chat_support import chat_child

pytestmark = pytest.mark.exercise("N15")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def texts(page: Page) -> list[str]:
    return [e.inner_text() for e in page.query_selector_all("#log .msg .text")]


def join(page: Page, port: int, user: str, query: str) -> None:
    page.goto(f"http://127.0.0.1:{port}/{query}")
    page.wait_for_selector("body[data-connected]", timeout=15_000)
    page.fill("#user", user)
    page.fill("#channel", "general")
    page.click("#login button")
    page.wait_for_selector("body[data-joined=general]", timeout=15_000)


def send(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


@pytest.mark.parametrize("query", ["?transport=polling", ""])  # polling only; polling then WebSocket
def test_two_browsers_chat_through_the_page(tmp_path, query):
    assert CLIENT_BUNDLE.is_file(), "socket.io-client is not installed in web/chat: run make setup"
    with chat_child("--dir", str(tmp_path)) as chat, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=require_binary("chromium", "chromium"), args=CHROMIUM_ARGS)
        try:
            ada = browser.new_context().new_page()
            bob = browser.new_context().new_page()
            join(ada, chat.port, "ada", query)
            join(bob, chat.port, "bob", query)
            ada.wait_for_function("[...document.querySelectorAll('#presence li')].map(l => l.textContent)"
                                  ".join() === 'ada,bob'", timeout=10_000)  # fmt: skip
            send(ada, "hello from ada")
            bob.wait_for_function("document.querySelectorAll('#log .msg').length === 1", timeout=10_000)
            assert texts(bob) == ["hello from ada"]
            bob.type("#text", "hi")  # typing...
            ada.wait_for_function("document.getElementById('typing').textContent.includes('bob')", timeout=10_000)
            bob.fill("#text", "hello from bob")
            bob.press("#text", "Enter")
            ada.wait_for_function("document.querySelectorAll('#log .msg').length === 2", timeout=10_000)
            assert texts(ada) == ["hello from ada", "hello from bob"]
            assert texts(bob) == ["hello from ada", "hello from bob"]  # each once (ack and broadcast)
            ids = [e.get_attribute("data-id") for e in ada.query_selector_all("#log .msg")]
            assert ids == ["1", "2"]
            # a third visitor gets the history with its join
            carol = browser.new_context().new_page()
            join(carol, chat.port, "carol", query)
            carol.wait_for_function("document.querySelectorAll('#log .msg').length === 2", timeout=10_000)
            assert texts(carol) == ["hello from ada", "hello from bob"]
            want = "polling" if "polling" in query else "websocket"  # the default upgrades
            for page in (ada, bob, carol):
                page.wait_for_function(f"socket.io.engine.transport.name === '{want}'", timeout=10_000)
        finally:
            browser.close()
