"""JSON Web Tokens: sign and verify JWS compact tokens, sans-IO, the way RFC 8725 asks.

Layout: ``tokens`` (``encode``, ``Verifier`` with its checks in order: shape,
algorithm allow-list, key, signature, claims), ``keys`` (``HMACKey``,
``RSAKey``, ``ECKey``: each signs only its own family of algorithms, which is
what makes algorithm confusion impossible; JWK import and export), ``b64``
(strict base64url), ``errors`` (``InvalidToken`` and one subclass per rule).

Usage::

    from netlib import jwt
    key = jwt.RSAKey.generate(kid="2026-11")
    token = jwt.encode({"sub": "ada", "exp": now + 300, "aud": "api"}, key, "RS256")
    verifier = jwt.Verifier([key.public()], algorithms=["RS256"], audience="api")
    claims = verifier.decode(token)          # or raises jwt.InvalidToken

What is refused, by construction: ``alg: none`` (not an algorithm here),
HS256 "signed" with an RSA public key (an RSA key does not do HMAC), a ``kid``
we do not hold, an algorithm not in the verifier's list (the token's header is
never trusted to choose), ``crit`` extensions, non-canonical base64,
oversized or deeply nested tokens, wrongly typed claims.
"""

from .errors import (
    AlgorithmNotAllowed,
    BadSignature,
    ExpiredToken,
    InvalidClaim,
    InvalidToken,
    MalformedToken,
    NotYetValid,
    UnknownKey,
)
from .keys import ECKey, HMACKey, Key, RSAKey, from_jwk, load_pem
from .tokens import ALGORITHMS, MAX_TOKEN_BYTES, Verifier, encode, split

__all__ = [
    "ALGORITHMS", "AlgorithmNotAllowed", "BadSignature", "ECKey", "ExpiredToken", "HMACKey",
    "InvalidClaim", "InvalidToken", "Key", "MAX_TOKEN_BYTES", "MalformedToken", "NotYetValid",
    "RSAKey", "UnknownKey", "Verifier", "encode", "from_jwk", "load_pem", "split",
]  # fmt: skip
