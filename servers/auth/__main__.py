"""``python -m servers.auth [--users FILE] [--key PEM] [--access-ttl S]``."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from netlib import jwt
from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser

from .app import serve
from .issuer import Issuer, hash_password

DEMO_USERS = {"ada": "lovelace", "alan": "turing"}  # for the demo only; --users for real ones


def load_users(path: Path | None) -> dict[str, str]:
    """``[[users]]`` tables with ``name`` and ``password`` (plain, hashed at start) or ``scrypt``."""
    if path is None:
        return {name: hash_password(pw) for name, pw in DEMO_USERS.items()}
    try:
        doc = tomllib.loads(path.read_text())
        return {u["name"]: u.get("scrypt") or hash_password(u["password"]) for u in doc["users"]}
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise SystemExit(f"auth: cannot read users from {path}: {e}") from None


def load_key(path: Path | None) -> tuple[jwt.Key, str]:
    if path is None:
        return jwt.ECKey.generate("ES256", kid="es256-1"), "ES256"
    try:
        key = jwt.load_pem(path.read_bytes(), kid=path.stem)
    except (OSError, ValueError) as e:
        raise SystemExit(f"auth: cannot load a private key from {path}: {e}") from None
    return key, key.algorithms[0]


def main() -> int:
    p = server_parser("auth", "issues JWTs: login, refresh rotation, logout, JWKS (N11)", keeps_data=False)
    p.add_argument("--users", type=Path, help="TOML file of [[users]] (default: demo users ada, alan)")
    p.add_argument("--key", type=Path, help="PEM private key, RSA or EC (default: a new P-256 key)")
    p.add_argument("--access-ttl", type=float, default=300.0, help="access token lifetime, s (300)")
    args = parse(p)
    if not 1 <= args.access_ttl <= 86_400:
        p.error("--access-ttl is 1 to 86400 seconds")
    key, alg = load_key(args.key)
    issuer = Issuer(load_users(args.users), key, alg, access_ttl=args.access_ttl)

    async def go() -> None:
        server = await serve(issuer, ShellConfig(host=args.host, port=args.port))
        await serve_until_signalled(server)

    run(go)
    return 0


if __name__ == "__main__":
    sys.exit(main())
