"""Where a service answers, and how a ``scheme://user:pass@host:port/db`` URL names it.

Shared by every client that is handed a URL (``SYSLAB_MYSQL_URL``, a pool's
``where``) and by the launchers in ``harness``, which hand these out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse


@dataclass
class ServiceAddress:
    """Where a service answers: enough to build any client's connection."""

    host: str
    port: int
    user: str = ""
    password: str = ""
    database: str = ""
    unix_socket: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user else ""
        db = f"/{self.database}" if self.database else ""
        return f"//{auth}{self.host}:{self.port}{db}"


def address_from_url(url: str, default_port: int) -> ServiceAddress:
    u = urlparse(url)
    return ServiceAddress(
        host=u.hostname or "127.0.0.1",
        port=u.port or default_port,
        user=u.username or "",
        password=u.password or "",
        database=(u.path or "/").lstrip("/"),
    )
