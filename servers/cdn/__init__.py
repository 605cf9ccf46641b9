"""A toy CDN (N8): an origin, edge caches that follow RFC 9111, failover; OG cards (N9).

Layout, from the user inwards:

* ``__main__``: ``python -m servers.cdn origin|edge|cluster`` (``make serve-cdn``
  is the cluster: origin 8100, secondary origin 8101, edges 8102-8104);
* ``router``: the client side: ``EdgeRouter`` picks an edge per URL on a
  consistent-hash ring (``clients.hashring``), so each object lives in one
  edge's cache, and steers to the next healthy edge when one dies;
* ``edge``: the shared cache: lookup, coalescing of concurrent misses,
  revalidation, stale-while-revalidate and stale-if-error, streaming of
  objects too big to store, failover to the secondary origin, purge;
* ``policy``: RFC 9111 as pure functions (sans-IO, table-tested);
* ``store``: the LRU bounded in bytes, in memory with a disk tier of
  checksummed records (``storage.record``);
* ``origin``: what is cached: Popular Searches (``popular``: a sliding
  window of search events), Open Graph cards (``og``: drawn with Pillow),
  gallery images for web/lazy (N12), and a ``/lab`` resource whose caching
  headers the query string chooses.
"""
