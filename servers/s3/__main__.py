"""``python -m servers.s3 [--dir PATH] [--credentials FILE]``: the S3-compatible store."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .app import S3, serve
from .store import Store

# The demo pair (AWS's documentation example key): --credentials for real ones.
DEMO_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DEMO_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DEMO_BUCKET = "demo"
MAX_CREDENTIALS = 10_000  # entries read from a credentials file


def load_credentials(path: Path | None) -> dict[str, str]:
    """``[[credentials]]`` tables with ``access_key`` and ``secret_key``."""
    if path is None:
        return {DEMO_ACCESS_KEY: DEMO_SECRET_KEY}
    try:
        doc = tomllib.loads(path.read_text())
        table = {
            str(c["access_key"]): str(c["secret_key"]) for c in doc["credentials"][:MAX_CREDENTIALS]
        }
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise SystemExit(f"s3: cannot read credentials from {path}: {e!r}") from None
    if not table:
        raise SystemExit(f"s3: {path} has no [[credentials]]")
    return table


def main() -> int:
    p = server_parser(
        "s3",
        "an S3-compatible object store with SigV4 authentication (N10). "
        f"Demo credentials: access key {DEMO_ACCESS_KEY}, secret key {DEMO_SECRET_KEY}",
    )
    p.add_argument("--credentials", type=Path,
                   help="TOML file of [[credentials]] access_key/secret_key (default: the demo pair)")  # fmt: skip
    args = parse(p)
    secrets = load_credentials(args.credentials)
    try:
        store = Store(args.dir)
    except OSError as e:
        raise SystemExit(f"s3: cannot use --dir {args.dir}: {e}") from None
    demo = DEMO_ACCESS_KEY if DEMO_ACCESS_KEY in secrets else None
    if demo and not any(name == DEMO_BUCKET for name, _ in store.buckets()):
        store.create_bucket(DEMO_BUCKET)  # the bucket the upload page and /_presign example use
    s3 = S3(store, secrets)

    async def go() -> None:
        server = await serve(s3, ShellConfig(host=args.host, port=args.port), demo)
        await serve_until_signalled(server)

    try:
        run(go)
    finally:
        store.close()  # checkpoints the SQLite WAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
