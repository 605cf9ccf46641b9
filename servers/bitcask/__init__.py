"""The Bitcask server (exercise S5): storage/bitcask spoken over RESP, so redis-cli works.

Layout: ``commands.py`` is the table of commands (GET, SET, DEL, EXISTS, KEYS,
DBSIZE, MERGE, PING, ECHO, plus the HELLO/COMMAND/CLIENT minimum that redis-cli
and redis-py send on connect), each a small function from arguments to reply
bytes; ``server.py`` is the per-connection session on the netlib shell (parse
with ``netlib.resp``, dispatch, one write per batch) and ``serve``;
``__main__.py`` only parses flags. Data lives under ``--dir`` (default
``.run/bitcask/``); ``make serve-bitcask`` runs it on port 6381.
"""
