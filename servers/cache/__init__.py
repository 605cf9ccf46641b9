"""N14: an in-memory cache that speaks Redis's protocol (RESP2 and RESP3).

Layout:

* ``__main__.py``: flags (``python -m servers.cache --port 6380 --maxmemory 100mb``), or a
  redis.conf and flags over it (``python -m servers.cache redis.conf --port 6380``):
  ``conf.py`` reads the file as redis-server does and refuses, with file and line,
  any directive it cannot honour (an ignored list for those without effect here).
* ``server.py``: the shared ``State`` (a ``servers.respkit.ServerState``:
  keyspace, pub/sub hub, blocking, config, counters), the ``hz`` cron (active
  expiry, eviction, ops/sec) and ``serve``.
* ``client.py``: one connection, a ``servers.respkit.Session`` (which parses,
  dispatches and answers each batch in one write) plus the cache's own
  state: MULTI/WATCH, subscribe mode, blocking.
* ``runs.py``: a pipelined run of plain SETs, GETs, INCRs or LPUSHes executed
  in one go by the session loop (``Command.many``) while nothing observes
  single calls.
* ``table.py``: the cache's registry (the kit's connection commands included)
  and what command files import: ``command``, ``CommandError``, ``to_int``...
* ``syntax.py``: each command's argument line for COMMAND DOCS.
* ``commands/``: one file per family (keys, strings, lists, hashes, sets,
  pubsub, server, transactions), each command's parse/apply/reply side by
  side. HELLO, CLIENT, COMMAND, SELECT, ... come from ``servers.respkit``.
* ``keyspace.py``: databases, TTLs, lazy + active expiry, memory estimate,
  SCAN cursors and random sampling (KeyLog).
* ``eviction.py``: maxmemory policies with Redis's sampled approximation.
* ``memory.py``: used_memory as Redis accounts it (startup overhead, clients
  and their buffers, scripts, plus the dataset): what maxmemory limits and
  INFO memory reports.
* ``stream.py``: streams and consumer groups (nodes of entries found by
  bisect; Redis's radix tree of listpacks is described there), used by
  ``commands/streams.py``; ``restore.py`` reads a stream out of a DUMP payload.
* ``skiplist.py``: the sorted set (a skip list with spans for O(log n) ranks,
  plus a dict member -> score), used by ``commands/zsets.py``;
  ``geohash.py``: 52-bit geohash scores and the 9-cell search of ``commands/geo.py``.
* ``blocking.py`` (BLPOP/BRPOP), ``hub.py`` (pub/sub), ``longdouble.py`` (INCRBYFLOAT's 80-bit arithmetic, digit for digit).
* ``hll.py``: HyperLogLog in Redis's own sparse/dense string format (byte for
  byte), used by ``commands/hyperloglog.py``; ``commands/bitops.py`` the
  bitmaps; ``encoding.py`` what OBJECT ENCODING answers; ``rdbvalue.py`` DUMP's
  payloads and RESTORE of strings, lists, sets, hashes; ``commands/sort.py``,
  ``listmoves.py`` (LMOVE, LMPOP, LPOS and their blocking forms),
  ``setstore.py``, ``keyops.py`` (COPY, MOVE, SWAPDB, LCS, DUMP...).
* ``acl.py``: ACL users (passwords as SHA-256, command rules by category,
  key and channel patterns) and each command's categories, derived from its
  group and flags; ``commands/acl.py``: AUTH's check, ACL SETUSER/LIST/LOG...
* ``scripting.py``: EVAL and FUNCTION on Lua 5.1 (lupa), ``commands/scripting.py``
  their commands; ``prelude.lua`` the sandbox, ``lualibs.py`` cjson, cmsgpack and
  bit, ``luabytecode.py`` the rewrite that keeps ``return redis.call(...)``'s frame.
* ``observe.py``: per-command statistics (INFO commandstats, errorstats),
  SLOWLOG, LATENCY and the MONITOR feed; ``commands/ops.py``: MONITOR, CLIENT
  KILL/PAUSE/UNPAUSE/NO-EVICT, SLOWLOG, LATENCY, MEMORY USAGE.
* ``persist.py`` (the files: multi-part AOF as Redis 7 with a CRC record per
  batch, snapshots) and ``saving.py`` (what is logged, group fsync, forked
  rewrite and BGSAVE, loading at start); ``commands/persistence.py``: SAVE,
  BGSAVE, BGREWRITEAOF, LASTSAVE, SHUTDOWN. ``shutdown.py``: how the server ends
  (SHUTDOWN, SIGTERM, SIGINT), saving first as Redis 7.0's finishShutdown does.
  (``python -m servers.cache --dir D --appendonly yes --appendfsync always``).

Tests: tests/test_cache_commands.py (exact replies, in-process),
test_cache_acl.py (ACL, byte for byte against redis-server; redis-py, redis-cli
--user/--pass), test_cache_ops.py (monitor, client kill/pause, slowlog...),
test_cache_persistence.py (SIGKILL during writes and rewrites, torn tails,
redis-check-aof),
test_respkit.py (the connection commands byte for byte against redis-server),
test_cache_keyspace.py (Hypothesis model, expiry, eviction),
test_cache_server.py (real sockets), test_cache_interop.py (redis-cli,
redis-py, nc; redis-cli output compared with a real redis-server's),
test_cache_streams.py (a model of the stream nodes, exact replies, redis-py
scenarios compared with redis-server, RESTORE of redis-server's DUMP),
test_cache_zset.py (a model of sorted sets against a sorted list, random
commands byte for byte against redis-server, blocking pops), test_cache_geo.py
(distances against a haversine, searches against a brute force, replies byte
for byte against redis-server), test_cache_hll.py (HLL strings byte for byte
against redis-server, error bound), test_cache_bitops.py and
test_cache_more_commands.py (every reply compared with redis-server's),
test_cache_scripting.py (EVAL, FUNCTION, SCRIPT KILL, beside redis-server),
test_cache_runs.py (runs against the call-by-call path and redis-server),
test_cache_hostile.py (attacks: Lua sandbox and kill, ACL key positions, secrets in
SLOWLOG, bad AOF manifests, what a restart keeps), test_cache_restarts.py (TTLs across a
restart, CONFIG SET appendonly, damage in the middle of an AOF, BGSAVE meeting
BGREWRITEAOF), test_cache_hostile_ops.py (CLIENT REPLY, ACL hashes, MEMORY USAGE
against redis-server), test_cache_hostile_acl.py (rights taken away between MULTI and
EXEC, ACL LOG of failed logins, %R~/%W~ against Redis's key specs, CLIENT PAUSE WRITE and
-OOM meeting write subcommands, CLIENT LIST flags, SLOWLOG of AUTH, against redis-server),
test_cache_shutdown.py (SHUTDOWN and SIGTERM on real processes: what a restart
finds, a save that fails, redis-cli and redis-py, replies against redis-server),
test_cache_hostile_aof.py (Redis's own AOF files, hand-edited manifests, a full disk,
forks inside EXEC or a slow script, SIGKILL loops in rewrites).
Redis's own TCL units: ``make redis-tests`` (bench/redis_suite.py), against a
running server or, for the units that start their own servers (auth, acl, info,
introspection, pause...), started by runtest itself through a ``src/redis-server``
shim; test_cache_redis_local_units.py runs the quick ones in CI with floors.
Benchmark: ``make bench-cache`` (redis-benchmark, ours vs redis-server;
``ARGS=--aof``: the writes under each appendfsync policy);
load: ``make load-cache`` (locust).

What Redis has that this does not: RDB files (our snapshot has its own
format), ACL selectors, replication, client-side caching,
keyspace notifications, CONFIG REWRITE, DEBUG, MIGRATE, cluster mode.
"""
