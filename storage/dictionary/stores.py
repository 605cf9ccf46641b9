"""The dictionary in two stores: a CSV file and a Bitcask directory.

CSV is what a spreadsheet or ``grep`` can read, and what you get without an
engine: a lookup either scans the file (no memory, O(file) per lookup) or loads
it all into a dict first (fast lookups, the whole text in RAM). Bitcask keeps
only the keys in RAM (the keydir) and reads a definition with one pread.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping

from storage.bitcask import Bitcask

# Some GCIDE entries run to ~100 KB of text; csv's default field limit is 128 KiB,
# so raise it to what the Bitcask format itself allows for one value (64 MiB).
csv.field_size_limit(64 * 1024 * 1024)


def write_csv(path: str | os.PathLike[str], words: Mapping[str, str]) -> None:
    """``word,definition`` rows with a header line; quoting only where needed (RFC 4180)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(("word", "definition"))
        w.writerows(words.items())


def csv_lookup(path: str | os.PathLike[str], word: str) -> str | None:
    """Scan the CSV for ``word`` (stops at the first match)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows, None)
        for row in rows:
            if row[0] == word:
                return row[1]
    return None


def load_csv_dict(path: str | os.PathLike[str]) -> dict[str, str]:
    """The whole CSV in a dict."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows, None)
        return {row[0]: row[1] for row in rows}


def load_bitcask(directory: str | os.PathLike[str], words: Mapping[str, str]) -> None:
    """Write every word into a Bitcask (closed at the end: data synced, hints written)."""
    with Bitcask.open(directory, sync="never") as db:
        for word, definition in words.items():
            db.put(word.encode(), definition.encode())
