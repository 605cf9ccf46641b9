"""``make load-lb``: a bounded locust run through the load balancer to its three demo backends.

Each simulated user mixes what a site behind a balancer sees: plain GETs (spread
round robin), a page that shows the forwarded headers (checked: the client's
address is in X-Forwarded-For), a POST echoed back (checked byte for byte) and
a slow request that holds a backend for 20 ms. Every user starts with one of
each, so a short run on a busy machine still covers every route.
"""

from locust import HttpUser, between, task


class BalancedUser(HttpUser):
    wait_time = between(0.01, 0.05)

    def on_start(self) -> None:
        for visit in (self.hello, self.forwarded, self.echo, self.slow):
            visit()

    @task(6)
    def hello(self) -> None:
        with self.client.get("/", catch_response=True) as r:
            if r.status_code != 200 or not r.headers.get("x-backend", "").startswith("demo"):
                r.failure(f"{r.status_code}, backend {r.headers.get('x-backend')!r}")

    @task(2)
    def forwarded(self) -> None:
        with self.client.get("/headers", catch_response=True) as r:
            if r.status_code != 200 or "127.0.0.1" not in r.json().get("x-forwarded-for", [""])[-1]:
                r.failure(f"no X-Forwarded-For: {r.text[:80]!r}")

    @task(2)
    def echo(self) -> None:
        body = b"through the balancer " * 20
        with self.client.post("/echo", data=body, catch_response=True) as r:
            if r.status_code != 200 or r.content != body:
                r.failure(f"echo returned {r.status_code} {r.content[:40]!r}")

    @task(1)
    def slow(self) -> None:
        self.client.get("/slow?ms=20", name="/slow")
