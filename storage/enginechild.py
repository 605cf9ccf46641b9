"""Any engine as a child process the crash tests can SIGKILL.

``python -m storage.enginechild ENGINE DIR [--sync always|never|MS]``

ENGINE is a name from ``storage.engines`` or a ``module:callable`` opener
(``servers.kvsql.engine:open_dir``).

Protocol, one line each way: on start, after recovery, the child prints
``READY``; then it reads ``P <id> <key> <value>`` (put) or ``D <id> <key>``
(delete) and answers ``A <id>`` only after the engine returned, i.e. after
the write is acknowledged under the sync policy. End of input: close, exit 0.
Keys and values are ASCII words without spaces.
"""

from __future__ import annotations

import argparse
import sys

from storage import engines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("engine", help=f"one of {', '.join(sorted(engines.ENGINES))}, or module:callable")
    p.add_argument("dir")
    p.add_argument("--sync", default="always")
    args = p.parse_args(argv)
    sync: str | int = int(args.sync) if args.sync.isdigit() else args.sync
    try:
        db = engines.open(args.engine, args.dir, sync=sync)
    except TypeError:  # an engine without sync policies (it always syncs, or says so)
        db = engines.open(args.engine, args.dir)
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    for line in sys.stdin:
        op, ident, key, *value = line.split()
        if op == "P":
            db.put(key.encode(), value[0].encode())
        else:
            db.delete(key.encode())
        out.write(f"A {ident}\n")
        out.flush()
    db.close()


if __name__ == "__main__":
    main()
