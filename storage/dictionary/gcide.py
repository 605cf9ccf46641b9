"""Read GCIDE from dictd's files: ``gcide.index`` (word, offset, length) and ``gcide.dict.dz``.

The index has one line per entry, ``headword<TAB>offset<TAB>length``, the two
numbers written in dictd's base64 digits (most significant first). The ``.dz``
is dictzip: a gzip file with a random-access table in its header, so plain
gzip reads it whole (40 MB of text, about half a second here). Entries are
keyed by the lowercased headword (``Apple`` and ``apple`` are one word to a
reader); several entries for one word are joined with a blank line. The
``00-database-*`` lines are dictd's metadata, not words. One entry may be
indexed under many headwords (``Timur``, ``Tamerlane``... share one 20 KB
entry; one is shared by 144): each word gets its copy, as dictd answers each,
so the 40 MB of text becomes ~160 MB of word -> definition pairs.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator

GCIDE_DICT = "/usr/share/dictd/gcide.dict.dz"
GCIDE_INDEX = "/usr/share/dictd/gcide.index"
PACKAGE = "dict-gcide"

_B64 = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}


def b64_number(digits: str) -> int:
    """dictd's base64 number: each character one 6-bit digit, most significant first."""
    n = 0
    for c in digits:
        n = n * 64 + _B64[c]
    return n


def index_entries(index_path: str) -> Iterator[tuple[str, int, int]]:
    """(headword, offset, length) for every word entry of a dictd index."""
    with open(index_path, encoding="utf-8") as f:
        for line in f:
            word, off, length = line.rstrip("\n").split("\t")
            if not word.startswith("00-"):
                yield word, b64_number(off), b64_number(length)


def read_gcide(
    dict_path: str = GCIDE_DICT, index_path: str = GCIDE_INDEX, limit: int | None = None
) -> dict[str, str]:
    """``{word: definition}`` in index order; ``limit`` stops after that many words."""
    for p in (dict_path, index_path):
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p} missing: install the Debian package '{PACKAGE}'")
    with gzip.open(dict_path) as f:
        text = f.read()
    words: dict[str, str] = {}
    seen: set[tuple[str, int]] = set()  # "Apple" and "apple" may index the same entry
    for word, off, length in index_entries(index_path):
        key = word.lower()
        if (key, off) in seen:
            continue
        seen.add((key, off))
        body = text[off : off + length].decode("utf-8", "replace").strip()
        if key in words:
            words[key] += "\n\n" + body
        elif limit is not None and len(words) >= limit:
            break
        else:
            words[key] = body
    return words
