"""D9: a blogging app sharded by user id over several MariaDB instances.

Layout: ``store.py`` holds the per-shard table and its queries; ``shards.py``
the ``ShardSet``: one asyncio pool per shard, the user -> shard directory, the
id scheme, and moving a user between shards; ``app.py`` the HTTP routes;
``__main__.py`` parses flags and, when no ``--shard-url`` is given, starts
``--shards`` private MariaDB instances (default three) under ``--dir``.

The point of the exercise is the blog id. With ``--ids autoinc`` each shard's
``AUTO_INCREMENT`` counts on its own, so the first blog on every shard is
blog 1: ids are unique per shard only. ``GET /blogs/{id}`` (look an id up on
every shard) then finds several blogs, and moving a user to another shard
fails when one of their ids is already taken there. With ``--ids snowflake``
(the default) the application makes the id (``clients.ids.Snowflake``: time,
worker, sequence), unique across shards with no coordination, so a user's
blogs move with their ids and every URL ``/users/{uid}/blogs/{id}`` stays
valid after the move: the directory, not the id, says where a user lives.

Try it::

    curl -s -XPOST 127.0.0.1:8091/users/7/blogs -d '{"title":"hi","body":"first"}'
    curl -s 127.0.0.1:8091/users/7/blogs
    curl -s -XPOST '127.0.0.1:8091/users/7/move?to=2'
    curl -s 127.0.0.1:8091/blogs/ID          # which shards hold this id
"""
