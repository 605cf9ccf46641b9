"""A users-and-posts API sharded over several MariaDB instances, with live resharding.

Layout (from the user down):

* ``__main__.py``: ``python -m servers.shards`` starts four private MariaDB
  instances (or takes ``--shard-url`` repeated), seeds the directory, serves HTTP.
* ``app.py``: the API: users, their posts, a fanned-out feed, the shard map, and
  ``POST /admin/move`` which moves one slot to another shard while serving.
* ``directory.py``: the shard map, kept in a small ``directory`` database: user
  id -> *slot* -> shard, by range or by hash; id sequences.
* ``mover.py``: the live move of a slot (copy, catch up, freeze, verify, switch).
* ``store.py``: each shard's schema and the queries the API and the mover run.

Why slots between keys and shards (as Redis Cluster's 16384 hash slots, or
Vitess's keyspace ranges): a shard map from every user id to a shard would be
as big as the user table; a map from a fixed, small number of slots is a table
of a few rows that every router can cache, and moving load means reassigning a
slot, not rehashing every key.

* **range** mode: slot i holds user ids [i*W, (i+1)*W) (the last slot is open at
  the top). Neighbouring ids share a shard, so a range scan is one shard; new
  users (the highest ids) all land on the last slot: a hot spot.
* **hash** mode: slot = hash64(user id) mod S (``clients.hashring``): even load,
  but every range query is a scatter-gather.

A user's posts live on the user's shard (the row carries its slot), so "a user
and their posts" is one shard; "the feed of several users" fans out to every
shard involved and merges newest first.
"""
