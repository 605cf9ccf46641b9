"""clients: thin wire clients of real services, on the sans-IO cores of netlib.

Layout:

* ``mysql/``: the MySQL/MariaDB client (D1), blocking and asyncio.
* ``pool/``: connection pools for it (D2), with a fair waiting queue.
* ``resp/``: the RESP client (redis-server, the cache, Bitcask, a Cluster).
* ``hashring/``: consistent hashing (virtual nodes, weights, bounded loads).
* ``address.py``: ``ServiceAddress``, where a service is (from a URL or a launcher).
"""
