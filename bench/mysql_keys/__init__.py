"""D11: primary keys, upserts and pagination on MariaDB, each timed with its reason.

``python -m bench.mysql_keys [--rows N] [--upsert-rows M] [--rounds R] [--quick] [--out DIR]``
(``make bench-mysql_keys``; default 1,000,000 rows, a few minutes)

Layout: ``inserts.py`` (auto-increment vs Snowflake vs UUIDv7 vs UUIDv4 primary
keys: time, size, page splits, buffer-pool misses), ``upsert.py`` (``ON
DUPLICATE KEY UPDATE`` vs ``REPLACE INTO``: time and the handler counts of
deletes and writes, children lost to the cascade), ``paging.py`` (``OFFSET`` vs
keyset: latency per depth and rows walked), ``__main__.py`` (flags, tables,
JSON, PNG). Each part's docstring explains the mechanism its numbers show; the
program prints that explanation next to the numbers.

All run on one private MariaDB (buffer pool 128 MB, so a 1M-row table with a
random key does not fit and the random key's cost shows as disk reads), or on
``SYSLAB_MYSQL_URL``'s server.
"""
