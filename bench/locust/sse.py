"""``make load-sse``: a bounded locust run against the SSE server (N2).

Users publish events and read the stats; each also holds an event stream open
for a moment and reads what the replay (``Last-Event-ID: 0``) sends.
"""

from locust import HttpUser, between, task


class Publisher(HttpUser):
    wait_time = between(0.01, 0.05)

    @task(5)
    def publish(self) -> None:
        with self.client.post("/publish", json={"event": "load", "data": {"n": 1}},
                              catch_response=True) as r:  # fmt: skip
            if r.status_code != 201:
                r.failure(f"publish returned {r.status_code}")

    @task(1)
    def stats(self) -> None:
        self.client.get("/stats")

    @task(1)
    def replay(self) -> None:
        with self.client.get("/events", headers={"Last-Event-ID": "0"}, stream=True, timeout=5,
                             name="/events (replay)", catch_response=True) as r:  # fmt: skip
            chunk = next(r.iter_content(4096), b"")
            if r.status_code != 200 or b"retry:" not in chunk:
                r.failure(f"stream returned {r.status_code} {chunk[:40]!r}")
            else:
                r.success()
