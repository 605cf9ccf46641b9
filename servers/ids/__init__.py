"""D10 "Amazon's way": a central service that hands out ranges of ids.

Layout: ``allocator.py`` holds the high-water mark file (an 8-byte integer and
its CRC-32, replaced atomically) and ``RangeAllocator``, which writes and fsyncs
the new mark *before* it answers, so a SIGKILL at any moment can lose the rest
of a range (a gap) but never hand the same id out twice; ``app.py`` is the HTTP
API; ``__main__.py`` parses flags. Clients (``clients.ids.RangeClient``) take a
range and then hand out ids from memory, so the service sees one request per
range, not per id.

Try it::

    curl -s -XPOST '127.0.0.1:8092/ranges?size=1000'   # {"first": 1, "last": 1000}
    curl -s 127.0.0.1:8092/                            # the high-water mark
"""
