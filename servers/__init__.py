"""servers: one folder per server, each run with ``python -m servers.NAME``.

Layout:

* ``echo/``, ``http/``: the shell's and the HTTP layer's demo servers;
  ``cache/`` (N14, a Redis-compatible cache), ``bitcask/`` (S5, Bitcask over
  RESP), ``kvsql/`` (a key-value store on MySQL over RESP), ``profile/`` (D4,
  a profile API on a MariaDB primary and replica), ``shards/`` (D3, users and
  posts sharded over several MariaDBs), ``orders/`` (D8, orders across three
  databases by two-phase commit), ``auth/`` and ``notes/`` (N11, logins with
  signed tokens and a resource server that verifies them).
* ``respkit/``: the RESP server kit the cache and Bitcask stand on (registry,
  Redis's error wording, the session loop, the connection commands, glob).
* ``catalog.py``: every exercise, the room that answers it, the default
  ports; ``cli.py``: the flags every server takes (``--host``, ``--port``,
  ``--dir``, ``--log-level``); ``supervisor.py``: ``make demo``.

Each server's ``__main__`` only parses flags into its settings and calls its
``serve``; every server logs ``listening on HOST:PORT`` once bound.
"""
