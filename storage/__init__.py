"""syslab's storage engines (S1-S9), built on one checksummed record format.

Layout, from the bytes up:

* ``record.py``: the record (CRC-32C, length, type, payload), its ``Reader``
  (a torn tail ends the file quietly, a bad record in the middle raises
  ``Corruption(file, offset)``), ``Writer`` and ``write_atomically`` (temp +
  fsync + rename + fsync of the directory). ``FORMAT.md`` is the byte grammar of
  every file kind, kept beside the code that reads and writes it.
* ``check.py``: S3, ``python -m storage.check FILE|DIR``: walks any syslab data
  file and reports OK, a torn tail, or the first corrupt record with its offset;
  ``--repair DIR`` hands an engine directory to its repair, which moves the
  damage into ``DIR/quarantine/`` (``quarantine.py``: nothing is deleted) and
  names the keys whose newest version was damaged.
* ``engines.py``: the one contract every KV engine keeps (put/get/delete/scan,
  reopen, crash, Corruption at open, repair) and the registry by name that
  ``tests/test_engine_contract.py``, ``bench/kv`` and ``--repair`` use;
  ``enginechild.py`` is any engine as a child process the crash tests SIGKILL.
* ``wal/``: the write-ahead log (sync policies always / every N ms / never,
  group commit, segments, replay).
* ``kv/``: S4, a KV store on the WAL plus snapshots, and the child process the
  SIGKILL recovery test runs.
* ``bitcask/``: S5, Bitcask (keydir, rotation, tombstones, hint files, merge,
  the directory lock); ``servers/bitcask`` speaks RESP over it.
* ``bptree/``: S8, a B+ tree on 4 KiB checksummed pages (splits, merges,
  redistribution, a bounded page cache, a WAL plus double-write checkpoints);
  ``servers/bptree`` speaks RESP over it.
* ``dictionary/``: S1, the GCIDE dictionary in CSV and in Bitcask.

S2 (the torn 100 MB write) and S6 (sequential vs random IO) are experiments,
not engines: ``bench/torn_write.py`` and ``bench/io.py``.
"""
