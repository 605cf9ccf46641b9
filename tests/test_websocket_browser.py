"""Headless Chromium's own ``new WebSocket()`` against servers/chat/wsecho (a real
process): text, binary, a large message, permessage-deflate as Chromium offers it,
and the close handshake with a code and reason both ways."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from harness.procs import python_module, require_binary

pytestmark = pytest.mark.exercise("N15")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

SCRIPT = """async (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  let wake = null;
  ws.onmessage = (e) => { inbox.push(e.data); if (wake) { wake(); wake = null; } };
  const next = () => new Promise((res) => {
    if (inbox.length) res(inbox.shift()); else wake = () => res(inbox.shift());
  });
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = rej; });
  const out = {extensions: ws.extensions, protocol: ws.protocol};
  ws.send("héllo ☃");
  out.text = await next();
  ws.send(new Uint8Array([0, 1, 2, 255]).buffer);
  out.binary = Array.from(new Uint8Array(await next()));
  const big = "κόσμε ".repeat(200000);
  ws.send(big);
  out.bigSame = (await next()) === big;
  const closed = new Promise((res) => { ws.onclose = (e) => res(e); });
  ws.close(4000, "bye from chromium");
  const e = await closed;
  out.close = {code: e.code, reason: e.reason, wasClean: e.wasClean};
  return out;
}"""


def test_chromium_websocket_against_our_echo():
    chromium = require_binary("chromium", "chromium")
    with (
        python_module("servers.chat.wsecho", "--no-access-log", port=0) as echo,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            out = page.evaluate(SCRIPT, f"ws://127.0.0.1:{echo.port}/ws/echo")
        finally:
            browser.close()
    assert out["text"] == "héllo ☃"
    assert out["binary"] == [0, 1, 2, 255]
    assert out["bigSame"] is True
    assert out["extensions"].startswith("permessage-deflate")  # Chromium offers it; we accept
    assert out["close"] == {"code": 4000, "reason": "", "wasClean": True}
