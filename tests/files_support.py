"""Starting servers.files for tests: a real child process on port 0, both listeners."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.procs import REPO_ROOT, Child, python_module
from tests.support import wait_until

LISTENING = re.compile(r"listening on [0-9.]+:(\d+)")


class FilesServer:
    """A running ``servers.files``: ``http`` and ``tcp`` ports, ``dir``, ``child``."""

    def __init__(self, child: Child, root: Path) -> None:
        self.child, self.dir = child, root
        wait_until(lambda: len(LISTENING.findall(child.output())) >= 2, what="both listeners")
        http, tcp = LISTENING.findall(child.output())[:2]
        self.http, self.tcp = int(http), int(tcp)

    def url(self, name: str = "") -> str:
        return f"http://127.0.0.1:{self.http}/files/{name}"

    def partials(self) -> list[str]:
        return sorted(p.name for p in (self.dir / ".partial").iterdir())

    def finals(self) -> list[str]:
        return sorted(p.name for p in self.dir.iterdir() if not p.name.startswith("."))

    def vmhwm_kb(self) -> int:
        status = Path(f"/proc/{self.child.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def files_child(root: Path, *args: str, fsize: int | None = None) -> Child:
    """The server child; ``fsize`` runs it under ``prlimit --fsize`` (a disk that fills)."""
    extra = ["--tcp-port", "0", "--dir", str(root), *args]
    if fsize is None:
        return python_module("servers.files", *extra, port=0)
    argv: Sequence[str] = ["prlimit", f"--fsize={fsize}", sys.executable, "-m", "servers.files",
                           "--host", "127.0.0.1", "--port", "0", *extra]  # fmt: skip
    from harness.procs import LISTENING as READY

    return Child(argv, port=0, cwd=REPO_ROOT, env={"PYTHONUNBUFFERED": "1"}, name="files",
                 ready_line=READY)  # fmt: skip
