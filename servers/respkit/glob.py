"""Redis glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET) compiled to regexes.

Redis's stringmatchlen: ``*`` any run, ``?`` one byte, ``[abc]`` / ``[^abc]``
/ ``[a-z]`` classes (a reversed range is swapped), ``\\x`` a literal x. fnmatch
differs (``[!...]``, no backslash escape), hence this translation. Compiled
patterns are cached: PSUBSCRIBE and SCAN reuse the same few patterns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache


def _class(pattern: bytes, i: int) -> tuple[bytes, int]:
    """The regex for a ``[...]`` starting after the '['; returns (regex, next index)."""
    n = len(pattern)
    negate = i < n and pattern[i] == 94  # ^
    i += negate
    parts: list[bytes] = []
    while i < n and pattern[i] != 93:  # ]
        c = pattern[i : i + 1]
        if c == b"\\" and i + 1 < n:
            i += 1
            c = pattern[i : i + 1]
        if i + 2 < n and pattern[i + 1] == 45 and pattern[i + 2] != 93:  # a-z
            lo, hi = sorted((pattern[i], pattern[i + 2]))
            parts.append(re.escape(bytes([lo])) + b"-" + re.escape(bytes([hi])))
            i += 3
            continue
        parts.append(re.escape(c))
        i += 1
    body = b"".join(parts)
    if not body:
        return (b"[\\s\\S]" if negate else b"(?!)"), i + 1
    return b"[" + (b"^" if negate else b"") + body + b"]", i + 1


# Patterns longer than this are compiled per call instead of cached, so a client
# cannot pin memory with a thousand huge patterns. 1 KiB covers every real pattern.
MAX_CACHED_PATTERN = 1024
# Redis's matcher recurses once per ``*`` it passes and gives up (no match) past 1000
# levels, protection against abusive patterns; a pattern with more stars before its
# end never matches there, so it never matches here either.
MAX_STAR_NESTING = 1000


def compile_glob(pattern: bytes) -> Callable[[bytes], bool]:
    """A predicate telling whether a whole byte string matches ``pattern``."""
    if len(pattern) <= MAX_CACHED_PATTERN:
        return _compile_cached(pattern)
    return _compile(pattern)


def _atoms(pattern: bytes) -> list[bytes | None]:
    """The pattern as regex atoms, each matching exactly one byte; None stands for ``*``."""
    out: list[bytes | None] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 42:  # *
            if not out or out[-1] is not None:  # a run of stars is one star
                out.append(None)
            i += 1
        elif c == 63:  # ?
            out.append(b".")
            i += 1
        elif c == 91:  # [
            regex, i = _class(pattern, i + 1)
            out.append(regex)
        elif c == 92 and i + 1 < n:  # \x
            out.append(re.escape(pattern[i + 1 : i + 2]))
            i += 2
        else:
            out.append(re.escape(pattern[i : i + 1]))
            i += 1
    return out


@lru_cache(maxsize=1024)
def _compile_cached(pattern: bytes) -> Callable[[bytes], bool]:
    return _compile(pattern)


def _compile(pattern: bytes) -> Callable[[bytes], bool]:
    """Translate to a regex whose matching time is O(len(s) * len(pattern)).

    A naive translation (``*`` -> ``.*``) backtracks polynomially: ``*a*a*a*a*b``
    against 400 ``a`` took a minute, a denial of service through one KEYS
    (Redis had the same bug, CVE-2022-36021). Between two stars every atom
    matches exactly one byte, so placing each middle segment at its *earliest*
    occurrence is always right (the classic two-pointer wildcard argument):
    an atomic group ``(?>.*?SEG)`` finds it and is never re-entered. Only the
    last segment, anchored at the end, needs the one greedy ``.*``.
    """
    if pattern == b"*":
        return lambda s: True
    segments: list[list[bytes]] = [[]]
    for atom in _atoms(pattern):
        if atom is None:
            segments.append([])
        else:
            segments[-1].append(atom)
    if len(segments) - 1 - (not segments[-1]) > MAX_STAR_NESTING:
        return lambda s: False
    if len(segments) == 1:
        body = b"".join(segments[0])
    else:
        first, *middle, last = (b"".join(seg) for seg in segments)
        body = first + b"".join(b"(?>.*?" + m + b")" for m in middle if m) + b".*" + last
    rx = re.compile(body, re.DOTALL)
    return lambda s: rx.fullmatch(s) is not None


def match(pattern: bytes, s: bytes) -> bool:
    return compile_glob(pattern)(s)
