"""``make load-ec2``: a bounded locust run against the mock EC2 (N5).

Each user creates an instance that boots in 0.5 s and waits for it by a long
poll (``?wait=5&state=pending``); some users short-poll instead.
"""

from locust import HttpUser, between, task


class Operator(HttpUser):
    wait_time = between(0.01, 0.05)

    def _create(self) -> str:
        r = self.client.post("/instances", json={"delay": 0.5}, name="/instances POST")
        return str(r.json()["id"])

    @task(3)
    def long_poll(self) -> None:
        iid = self._create()
        with self.client.get(f"/instances/{iid}?wait=5&state=pending", name="/instances/[id] long poll",
                             catch_response=True) as r:  # fmt: skip
            if r.status_code != 200 or r.json()["state"] != "running":
                r.failure(f"long poll returned {r.status_code}")

    @task(1)
    def short_poll(self) -> None:
        iid = self._create()
        for _ in range(20):
            r = self.client.get(f"/instances/{iid}", name="/instances/[id] short poll")
            if r.json()["state"] != "pending":
                return
            self.wait()
