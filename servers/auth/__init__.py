"""An authentication server: passwords in, short-lived JWTs out, refresh tokens rotated.

Layout: ``issuer.py`` (users with scrypt password hashes, the signing key, access
tokens, refresh-token families with rotation and reuse detection, revocation by
``jti``), ``app.py`` (the HTTP routes), ``guard.py`` (``Guard``: what a resource
server puts in front of its handlers: Bearer token -> verified claims or a 401
with ``WWW-Authenticate``; keys from the issuer's JWKS, revocations polled),
``__main__.py`` (``python -m servers.auth``). ``servers/notes`` is the resource
server it protects.

The design, and what it gives up:

* **Access tokens** are ES256 JWTs valid for 5 minutes (``--access-ttl``): any
  server holding the public key (``/.well-known/jwks.json``) verifies them with
  no call to us. The price of that is revocation: a stolen token works until it
  expires unless resource servers also check a revocation list (``/revoked``,
  polled by ``Guard``), which brings back a little of the state JWTs avoided.
* **Refresh tokens** are opaque random strings stored hashed (SHA-256) here,
  valid a day, usable once: each refresh returns a new pair and retires the old
  refresh token (rotation). Presenting a retired one means two parties hold the
  same token -- the legitimate client and a thief -- so the whole *family*
  (every token descended from that login) is revoked (OAuth 2.0 Security BCP,
  RFC 9700 §4.14.2).
* State (families, revocations) lives in memory: a restart logs everyone out.
  A production issuer keeps it in a database shared by its replicas.
"""
