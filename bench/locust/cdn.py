"""``make load-cdn``: a bounded locust run against the toy CDN (the cluster's first edge).

Each simulated user mostly reads Popular Searches for a region (cacheable for 5 s:
the edge absorbs nearly all of it) and OG cards of repositories drawn with a Zipf
popularity (a few are hot, most are cold), and now and then posts a search. Each
request is named by what the edge did (``X-Cache``), so locust's table shows the
hit/miss split directly.
"""

import random

from locust import HttpUser, between, task

REPOS = 2000
ZIPF_S = 1.1
_WEIGHTS = [1 / (k + 1) ** ZIPF_S for k in range(REPOS)]


class Visitor(HttpUser):
    wait_time = between(0.01, 0.05)

    def _get(self, path: str, group: str) -> None:
        with self.client.get(path, catch_response=True, name=group) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code} {r.text[:80]!r}")
            else:
                r.request_meta["name"] = f"{group} [{r.headers.get('X-Cache', '?')}]"
                r.success()

    @task(5)
    def popular(self) -> None:
        self._get(f"/api/popular-searches?region={random.choice(['eu', 'us', 'apac'])}", "popular")

    @task(3)
    def card(self) -> None:
        k = random.choices(range(REPOS), _WEIGHTS)[0]
        self._get(f"/og/user{k % 97}/repo{k}.png", "og card")

    @task(1)
    def search(self) -> None:
        q = random.choice(["cdn", "rfc 9111", "lazy images", "og cards", "zipf"])
        self.client.post("/api/search", json={"q": q, "region": random.choice(["eu", "us", "apac"])})
