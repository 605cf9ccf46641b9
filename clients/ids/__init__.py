"""D10: five ways to hand out unique ids, each with the property it claims.

Layout:

* ``snowflake.py``: Twitter's Snowflake in the API (41 bits of milliseconds,
  10 bits of worker, 12 bits of sequence): k-sorted, no coordination; the clock
  is injected so going backwards and sequence overflow can be tested;
* ``snowflake_sql.py``: the same layout computed by a stored procedure inside
  MariaDB (one row of state per worker, locked with ``FOR UPDATE``);
* ``objectid.py``: MongoDB's ObjectId (4-byte seconds, 5 random bytes per
  process, 3-byte counter) and its decoder;
* ``counter.py``: one atomically incremented row in MySQL,
  ``UPDATE ... SET v = LAST_INSERT_ID(v + 1)`` (every id is a round trip);
* ``flickr.py``: Flickr's ticket servers: two MariaDB instances with
  ``auto_increment_increment=2`` and offsets 1 and 2 (odd and even ids),
  ``REPLACE INTO tickets64 (stub)`` and round-robin with fail-over;
* ``ranges.py``: the client of "Amazon's way", a central service
  (``servers/ids``) that hands out ranges and persists its high-water mark
  before answering, so a SIGKILL never makes it hand out an id twice.

What each gives up: the counter and the ticket servers are a round trip per id
(and a single point of failure, or two); the range service loses the unused rest
of a range when a client dies (gaps, never duplicates); Snowflake needs unique
worker ids and a sane clock; ObjectId is 12 bytes and only ordered by second.
``tests/test_ids*.py`` prove uniqueness under 8 threads x 4 processes for each.
"""

from .counter import MySQLCounter
from .flickr import TicketServers
from .objectid import ObjectIdGenerator, decode_objectid
from .ranges import RangeClient
from .snowflake import ClockMovedBackwards, Snowflake, decode_snowflake
from .snowflake_sql import SqlSnowflake

__all__ = [
    "ClockMovedBackwards",
    "MySQLCounter",
    "ObjectIdGenerator",
    "RangeClient",
    "Snowflake",
    "SqlSnowflake",
    "TicketServers",
    "decode_objectid",
    "decode_snowflake",
]
