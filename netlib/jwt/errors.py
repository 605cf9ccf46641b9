"""Why a token was refused: one small hierarchy, each error naming the rule it broke."""

from __future__ import annotations


class InvalidToken(Exception):
    """Any refusal. A server answers 401 with ``str(error)``; it never says more than this."""


class MalformedToken(InvalidToken):
    """Not three base64url segments of JSON objects within the size limit."""


class AlgorithmNotAllowed(InvalidToken):
    """``alg`` is not one the verifier accepts (``none`` never is)."""


class UnknownKey(InvalidToken):
    """The ``kid`` names no key we hold, or no key fits the algorithm."""


class BadSignature(InvalidToken):
    """The signature does not verify with the key for this algorithm."""


class ExpiredToken(InvalidToken):
    """``exp`` is in the past (beyond the leeway)."""


class NotYetValid(InvalidToken):
    """``nbf`` or ``iat`` is in the future (beyond the leeway)."""


class InvalidClaim(InvalidToken):
    """A required claim is missing, or ``iss``/``aud``/a typed claim has the wrong value."""
