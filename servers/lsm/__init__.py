"""The LSM server (exercises S7 and S9): storage/lsm spoken over RESP, so redis-cli works.

Layout: ``commands.py`` is the registry of the store's commands (GET, SET,
DEL, EXISTS, KEYS, SCAN, DBSIZE, INFO with the tree's statistics, COMPACT), on
the ``servers.respkit`` kit, which brings the connection commands and the
session loop; ``server.py`` is the shared state (the open store, its errors as
``-ERR storage error`` replies) and ``serve``; ``__main__.py`` parses flags
and refuses to start, in one log line naming the file, the offset and the
repair command, when the store is damaged. Data lives under ``--dir``
(default ``.run/lsm/``); ``make serve-lsm`` runs it on port 6382.
"""
