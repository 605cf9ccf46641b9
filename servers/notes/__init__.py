"""A notes API whose every route needs a JWT from ``servers.auth``: the resource server.

``python -m servers.notes --auth-url http://127.0.0.1:8089`` verifies tokens
locally with the issuer's public key (``servers.auth.guard.Guard``) and sees a
logout within one revocation poll. Notes are kept per user, in memory.

Layout: ``__main__.py`` is the whole server (flags, the ``Guard`` from
``servers.auth.guard``, the two routes on ``netlib.http``); the token checks
themselves live in ``servers/auth`` and ``netlib/jwt``.

    GET  /notes          the caller's notes
    POST /notes          {"text"} -> 201
"""
