"""N11: JWT sign and verify per second, netlib.jwt against PyJWT, same keys, same claims.

For each algorithm (HS256, RS256, ES256) both libraries sign the same claims
with the same key, and each verifies its own tokens with the same checks on
(signature, algorithm allow-list, ``exp``, ``aud``). The rounds are
interleaved (ours, PyJWT; PyJWT, ours; ...), and the table shows min / median /
max ops/s and the ratio of the medians. Both call the same primitives (the
``cryptography`` package for RSA and EC, ``hmac`` for HS256), so what is
measured is the token handling around them: base64url, JSON, header and claim
checks. Each library also verifies the other's tokens once per algorithm before
timing, so the two are known to agree on what they measure.

Results: ``bench/results/jwt.json`` and ``jwt.png``.

``python -m bench.jwt [--tokens N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import jwt as pyjwt

from bench.common import Row, header, interleaved, measured, median_bars, results_dir, save, table
from netlib import jwt

ALGS = ("HS256", "RS256", "ES256")
AUDIENCE = "bench"


def keys(alg: str) -> tuple[jwt.Key, Any, Any]:
    """Our key, and PyJWT's signing and verifying key for the same secret or key pair."""
    if alg == "HS256":
        secret = b"s" * 64  # at least the minimum netlib.jwt asks of an HMAC secret
        return jwt.HMACKey(secret=secret), secret, secret
    ours = jwt.RSAKey.generate() if alg == "RS256" else jwt.ECKey.generate()
    private = ours.key  # the same key object, so both sign alike
    return ours, private, private.public_key()


def rate(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def runners(alg: str, n: int) -> dict[str, dict[str, Callable[[], float]]]:
    """For ``sign`` and ``verify``: one callable per library that returns ops/s over
    ``n`` operations (RS256 signing, ~50x slower than the rest, does a tenth)."""
    n_sign = max(1, n // 10) if alg == "RS256" else n
    ours, sign_key, verify_key = keys(alg)
    claims = {"sub": "ada", "aud": AUDIENCE, "exp": int(time.time()) + 3600}
    verifier = jwt.Verifier([ours], algorithms=[alg], audience=AUDIENCE)
    our_token = jwt.encode(claims, ours, alg)
    their_token = pyjwt.encode(claims, sign_key, algorithm=alg)
    # Agreement first: each verifies the other's token.
    assert verifier.decode(their_token)["sub"] == "ada"
    assert pyjwt.decode(our_token, verify_key, algorithms=[alg], audience=AUDIENCE)["sub"] == "ada"
    return {
        "sign": {
            "syslab": lambda: rate(lambda: jwt.encode(claims, ours, alg), n_sign),
            "PyJWT": lambda: rate(lambda: pyjwt.encode(claims, sign_key, algorithm=alg), n_sign),
        },
        "verify": {
            "syslab": lambda: rate(lambda: verifier.decode(our_token), n),
            "PyJWT": lambda: rate(
                lambda: pyjwt.decode(their_token, verify_key, algorithms=[alg], audience=AUDIENCE), n
            ),
        },
    }


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(prog="python -m bench.jwt", description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=2000, help="tokens per round (RS256 signing: a tenth)")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    print(header("jwt: sign and verify per second, netlib.jwt vs PyJWT " + pyjwt.__version__))
    rows: list[Row] = []
    for alg in ALGS:
        for op, impls in runners(alg, args.tokens).items():
            got = interleaved(impls, args.rounds)
            rows += [measured(f"{alg} {op}", name, got[name], "ops/s") for name in impls]
    print(table(rows, reference="PyJWT"))
    save("jwt", rows, tokens=args.tokens, rounds=args.rounds)
    png = median_bars(rows, results_dir() / "jwt.png", "JWT: ops/s by algorithm, syslab vs PyJWT (reference); median, whiskers min..max",
                      "operations per second")  # fmt: skip
    print(f"\nwrote {png}")
    return rows


if __name__ == "__main__":
    main()
