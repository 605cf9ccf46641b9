"""A users-and-profiles JSON API on a primary + replica: flag-driven consistent reads (D4).

Layout: ``app.py`` holds the routes, ``serve`` and the read routing (replica by default,
the primary for ``?consistent=true`` or ``X-Consistent-Read: true``; every
answer says ``X-Served-By``), and ``Databases``, one asyncio pool per server;
``store.py`` the users table, input checks and queries; ``__main__.py`` parses
flags and, when no ``--primary-url/--replica-url`` is given, starts its own
private primary + replica (``harness.replication``) under ``--dir``, so
``make serve-profile`` and ``make demo`` need nothing else.

Try it::

    curl -s -XPOST localhost:8081/users -d '{"name":"Ada","email":"ada@example.com"}'
    curl -si 'localhost:8081/users/1'                  # X-Served-By: replica
    curl -si 'localhost:8081/users/1?consistent=true'  # X-Served-By: primary
    curl -s localhost:8081/replication                 # lag, GTIDs, threads
    curl -s -XPOST localhost:8081/replication/pause    # make the replica lag on purpose
    curl -s -XPOST localhost:8081/replication/resume
"""
