"""The demo HTTP server: a hello route, a JSON echo, a static directory.

Layout: ``app.py`` builds the ``netlib.http.App`` (routes) and ``serve``;
``__main__.py`` only parses flags; ``public/`` is the default static directory.
The protocol lives in ``netlib.http.core`` and the HTTP layer in ``netlib.http``;
this room is the thing to poke: ``curl -s http://127.0.0.1:8080/hello``.
It is shared machinery rather than an exercise answer, and the
subject of ``make bench-http``.
"""
