"""A toy key-value store on MySQL, served over RESP, sharded by hash or by range.

Layout: ``engine.py`` (``KVSql``: rows with an expiry column, soft deletes, a
batch cleaner, hash or range routing over MariaDB instances), ``commands.py``
(GET, SET with EX/PX/NX/XX, DEL, EXISTS, EXPIRE, PEXPIRE, PERSIST, TTL, PTTL,
DBSIZE, SCAN-less KEYS, CLEAN on the ``servers.respkit`` registry),
``server.py`` (the shared state: one engine for every connection), and
``__main__.py`` (``python -m servers.kvsql``: starts three private MariaDB
instances unless given ``--mysql URL`` repeatedly).

Every command is a round trip to MySQL, so each runs in a worker thread
(``answer_in_thread``): the event loop keeps reading other connections while
one waits on the database. ``bench.kvsql`` puts redis-benchmark on it beside
the in-memory cache: the price of durability and SQL per operation.
"""
