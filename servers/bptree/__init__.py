"""The B+ tree server (exercise S8): storage/bptree spoken over RESP, so redis-cli works.

Layout: ``commands.py`` is the registry: the key-value family of
``servers.respkit.kv`` (GET, SET, DEL, EXISTS, KEYS, SCAN in key order,
DBSIZE, INFO with the tree's height, pages, cache and split/merge counts) on
the kit's connection commands, plus CHECKPOINT; ``server.py`` is the shared
state and ``serve``; ``__main__.py`` only parses flags. Data lives under
``--dir`` (default ``.run/bptree/``); ``make serve-bptree`` runs it on port 6383.
A directory that fails its checks at open is refused with one log line naming
the file, the offset and ``python -m storage.check --repair DIR``.
"""
