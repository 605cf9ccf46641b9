"""``make load-hls``: a bounded locust run of HLS viewers against servers/hls.

Each simulated viewer does what a player does: fetch the master playlist, pick a
rendition, fetch its media playlist, then its segments in order (a VOD viewer
walks the whole list; a live viewer re-polls the live playlist and takes the
newest segment). Checked: the MIME types a player relies on.
"""

import random
import re

from locust import HttpUser, between, task

SEGMENT = re.compile(r"^(seg_\d+\.ts)$", re.M)


class Viewer(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        # One of each first: a short run on a busy machine still reports every request kind.
        self.vod()
        self.live()

    def _playlist(self, path: str, name: str) -> str:
        with self.client.get(path, name=name, catch_response=True) as r:
            if r.headers.get("content-type") != "application/vnd.apple.mpegurl":
                r.failure(f"playlist served as {r.headers.get('content-type')!r}")
            return r.text

    def _segment(self, path: str) -> None:
        with self.client.get(path, name="segment", catch_response=True) as r:
            if r.status_code == 404:
                r.success()  # a live segment that just left the window: a player skips ahead
            elif r.headers.get("content-type") != "video/mp2t" or r.content[:1] != b"\x47":
                r.failure(f"segment served as {r.headers.get('content-type')!r}")

    @task(3)
    def vod(self) -> None:
        master = self._playlist("/media/vod/master.m3u8", "master (vod)")
        rendition = random.choice(re.findall(r"^(\d+)/index\.m3u8$", master, re.M) or ["0"])
        media = self._playlist(f"/media/vod/{rendition}/index.m3u8", "media playlist (vod)")
        for seg in SEGMENT.findall(media)[:3]:
            self._segment(f"/media/vod/{rendition}/{seg}")

    @task(1)
    def live(self) -> None:
        self._playlist("/media/live/master.m3u8", "master (live)")
        media = self._playlist("/media/live/2/index.m3u8", "media playlist (live)")
        newest = SEGMENT.findall(media)[-1:]
        for seg in newest:
            self._segment(f"/media/live/2/{seg}")
