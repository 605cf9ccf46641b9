"""The word dictionary (exercise S1): a real English dictionary in CSV and in Bitcask.

Layout: ``gcide.py`` reads the GNU Collaborative International Dictionary of
English as Debian's ``dict-gcide`` package installs it (a dictd index plus a
dictzip'd text file) into ``{word: definition}``; ``stores.py`` writes that to a
CSV file (``word,definition``, RFC 4180 quoting: definitions hold commas,
quotes and newlines) and into a Bitcask (``storage/bitcask``), and looks words up
in each: the CSV by a linear scan or after loading it into a dict, Bitcask by
its keydir and one pread. ``bench/dictionary.py`` compares the two.
"""

from .gcide import GCIDE_DICT, GCIDE_INDEX, read_gcide
from .stores import csv_lookup, load_bitcask, load_csv_dict, write_csv

__all__ = [
    "GCIDE_DICT",
    "GCIDE_INDEX",
    "csv_lookup",
    "load_bitcask",
    "load_csv_dict",
    "read_gcide",
    "write_csv",
]
