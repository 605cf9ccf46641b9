"""The KV store as a child process the crash test can SIGKILL.

``python -m storage.kv.crashchild DIR [--snapshot-every N] [--sync always]``

Protocol, one line each way (stdin -> child, child -> stdout):

* on start, after recovery: ``STATE <json {key: value}>`` then ``READY``;
* ``P <id> <key> <value>`` -> put, ``D <id> <key>`` -> delete; the child answers
  ``A <id>`` only after the store returned, i.e. after the write is durable;
* after each snapshot the child also prints ``S <seq>``;
* end of input: close the store and exit 0.

Keys and values are ASCII words without spaces (the test generates them).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from .store import KVStore


def serve(store: KVStore, inp: TextIO, out: TextIO) -> None:
    state = {k.decode(): v.decode() for k, v in store.items().items()}
    out.write(f"STATE {json.dumps(state)}\nREADY\n")
    out.flush()
    for line in inp:
        parts = line.split()
        before = store.snapshots
        if parts[0] == "P":
            store.put(parts[2].encode(), parts[3].encode())
        elif parts[0] == "D":
            store.delete(parts[2].encode())
        else:
            raise SystemExit(f"bad command {line!r}")
        out.write(f"A {parts[1]}\n")
        if store.snapshots != before:
            out.write(f"S {store.last_snapshot_seq}\n")
        out.flush()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir")
    p.add_argument("--snapshot-every", type=int, default=25)
    p.add_argument("--sync", default="always")
    args = p.parse_args(argv)
    with KVStore(args.dir, sync=args.sync, snapshot_every=args.snapshot_every) as store:
        serve(store, sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
