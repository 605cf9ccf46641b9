"""The client of the range service (``servers/ids``): ids from memory, ranges by HTTP.

A ``RangeClient`` holds one range ``[first, last]`` taken with ``POST
/ranges?size=N`` and hands out its ids one by one under a lock; when the range
runs out it asks for the next. One round trip per N ids. Ids from one client
increase; across clients they interleave by range (no global order). If the
client dies, the rest of its range is never used: gaps, by design.

It speaks HTTP/1.1 with the standard library's ``http.client`` over one
keep-alive connection (the project's own HTTP client is asyncio-only and this
one is called from plain threads); a dropped connection is reopened once.
"""

from __future__ import annotations

import http.client
import json
import threading

# Seconds to wait for the service: a range costs it an fsync or two.
TIMEOUT = 10.0


class RangeServiceError(RuntimeError):
    """The service refused or could not be reached."""


class RangeClient:
    def __init__(self, host: str, port: int, size: int = 1000) -> None:
        self.host, self.port, self.size = host, port, size
        self._next, self._last = 1, 0  # empty
        self._lock = threading.Lock()
        self._http: http.client.HTTPConnection | None = None
        self.ranges_taken: list[tuple[int, int]] = []

    def next_id(self) -> int:
        with self._lock:
            if self._next > self._last:
                self._next, self._last = self._fetch()
                self.ranges_taken.append((self._next, self._last))
            nid = self._next
            self._next += 1
            return nid

    def _fetch(self) -> tuple[int, int]:
        for attempt in (1, 2):
            try:
                return self._post()
            except (OSError, http.client.HTTPException) as e:
                self.close()
                if attempt == 2:
                    raise RangeServiceError(f"range service {self.host}:{self.port}: {e}") from e
        raise AssertionError("unreachable")

    def _post(self) -> tuple[int, int]:
        if self._http is None:
            self._http = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        self._http.request("POST", f"/ranges?size={self.size}", body=b"")
        resp = self._http.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RangeServiceError(f"{resp.status}: {body.decode(errors='replace')}")
        try:
            doc = json.loads(body)
            first, last = int(doc["first"]), int(doc["last"])
        except (ValueError, KeyError, TypeError) as e:
            raise RangeServiceError(f"not a range: {body[:100]!r}") from e
        if not 1 <= first <= last:
            raise RangeServiceError(f"an empty or negative range: {first}..{last}")
        return first, last

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
