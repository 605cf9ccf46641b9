"""netlib.jwt: tokens signed and verified here and by PyJWT (written elsewhere), and every
refusal RFC 8725 asks for: alg none, algorithm confusion, unknown kid, audience, time."""

import json

import jwt as pyjwt  # PyJWT: the independent implementation
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from netlib import jwt
from netlib.jwt.b64 import b64encode

pytestmark = pytest.mark.exercise("N11")

NOW = 1_800_000_000.0
SECRET = b"s" * 32
RSA = jwt.RSAKey.generate(kid="rsa-1")
EC = jwt.ECKey.generate("ES256", kid="ec-1")
HMAC = jwt.HMACKey(secret=SECRET, kid="hs-1")
HMAC64 = jwt.HMACKey(secret=b"t" * 64, kid="hs-2")


def pem_public(key):
    return key.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def verifier(keys, algs, **kw):
    return jwt.Verifier(keys, algs, clock=lambda: NOW, **kw)


CLAIMS = {"sub": "ada", "iss": "syslab-auth", "aud": "api", "iat": NOW, "exp": NOW + 300, "jti": "j1"}


@pytest.mark.parametrize("key, alg", [(HMAC, "HS256"), (HMAC64, "HS512"), (RSA, "RS256"), (RSA, "PS256"), (EC, "ES256")])
def test_ours_verify_here_and_in_pyjwt(key, alg):
    token = jwt.encode(CLAIMS, key, alg)
    pub = key if isinstance(key, jwt.HMACKey) else key.public()
    assert verifier([pub], [alg], issuer="syslab-auth", audience="api").decode(token) == CLAIMS
    pykey = key.secret if isinstance(key, jwt.HMACKey) else pem_public(key)
    got = pyjwt.decode(token, pykey, algorithms=[alg], audience="api", issuer="syslab-auth",
                       options={"verify_exp": False, "verify_iat": False})  # fmt: skip
    assert got == CLAIMS
    assert pyjwt.get_unverified_header(token)["kid"] == key.kid


@pytest.mark.parametrize("key, alg", [(HMAC, "HS256"), (RSA, "RS256"), (RSA, "PS384"), (EC, "ES256")])
def test_pyjwts_tokens_verify_here(key, alg):
    signing = SECRET if isinstance(key, jwt.HMACKey) else key.key
    token = pyjwt.encode({**CLAIMS, "iat": int(NOW), "exp": int(NOW) + 60}, signing, algorithm=alg,
                         headers={"kid": key.kid})  # fmt: skip
    pub = key if isinstance(key, jwt.HMACKey) else key.public()
    assert verifier([pub], [alg], audience="api").decode(token)["sub"] == "ada"


def forge(header, payload, signature=b""):
    return ".".join([b64encode(json.dumps(header).encode()), b64encode(json.dumps(payload).encode()),
                     b64encode(signature)])  # fmt: skip


def test_alg_none_is_refused_even_if_listed():
    token = forge({"alg": "none", "typ": "JWT"}, CLAIMS)
    with pytest.raises(jwt.AlgorithmNotAllowed):
        verifier([RSA.public()], ["RS256"]).decode(token)
    with pytest.raises(ValueError):
        jwt.Verifier([RSA.public()], ["none"])
    with pytest.raises(jwt.AlgorithmNotAllowed):
        verifier([RSA.public()], ["RS256"]).decode(pyjwt.encode(CLAIMS, None, algorithm="none"))


def test_hs256_signed_with_the_rsa_public_key_is_refused():
    """The classic confusion: the attacker HMACs with the public key the server publishes."""
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = b64encode(json.dumps(header).encode()) + "." + b64encode(json.dumps(CLAIMS).encode())
    sig = hmac.new(pem_public(RSA), signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + b64encode(sig)
    with pytest.raises(jwt.UnknownKey):  # even when the server also allows HS256
        verifier([RSA.public()], ["RS256", "HS256"]).decode(token)
    with pytest.raises(jwt.AlgorithmNotAllowed):  # and plainly when it does not
        verifier([RSA.public()], ["RS256"]).decode(token)


def test_unknown_kid_and_ambiguous_keys_are_refused():
    other = jwt.RSAKey.generate(kid="rsa-2")
    token = jwt.encode(CLAIMS, other, "RS256")
    with pytest.raises(jwt.UnknownKey, match="rsa-2"):
        verifier([RSA.public()], ["RS256"]).decode(token)
    no_kid = jwt.encode(CLAIMS, jwt.RSAKey(key=RSA.key), "RS256")
    with pytest.raises(jwt.UnknownKey, match="more than one"):
        verifier([RSA.public(), other.public()], ["RS256"]).decode(no_kid)
    assert verifier([RSA.public()], ["RS256"]).decode(no_kid)["sub"] == "ada"  # one key: it is that one


def test_tampering_is_detected():
    token = jwt.encode(CLAIMS, RSA, "RS256")
    h, p, s = token.split(".")
    evil = b64encode(json.dumps({**CLAIMS, "sub": "root"}).encode())
    with pytest.raises(jwt.BadSignature):
        verifier([RSA.public()], ["RS256"]).decode(f"{h}.{evil}.{s}")
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    with pytest.raises((jwt.BadSignature, jwt.MalformedToken)):
        verifier([RSA.public()], ["RS256"]).decode(f"{h}.{p}.{flipped}")
    with pytest.raises(jwt.BadSignature):
        verifier([EC.public()], ["ES256"]).decode(jwt.encode(CLAIMS, EC, "ES256")[:-4] + "AAAA")


@pytest.mark.parametrize("change, error", [
    ({"exp": NOW - 31}, jwt.ExpiredToken),
    ({"nbf": NOW + 31}, jwt.NotYetValid),
    ({"iat": NOW + 31}, jwt.NotYetValid),
    ({"aud": "billing"}, jwt.InvalidClaim),
    ({"aud": ["billing", "ops"]}, jwt.InvalidClaim),
    ({"iss": "evil"}, jwt.InvalidClaim),
    ({"exp": "tomorrow"}, jwt.InvalidClaim),
    ({"exp": True}, jwt.InvalidClaim),
    ({"sub": 7}, jwt.InvalidClaim),
])  # fmt: skip
def test_claims_are_checked(change, error):
    token = jwt.encode({**CLAIMS, **change}, HMAC, "HS256")
    with pytest.raises(error):
        verifier([HMAC], ["HS256"], issuer="syslab-auth", audience="api").decode(token)


def test_leeway_absorbs_small_skew_and_audience_lists_work():
    token = jwt.encode({**CLAIMS, "exp": NOW - 29, "nbf": NOW + 29, "aud": ["ops", "api"]}, HMAC, "HS256")
    assert verifier([HMAC], ["HS256"], audience="api").decode(token)["sub"] == "ada"
    missing = jwt.encode({"sub": "x"}, HMAC, "HS256")
    with pytest.raises(jwt.InvalidClaim, match="exp"):
        verifier([HMAC], ["HS256"]).decode(missing)


def test_revoked_tokens_are_refused():
    token = jwt.encode(CLAIMS, HMAC, "HS256")
    with pytest.raises(jwt.InvalidClaim, match="revoked"):
        verifier([HMAC], ["HS256"], revoked=lambda jti: jti == "j1").decode(token)


@pytest.mark.parametrize("token", [
    "a.b", "a.b.c.d", "", "...", "e30.e30.=", "e30=.e30.", "!!!.e30.",
    forge({"alg": "HS256"}, [1, 2]), ".".join([b64encode(b"[1]"), b64encode(b"{}"), ""]),
    ".".join([b64encode(b"{not json"), b64encode(b"{}"), ""]),
    forge({"alg": "HS256", "crit": ["exp"]}, CLAIMS),
    "x" * (jwt.MAX_TOKEN_BYTES + 1),
    forge({"alg": "HS256"}, {"a": json.loads("[" * 50 + "]" * 50)}),
    "é.e30.e30",
])  # fmt: skip
def test_malformed_tokens_are_refused_cleanly(token):
    with pytest.raises(jwt.InvalidToken):
        verifier([HMAC], ["HS256"]).decode(token)


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_fuzz_nothing_but_invalid_token_escapes(data):
    try:
        verifier([HMAC, RSA.public()], ["HS256", "RS256"]).decode(data)
    except jwt.InvalidToken:
        pass


def test_jwk_round_trip_and_no_public_form_for_secrets():
    for key, alg in ((RSA, "RS256"), (EC, "ES256")):
        pub = jwt.from_jwk(json.loads(json.dumps(key.public_jwk())))
        assert pub.kid == key.kid
        assert verifier([pub], [alg]).decode(jwt.encode(CLAIMS, key, alg))["sub"] == "ada"
        # PyJWT reads our JWK too
        pykey = pyjwt.PyJWK(key.public_jwk())
        assert pyjwt.decode(jwt.encode(CLAIMS, key, alg), pykey.key, algorithms=[alg], audience="api",
                            options={"verify_exp": False, "verify_iat": False})["sub"] == "ada"  # fmt: skip
    with pytest.raises(ValueError):
        HMAC.public_jwk()
    with pytest.raises(ValueError):
        jwt.from_jwk({"kty": "oct", "k": "c2VjcmV0"})


def test_weak_keys_are_refused():
    with pytest.raises(jwt.AlgorithmNotAllowed):  # 32 bytes cannot key HS512
        jwt.encode(CLAIMS, HMAC, "HS512")
    with pytest.raises(ValueError):
        jwt.HMACKey(secret=b"short")
    with pytest.raises(ValueError):
        jwt.RSAKey.generate(bits=1024)
