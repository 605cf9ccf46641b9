"""A TCP echo server: the smallest server on the I/O shell.

Layout: ``server.py`` holds the handler (a coroutine that echoes what it
receives) and ``serve``; ``__main__.py`` only parses flags. It is the
supervisor's and the shell's test subject, and the first thing to poke with
``nc 127.0.0.1 7007``.
"""
