"""``python -m clients.files put FILE URL | get URL [-o FILE] [-c] | resume FILE URL``.

URL is ``http://127.0.0.1:8094/files/NAME`` or ``tcp://127.0.0.1:9094/NAME``.
The progress bar goes to stderr (``--quiet`` to hide it); the result to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .transfer import Failed, get, put, resume


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m clients.files",
                                description="upload and download files of any size (N1)")  # fmt: skip
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, what in (("put", "upload FILE to URL"), ("resume", "finish an interrupted tcp:// upload")):
        s = sub.add_parser(name, help=what)
        s.add_argument("file", type=Path)
        s.add_argument("url")
        s.add_argument("--rate", type=float, help="limit to this many bytes/s (like curl --limit-rate)")
        s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g = sub.add_parser("get", help="download URL")
    g.add_argument("url")
    g.add_argument("-o", "--output", type=Path, help="file to write (default: the name)")
    g.add_argument("-c", "--continue", dest="cont", action="store_true",
                   help="continue a partial download (HTTP Range)")  # fmt: skip
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    show = not args.quiet
    try:
        if args.cmd == "get":
            from .transfer import parse_target

            out = args.output or Path(parse_target(args.url).name)
            n = get(args.url, out, show, args.cont)
            print(json.dumps({"file": str(out), "size": n}))
            return 0
        if args.rate is not None and args.rate <= 0:
            raise Failed("--rate must be positive")
        if not args.file.is_file():
            raise Failed(f"no such file: {args.file}")
        fn = put if args.cmd == "put" else resume
        print(json.dumps(fn(args.file, args.url, show, args.rate)))
        return 0
    except Failed as e:
        print(f"files: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("files: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
