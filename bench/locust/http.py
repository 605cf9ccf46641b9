"""``make load-http``: a bounded locust run against the demo HTTP server.

Each simulated user loops over the three routes a browser or API client would
hit: the hello route, the JSON echo and a static file (with a conditional GET
that should come back 304).
"""

from locust import HttpUser, between, task


class DemoUser(HttpUser):
    wait_time = between(0.01, 0.05)

    @task(5)
    def hello(self) -> None:
        self.client.get("/hello")

    @task(2)
    def echo(self) -> None:
        with self.client.post("/echo", json={"n": 1, "tags": ["a", "b"]}, catch_response=True) as r:
            if r.status_code != 200 or r.json() != {"n": 1, "tags": ["a", "b"]}:
                r.failure(f"echo returned {r.status_code} {r.text[:80]!r}")

    @task(1)
    def static(self) -> None:
        r = self.client.get("/static/index.html")
        etag = r.headers.get("etag")
        if etag:
            with self.client.get("/static/index.html", headers={"If-None-Match": etag},
                                 catch_response=True, name="/static/index.html (304)") as r2:  # fmt: skip
                if r2.status_code == 304:
                    r2.success()
                else:
                    r2.failure(f"expected 304, got {r2.status_code}")
