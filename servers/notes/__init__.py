"""A notes API whose every route needs a JWT from ``servers.auth``: the resource server.

``python -m servers.notes --auth-url http://127.0.0.1:8089`` verifies tokens
locally with the issuer's public key (``servers.auth.guard.Guard``) and sees a
logout within one revocation poll. Notes are kept per user, in memory.

    GET  /notes          the caller's notes
    POST /notes          {"text"} -> 201
"""
