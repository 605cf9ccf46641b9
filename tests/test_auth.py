"""N11: the issuer (login, refresh rotation with reuse detection, logout) and a resource server
that verifies its tokens through JWKS, tested with real processes, curl and PyJWT."""

import json
import subprocess
import time

import jwt as pyjwt
import pytest

from netlib import jwt
from servers.auth.issuer import AUDIENCE, ISSUER, AuthError, Issuer, hash_password

pytestmark = pytest.mark.exercise("N11")


class Clock:
    def __init__(self):
        self.t = 1_800_000_000.0

    def __call__(self):
        return self.t


@pytest.fixture(scope="module")
def users():
    return {"ada": hash_password("lovelace")}


@pytest.fixture
def issuer(users):
    clock = Clock()
    return Issuer(users, jwt.ECKey.generate(kid="k1"), clock=clock), clock


def test_login_gives_a_verifiable_access_token(issuer):
    iss, _ = issuer
    pair = iss.login("ada", "lovelace")
    claims = iss.verifier().decode(pair["access_token"])
    assert claims["sub"] == "ada" and claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize("user, password", [("ada", "wrong"), ("nobody", "lovelace"), ("ada", "x" * 5000)])
def test_bad_logins_all_look_the_same(issuer, user, password):
    with pytest.raises(AuthError, match="^invalid username or password$"):
        issuer[0].login(user, password)


def test_refresh_rotates_and_a_reused_token_revokes_the_whole_login(issuer):
    iss, _ = issuer
    first = iss.login("ada", "lovelace")
    second = iss.refresh(first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    iss.verifier().decode(second["access_token"])
    with pytest.raises(AuthError, match="reused"):
        iss.refresh(first["refresh_token"])  # a thief (or the client) replays the spent token
    for token in (first["access_token"], second["access_token"]):
        with pytest.raises(jwt.InvalidClaim, match="revoked"):
            iss.verifier().decode(token)
    with pytest.raises(AuthError):
        iss.refresh(second["refresh_token"])  # the legitimate latest one is dead too


def test_logout_revokes_and_the_list_forgets_expired_tokens(issuer):
    iss, clock = issuer
    pair = iss.login("ada", "lovelace")
    claims = iss.verifier().decode(pair["access_token"])
    iss.logout(claims)
    assert iss.revoked_list() == [claims["jti"]]
    with pytest.raises(AuthError):
        iss.refresh(pair["refresh_token"])
    clock.t += 300 + 31  # past exp + leeway: it would fail as expired anyway
    assert iss.revoked_list() == []


def test_expired_refresh_tokens_are_refused(issuer):
    iss, clock = issuer
    pair = iss.login("ada", "lovelace")
    clock.t += 86_401
    with pytest.raises(AuthError):
        iss.refresh(pair["refresh_token"])


# -- real processes -------------------------------------------------------------------------


@pytest.fixture
def services(launch):
    auth = launch("servers.auth")
    notes = launch("servers.notes", "--auth-url", f"http://127.0.0.1:{auth.port}",
                   "--revocation-poll", "0.1")  # fmt: skip
    return f"http://127.0.0.1:{auth.port}", f"http://127.0.0.1:{notes.port}"


def curl(*args):
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True,
                         timeout=30, check=True).stdout  # fmt: skip
    body, _, code = out.rpartition("\n")
    return int(code), (json.loads(body) if body.strip() else None)


def login(auth):
    code, pair = curl("-XPOST", f"{auth}/login", "-d", '{"username": "ada", "password": "lovelace"}')
    assert code == 200
    return pair


def test_the_resource_server_accepts_only_valid_tokens(services):
    auth, notes = services
    pair = login(auth)
    bearer = f"Authorization: Bearer {pair['access_token']}"
    code, note = curl("-XPOST", f"{notes}/notes", "-H", bearer, "-d", '{"text": "hello"}')
    assert code == 201 and note["text"] == "hello"
    code, body = curl(f"{notes}/notes", "-H", bearer)
    assert code == 200 and body == {"user": "ada", "notes": [{"id": 1, "text": "hello"}]}
    headers = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", f"{notes}/notes"],
                             capture_output=True, text=True, timeout=30).stdout.lower()  # fmt: skip
    assert headers.startswith("http/1.1 401") and 'www-authenticate: bearer realm="syslab", error="invalid_token"' in headers
    h, p, s = pair["access_token"].split(".")
    forged_payload = jwt.b64.b64encode(json.dumps({"sub": "root", "exp": 9e9, "jti": "x"}).encode())
    for token in (f"{h}.{forged_payload}.{s}", pyjwt.encode({"sub": "ada"}, None, algorithm="none"),
                  jwt.encode({"sub": "ada", "exp": 9e9, "jti": "j", "iss": ISSUER, "aud": AUDIENCE},
                             jwt.ECKey.generate(kid="es256-1"), "ES256"),  # right kid, wrong key
                  "garbage", "a" * 10_000):  # fmt: skip
        code, body = curl(f"{notes}/notes", "-H", f"Authorization: Bearer {token}")
        assert code == 401 and body["status"] == 401, token[:40]
    assert curl("-XPOST", f"{notes}/notes", "-H", bearer, "-d", '{"text": ""}')[0] == 422


def test_pyjwt_verifies_the_issuers_tokens_through_its_jwks(services):
    auth, _ = services
    pair = login(auth)
    jwks_client = pyjwt.PyJWKClient(f"{auth}/.well-known/jwks.json")
    signing_key = jwks_client.get_signing_key_from_jwt(pair["access_token"])
    claims = pyjwt.decode(pair["access_token"], signing_key.key, algorithms=["ES256"], audience=AUDIENCE,
                          issuer=ISSUER)  # fmt: skip
    assert claims["sub"] == "ada"


def test_logout_reaches_the_resource_server_within_a_poll(services):
    auth, notes = services
    pair = login(auth)
    bearer = f"Authorization: Bearer {pair['access_token']}"
    assert curl(f"{notes}/notes", "-H", bearer)[0] == 200
    assert curl("-XPOST", f"{auth}/logout", "-H", bearer)[0] == 204
    assert curl(f"{auth}/me", "-H", bearer)[0] == 401  # the issuer knows at once
    deadline = time.monotonic() + 10
    while curl(f"{notes}/notes", "-H", bearer)[0] != 401:  # the resource server after one poll
        assert time.monotonic() < deadline, "the logout never reached the resource server"
    code, body = curl("-XPOST", f"{auth}/refresh", "-d", json.dumps({"refresh_token": pair["refresh_token"]}))
    assert code == 401


def test_refresh_over_http_and_reuse_detection(services):
    auth, notes = services
    pair = login(auth)
    code, new = curl("-XPOST", f"{auth}/refresh", "-d", json.dumps({"refresh_token": pair["refresh_token"]}))
    assert code == 200 and new["access_token"] != pair["access_token"]
    code, body = curl("-XPOST", f"{auth}/refresh", "-d", json.dumps({"refresh_token": pair["refresh_token"]}))
    assert code == 401 and "reused" in body["detail"]
    assert curl(f"{auth}/me", "-H", f"Authorization: Bearer {new['access_token']}")[0] == 401
    assert curl("-XPOST", f"{auth}/login", "-d", "[]")[0] == 400
    assert curl("-XPOST", f"{auth}/login", "-d", '{"username": "ada"}')[0] == 422
