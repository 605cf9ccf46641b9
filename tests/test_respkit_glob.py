"""Redis glob matching: Redis's semantics, and no catastrophic backtracking."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.respkit.glob import MAX_CACHED_PATTERN, compile_glob, match

pytestmark = pytest.mark.exercise("N14")


def _oracle(p: bytes, s: bytes) -> bool:
    """Redis's stringmatchlen, recursively (slow, obviously right) for ``*``, ``?`` and literals."""
    if not p:
        return not s
    if p[:1] == b"*":
        return any(_oracle(p[1:], s[i:]) for i in range(len(s) + 1))
    if not s:
        return False
    if p[:1] == b"?" or p[:1] == s[:1]:
        return _oracle(p[1:], s[1:])
    return False


@given(st.binary(max_size=8).map(lambda b: bytes(b"ab*?"[x % 4] for x in b)),
       st.binary(max_size=10).map(lambda b: bytes(b"abc"[x % 3] for x in b)))  # fmt: skip
def test_matches_the_recursive_definition(pattern, s):
    assert match(pattern, s) == _oracle(pattern, s)


@pytest.mark.timeout(10)
def test_many_stars_against_a_long_key_answers_at_once():
    # The naive regex translation took ~60 s for 400 bytes and 5 stars; this is far beyond it.
    key = b"a" * 20_000
    assert not match(b"*a*a*a*a*a*a*a*a*a*a*b", key)
    assert match(b"*a*a*a*a*a*a*a*a*a*a*", key)
    assert match(b"a*a?a*[a]*a", key)


def test_huge_patterns_are_not_cached():
    big = b"x" * (MAX_CACHED_PATTERN + 1) + b"*"
    assert compile_glob(big) is not compile_glob(big)
    assert compile_glob(b"user:*") is compile_glob(b"user:*")
