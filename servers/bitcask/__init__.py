"""The Bitcask server (exercise S5): storage/bitcask spoken over RESP, so redis-cli works.

Layout: ``commands.py`` is the registry of Bitcask's commands (GET, SET, DEL,
EXISTS, KEYS, DBSIZE, MERGE), each a small function from arguments to reply
bytes, on the ``servers.respkit`` kit, which brings the connection commands
(HELLO, PING, CLIENT, COMMAND, ...) and the session loop; ``server.py`` is the
shared state (the open Bitcask, its errors as ``-ERR`` replies) and ``serve``;
``__main__.py`` only parses flags. Data lives under ``--dir`` (default
``.run/bitcask/``); ``make serve-bitcask`` runs it on port 6381.
"""
