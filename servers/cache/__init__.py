"""N14: an in-memory cache that speaks Redis's protocol (RESP2 and RESP3).

Layout:

* ``__main__.py``: flags only (``python -m servers.cache --port 6380 --maxmemory 100mb``).
* ``server.py``: the shared ``State`` (keyspace, pub/sub hub, blocking, config,
  counters), the ``hz`` cron (active expiry, eviction, ops/sec) and ``serve``.
* ``client.py``: one connection: parse every complete command (netlib.resp),
  dispatch through the table, answer the batch in one write; blocking and
  subscribe-mode state.
* ``table.py``: the command table, arity, Redis's error wording, argument parsing.
* ``commands/``: one file per family (connection, keys, strings, lists,
  hashes, sets, pubsub, server), each command's parse/apply/reply side by side.
* ``keyspace.py``: databases, TTLs, lazy + active expiry, memory estimate,
  SCAN cursors and random sampling (KeyLog).
* ``eviction.py``: maxmemory policies with Redis's sampled approximation.
* ``blocking.py`` (BLPOP/BRPOP), ``hub.py`` (pub/sub), ``glob.py`` (patterns).

What Redis has that this does not: persistence (RDB/AOF), replication,
MULTI/EXEC, Lua, streams, sorted sets, ACLs, cluster mode.
"""
