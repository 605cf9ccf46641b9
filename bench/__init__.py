"""bench: experiments and benchmarks, each a program (``python -m bench.NAME`` / ``make bench-NAME``).

Layout: ``common.py`` is what every experiment shares (the environment
header, timing, percentiles, the table with ratios, ``save`` to JSON in
``results_dir()``: ``$SYSLAB_BENCH_OUT``, else ``bench/results/``). Each
other module is one experiment run on our implementation and on a reference
in the same run: ``cache`` (vs redis-server), ``http`` (vs nginx, uvicorn),
``bitcask`` and ``wal`` (vs SQLite), ``mysql_client`` (vs PyMySQL),
``pool``, ``deadlock``, ``checkin``, ``twopc``, ``redis_cluster``,
``hashring``, ``dictionary``,
``io`` and ``torn_write`` (the storage experiments); ``load.py`` with
``locust/`` runs bounded headless load against one server; ``all.py`` runs
them all. Tests never time anything: their smoke runs use tiny sizes and a
temporary output folder.
"""
