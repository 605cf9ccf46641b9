"""N13: the HLS server, VOD and live, on a real process with ffmpeg-made media: playlists,
MIME types, CORS, ranges, caching, no way out of the media directory, ffprobe over HTTP,
the live window sliding, and hls.js playing both in headless Chromium."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from support import wait_until

from harness.procs import Child, python_module, require_binary
from servers.hls.ladder import LADDER, LIVE_WINDOW

pytestmark = pytest.mark.exercise("N13")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def hls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Child]:
    root = tmp_path_factory.mktemp("hls")
    with python_module("servers.hls", "--dir", str(root), "--seconds", "6", "--no-access-log",
                       port=0, start_timeout=180) as child:  # fmt: skip
        child.root = root  # type: ignore[attr-defined]
        yield child


def get(child: Child, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    req = urllib.request.Request(f"http://127.0.0.1:{child.port}{path}", headers=headers or {},
                                 method=method)  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_master_playlist_names_a_ladder_of_three_vod_renditions(hls):
    status, headers, body = get(hls, "/media/vod/master.m3u8")
    assert status == 200
    text = body.decode()
    assert text.startswith("#EXTM3U")
    infs = re.findall(r"#EXT-X-STREAM-INF:BANDWIDTH=(\d+),RESOLUTION=(\d+)x(\d+)", text)
    assert [(int(w), int(h)) for _, w, h in infs] == [(r.width, r.height) for r in LADDER]
    bandwidths = [int(b) for b, _, _ in infs]
    assert bandwidths == sorted(bandwidths, reverse=True)
    for i in range(len(LADDER)):
        status, _, media = get(hls, f"/media/vod/{i}/index.m3u8")
        text = media.decode()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
        segments = re.findall(r"^(seg_\d+\.ts)$", text, re.M)
        assert len(segments) >= 3  # 6 s in 2 s segments
        assert get(hls, f"/media/vod/{i}/{segments[0]}", method="HEAD")[0] == 200


def test_mime_types_cors_and_caching_headers(hls):
    _, playlist, _ = get(hls, "/media/vod/master.m3u8")
    assert playlist["content-type"] == "application/vnd.apple.mpegurl"
    assert playlist["cache-control"] == "public, max-age=1"  # playlists: short
    assert playlist["access-control-allow-origin"] == "*"
    _, segment, body = get(hls, "/media/vod/0/seg_00000.ts")
    assert segment["content-type"] == "video/mp2t"
    assert segment["cache-control"] == "public, max-age=31536000, immutable"  # segments: long
    assert segment["access-control-allow-origin"] == "*"
    assert body[0] == 0x47 and body[188] == 0x47  # MPEG-TS sync bytes every 188
    status, pre, _ = get(hls, "/media/vod/0/seg_00000.ts", method="OPTIONS",
                         headers={"Origin": "http://elsewhere", "Access-Control-Request-Method": "GET",
                                  "Access-Control-Request-Headers": "range"})  # fmt: skip
    assert status == 204 and "Range" in pre["access-control-allow-headers"]


def test_byte_ranges_of_a_segment(hls):
    _, _, whole = get(hls, "/media/vod/1/seg_00000.ts")
    status, headers, part = get(hls, "/media/vod/1/seg_00000.ts", {"Range": "bytes=188-375"})
    assert status == 206 and part == whole[188:376]
    assert headers["content-range"] == f"bytes 188-375/{len(whole)}"
    status, headers, _ = get(hls, "/media/vod/1/seg_00000.ts", {"Range": f"bytes={len(whole)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(whole)}"
    status, headers, body = get(hls, "/media/vod/1/seg_00000.ts", {"Range": "bytes=0-0,-1"})
    assert status == 206 and headers["content-type"].startswith("multipart/byteranges")


@pytest.mark.parametrize("target", [
    b"/media/../source.mp4", b"/media/%2e%2e/source.mp4", b"/media/vod/..%2f..%2fsource.mp4",
    b"/media//etc/passwd", b"/media/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
])  # fmt: skip
def test_paths_outside_the_media_directory_are_refused(hls, target):
    with socket.create_connection(("127.0.0.1", hls.port), timeout=10) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    assert got.split(b"\r\n")[0] in (b"HTTP/1.1 404 Not Found", b"HTTP/1.1 400 Bad Request")
    assert b"ftyp" not in got and b"root:" not in got


def test_ffprobe_reads_the_master_playlist_over_http(hls):
    ffprobe = require_binary("ffprobe", "ffmpeg")
    out = subprocess.run([ffprobe, "-v", "error", "-show_entries", "stream=codec_name,width,height",
                          "-of", "csv=p=0", f"http://127.0.0.1:{hls.port}/media/vod/master.m3u8"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    video = {tuple(line.split(",")) for line in out.stdout.split() if line.startswith("h264")}
    assert video == {("h264", str(r.width), str(r.height)) for r in LADDER}
    assert "aac" in out.stdout


def _live(hls: Child) -> tuple[int, list[str]]:
    status, _, body = get(hls, "/media/live/0/index.m3u8")
    if status != 200:
        return -1, []
    text = body.decode()
    seq = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
    assert "#EXT-X-ENDLIST" not in text
    return (int(seq[1]) if seq else 0), re.findall(r"^(seg_\d+\.ts)$", text, re.M)


def test_live_window_slides_and_old_segments_are_deleted(hls):
    wait_until(lambda: _live(hls)[0] >= 0 and len(_live(hls)[1]) >= 3, timeout=60,
               what="a live playlist with segments")  # fmt: skip
    first_seq, first_segments = _live(hls)
    assert len(first_segments) <= LIVE_WINDOW
    wait_until(lambda: _live(hls)[0] >= first_seq + LIVE_WINDOW + 3, timeout=60,
               what="the media sequence advancing past the first window")  # fmt: skip
    seq, segments = _live(hls)
    assert len(segments) <= LIVE_WINDOW and first_segments[0] not in segments
    assert int(segments[0][4:9]) == seq  # the sequence number names the first segment listed
    gone = Path(hls.root) / "live" / "0" / first_segments[0]  # type: ignore[attr-defined]
    wait_until(lambda: not gone.exists(), timeout=30, what="the old segment deleted")
    assert get(hls, f"/media/live/0/{first_segments[0]}")[0] == 404


def test_hls_js_plays_vod_and_live_in_headless_chromium(hls):
    chromium = require_binary("chromium", "chromium")
    played = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            for name in ("vod", "live"):
                page.goto(f"http://127.0.0.1:{hls.port}/?src=/media/{name}/master.m3u8"
                          if name == "live" else f"http://127.0.0.1:{hls.port}/")  # fmt: skip
                page.wait_for_function("window.playerState && window.playerState.levels > 0",
                                       timeout=30_000)  # fmt: skip
                t0 = time.monotonic()
                start = page.evaluate("document.getElementById('video').currentTime")
                page.wait_for_function(
                    f"document.getElementById('video').currentTime > {start} + 1.5", timeout=30_000)
                played[name] = (page.evaluate("window.playerState"), time.monotonic() - t0)
        finally:
            browser.close()
    for name, (state, _) in played.items():
        assert state["levels"] == len(LADDER) and state["errors"] == [], (name, state)


def test_port_in_use_is_one_line(hls, tmp_path):
    out = subprocess.run([sys.executable, "-m", "servers.hls", "--port", str(hls.port),
                          "--dir", str(hls.root), "--no-live"],  # type: ignore[attr-defined]
                         capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "cannot listen" in out.stderr.strip().splitlines()[-1]


def test_make_load_hls_runs_locust_without_failures():
    res = subprocess.run([sys.executable, "-m", "bench.load", "hls", "--users", "3", "--seconds", "3"],
                         cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
                         timeout=180)  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-2000:]
    for name in ("master (vod)", "media playlist (vod)", "segment", "master (live)"):
        assert re.search(rf"{re.escape(name)}\s+[1-9]\d*\s+0\(0\.00%\)", out), out[-2000:]
