"""Server-sent events (exercises N2, N3, N4).

Layout:
    hub.py      numbered events, the replay ring, bounded per-client queues, slow-client drops
    broker.py   ``--redis``: ids and history from a real redis-server (Lua: INCR, RPUSH, PUBLISH)
    app.py      /events (text/event-stream), POST /publish, /stats, the web page at /
    __main__.py flags; heartbeats; streams ended with a comment at shutdown

The wire format (encoding and the client-side parser) is ``netlib.sse``.
"""
