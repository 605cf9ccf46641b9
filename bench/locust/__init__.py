"""Locust files for ``make load-NAME`` (``bench/load.py``): one per server.

Layout: ``cache.py`` speaks RESP on a raw socket (netlib.resp) and reports
each command to locust with its latency; ``http.py`` drives the HTTP demo.
"""
