"""N6: a load balancer, HTTP and TCP, with health checks, retries and draining.

Layout, from the user inwards: ``__main__`` (flags or a TOML file, three demo
backends when given none, SIGHUP reload), ``server`` (``LoadBalancer``: the
shared state, ``start``/``reload``/``stop``, the admin app with ``GET
/_lb/status``), ``proxy`` (HTTP mode: ``ProxySession`` per client connection on
the netlib HTTP core; retries, 502/504), ``tcp`` (TCP mode: bytes piped both
ways), ``forwarding`` (hop-by-hop removal, X-Forwarded-For / Forwarded),
``upstream`` (one keep-alive connection to a backend), ``balance`` (round robin,
smooth weighted round robin, least connections, power of two choices,
consistent hashing with bounded loads on ``clients.hashring``), ``backends``
(state, passive health, draining, the keep-alive pool), ``health`` (active
checks with rise/fall), ``config`` (``LBConfig``, the TOML grammar) and
``backend`` (a demo backend that says who it is).

What production balancers add: TLS termination, HTTP/2 and WebSocket
pass-through, several worker processes (this one is one event loop on one
core), slow start for a backend coming back, request queueing when every
backend is at its connection limit, and stick tables shared between peers.
"""
