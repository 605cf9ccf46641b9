"""``make bench``: every experiment registered in the catalog, one after another."""

from __future__ import annotations

import re
import subprocess
import sys

from servers.catalog import EXERCISES

from .common import REPO_ROOT


def main() -> None:
    names = []
    for ex in EXERCISES.values():
        for name in re.findall(r"make bench-(\w+)", ex.bench or ""):  # a row may name several
            if name not in names:
                names.append(name)
    if not names:
        print("no experiments are registered in the catalog yet")
    failed = []
    for name in names:
        print(f"\n### make bench-{name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=REPO_ROOT).returncode:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
