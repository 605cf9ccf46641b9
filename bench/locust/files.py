"""``make load-files``: a bounded locust run against the upload server (N1).

Each simulated user uploads a small file under its own name (with its
Content-Digest), reads it back whole and by a range, lists, and deletes it.
"""

import base64
import hashlib
import os
import uuid

from locust import HttpUser, between, task

BODY = os.urandom(64 * 1024)
DIGEST = "sha-256=:" + base64.b64encode(hashlib.sha256(BODY).digest()).decode() + ":"


class Uploader(HttpUser):
    wait_time = between(0.01, 0.05)

    def on_start(self) -> None:
        self.name = f"load-{uuid.uuid4().hex}.bin"

    @task(3)
    def round_trip(self) -> None:
        url = f"/files/{self.name}"
        with self.client.put(url, data=BODY, headers={"Content-Digest": DIGEST}, name="/files/[name] PUT",
                             catch_response=True) as r:  # fmt: skip
            if r.status_code != 201:
                r.failure(f"PUT returned {r.status_code}")
        with self.client.get(url, headers={"Range": "bytes=0-1023"}, name="/files/[name] range",
                             catch_response=True) as r:  # fmt: skip
            if r.status_code != 206 or r.content != BODY[:1024]:
                r.failure(f"range returned {r.status_code}")
        self.client.get(url, name="/files/[name] GET")
        self.client.delete(url, name="/files/[name] DELETE")

    @task(1)
    def listing(self) -> None:
        self.client.get("/files/")
