"""Signing keys by family: HMAC secrets, RSA and EC key pairs, and their JWK form (RFC 7517).

A key knows which algorithms it may sign and verify. This is the guard against
*algorithm confusion* (RFC 8725 §2.1, §3.1): the verifier picks the key first
(by ``kid``, or the only key of the right family) and the key refuses any
algorithm outside its own family, so an RSA public key can never be fed to HMAC
as a "secret" and a token saying ``alg: HS256`` cannot be checked against it.

Primitives come from ``cryptography``; the JOSE glue (algorithm names, the raw
r||s form of ECDSA signatures, JWK members) is written here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .b64 import b64decode, b64encode
from .errors import AlgorithmNotAllowed, BadSignature, MalformedToken

MIN_HMAC_SECRET = 32  # bytes: RFC 7518 §3.2 -- a key at least as long as the hash output
MIN_RSA_BITS = 2048  # RFC 7518 §3.3


@dataclass
class Key:
    """Base: ``kid`` names the key in a token's header and in a JWKS."""

    kid: str | None = field(default=None, kw_only=True)
    algorithms: tuple[str, ...] = ()

    def allows(self, alg: str) -> bool:
        return alg in self.algorithms

    def _check(self, alg: str) -> None:
        if not self.allows(alg):
            raise AlgorithmNotAllowed(f"a {type(self).__name__} does not do {alg}")

    def sign(self, alg: str, data: bytes) -> bytes:
        raise NotImplementedError

    def verify(self, alg: str, data: bytes, signature: bytes) -> None:
        raise NotImplementedError

    def public_jwk(self) -> dict[str, Any]:
        raise NotImplementedError


_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


@dataclass
class HMACKey(Key):
    secret: bytes = b""
    algorithms: tuple[str, ...] = tuple(_HMAC)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_HMAC_SECRET:
            raise ValueError(f"an HMAC secret needs at least {MIN_HMAC_SECRET} bytes")

    def allows(self, alg: str) -> bool:
        """Only hashes no longer than the secret (RFC 7518 §3.2): 32 bytes do HS256, not HS512."""
        return alg in _HMAC and len(self.secret) >= _HMAC[alg]().digest_size

    def sign(self, alg: str, data: bytes) -> bytes:
        self._check(alg)
        return hmac.new(self.secret, data, _HMAC[alg]).digest()

    def verify(self, alg: str, data: bytes, signature: bytes) -> None:
        if not hmac.compare_digest(self.sign(alg, data), signature):  # constant time
            raise BadSignature("signature does not match")

    def public_jwk(self) -> dict[str, Any]:
        raise ValueError("an HMAC secret has no public form: never publish it in a JWKS")


_HASHES: dict[str, Any] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


@dataclass
class RSAKey(Key):
    """RS256/384/512 (PKCS#1 v1.5) and PS256/384/512 (PSS); a public key only verifies."""

    key: Any = None  # rsa.RSAPrivateKey or rsa.RSAPublicKey
    algorithms: tuple[str, ...] = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")

    def __post_init__(self) -> None:
        if not isinstance(self.key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
            raise TypeError("RSAKey needs a cryptography RSA key")
        if self.key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA keys need at least {MIN_RSA_BITS} bits")

    @classmethod
    def generate(cls, bits: int = 2048, kid: str | None = None) -> RSAKey:
        return cls(key=rsa.generate_private_key(public_exponent=65537, key_size=bits), kid=kid)

    def public(self) -> RSAKey:
        pub = self.key.public_key() if isinstance(self.key, rsa.RSAPrivateKey) else self.key
        return RSAKey(key=pub, kid=self.kid, algorithms=self.algorithms)

    @staticmethod
    def _pad(alg: str, h: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
        if alg.startswith("PS"):
            return padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
        return padding.PKCS1v15()

    def sign(self, alg: str, data: bytes) -> bytes:
        self._check(alg)
        if not isinstance(self.key, rsa.RSAPrivateKey):
            raise ValueError("a public key cannot sign")
        h = _HASHES[alg[2:]]()
        return self.key.sign(data, self._pad(alg, h), h)

    def verify(self, alg: str, data: bytes, signature: bytes) -> None:
        self._check(alg)
        pub = self.public().key
        h = _HASHES[alg[2:]]()
        try:
            pub.verify(signature, data, self._pad(alg, h), h)
        except InvalidSignature:
            raise BadSignature("signature does not match") from None

    def public_jwk(self) -> dict[str, Any]:
        n = self.public().key.public_numbers()
        jwk = {"kty": "RSA", "n": _uint(n.n), "e": _uint(n.e), "use": "sig"}
        return {**jwk, "kid": self.kid} if self.kid else jwk


_CURVES = {"ES256": (ec.SECP256R1, 32, "P-256"), "ES384": (ec.SECP384R1, 48, "P-384"),
           "ES512": (ec.SECP521R1, 66, "P-521")}  # fmt: skip


@dataclass
class ECKey(Key):
    """ES256 (P-256), ES384, ES512: one algorithm per curve, as RFC 7518 §3.4 ties them."""

    key: Any = None  # ec.EllipticCurvePrivateKey or ec.EllipticCurvePublicKey

    def __post_init__(self) -> None:
        if not isinstance(self.key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
            raise TypeError("ECKey needs a cryptography EC key")
        for alg, (curve, _, _) in _CURVES.items():
            if isinstance(self.key.curve, curve):
                self.algorithms = (alg,)
                return
        raise ValueError(f"unsupported curve {self.key.curve.name}")

    @classmethod
    def generate(cls, alg: str = "ES256", kid: str | None = None) -> ECKey:
        return cls(key=ec.generate_private_key(_CURVES[alg][0]()), kid=kid)

    def public(self) -> ECKey:
        pub = self.key.public_key() if isinstance(self.key, ec.EllipticCurvePrivateKey) else self.key
        return ECKey(key=pub, kid=self.kid)

    def sign(self, alg: str, data: bytes) -> bytes:
        self._check(alg)
        if not isinstance(self.key, ec.EllipticCurvePrivateKey):
            raise ValueError("a public key cannot sign")
        der = self.key.sign(data, ec.ECDSA(_HASHES[alg[2:]]()))
        r, s = decode_dss_signature(der)
        size = _CURVES[alg][1]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")  # JWS wants raw r || s

    def verify(self, alg: str, data: bytes, signature: bytes) -> None:
        self._check(alg)
        size = _CURVES[alg][1]
        if len(signature) != 2 * size:
            raise BadSignature("an ECDSA signature has the wrong length")
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        try:
            self.public().key.verify(encode_dss_signature(r, s), data, ec.ECDSA(_HASHES[alg[2:]]()))
        except InvalidSignature:
            raise BadSignature("signature does not match") from None

    def public_jwk(self) -> dict[str, Any]:
        n = self.public().key.public_numbers()
        size = _CURVES[self.algorithms[0]][1]
        jwk = {"kty": "EC", "crv": _CURVES[self.algorithms[0]][2], "use": "sig",
               "x": b64encode(n.x.to_bytes(size, "big")), "y": b64encode(n.y.to_bytes(size, "big"))}  # fmt: skip
        return {**jwk, "kid": self.kid} if self.kid else jwk


def _uint(n: int) -> str:
    return b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def from_jwk(jwk: dict[str, Any]) -> Key:
    """A public key from its JWK (RSA or EC); anything else is refused."""
    kid = jwk.get("kid")
    pub: Any
    try:
        if jwk.get("kty") == "RSA":
            pub = rsa.RSAPublicNumbers(int.from_bytes(b64decode(jwk["e"]), "big"),
                                       int.from_bytes(b64decode(jwk["n"]), "big")).public_key()  # fmt: skip
            return RSAKey(key=pub, kid=kid)
        if jwk.get("kty") == "EC":
            curve = {c[2]: c[0] for c in _CURVES.values()}[jwk["crv"]]
            pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64decode(jwk["x"]), "big"),
                                                int.from_bytes(b64decode(jwk["y"]), "big"),
                                                curve()).public_key()  # fmt: skip
            return ECKey(key=pub, kid=kid)
    except (KeyError, ValueError, TypeError, MalformedToken) as e:
        raise ValueError(f"bad JWK: {e}") from None
    raise ValueError(f"unsupported JWK kty {jwk.get('kty')!r}")


def load_pem(data: bytes, kid: str | None = None) -> Key:
    """A private or public RSA/EC key from PEM."""
    try:
        key: Any = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        key = serialization.load_pem_public_key(data)
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return RSAKey(key=key, kid=kid)
    return ECKey(key=key, kid=kid)
