"""GFS (N18): a master, chunkservers and (in ``clients/gfs``) the client, after
"The Google File System" (Ghemawat, Gobioff, Leung, SOSP 2003).

Layout, from the user inward:

* ``__main__``: ``python -m servers.gfs master|chunkserver|cluster`` (flags);
* ``master``: the namespace, chunk versions, leases, liveness, re-replication,
  garbage collection; ``meta`` is its state and the ops that change it (plus
  the per-path read/write locks), ``oplog`` the operation log and checkpoints;
* ``chunkserver``: pushed data, the primary's ordering of mutations, record
  append, heartbeats; ``chunkstore`` its chunk files with a CRC-32C per
  64 KiB block;
* ``errors``: the typed application errors of the RPCs.

On-disk formats (the checkpoint, the op log, the chunk meta log, record
append's records): ``storage/FORMAT.md``, section GFS. Tests:
``tests/test_gfs*.py`` (real processes and SIGKILL); benchmark: ``bench/gfs``.

Every process speaks ``netlib.rpc`` (msgpack frames, request ids, typed errors)
over ``netlib.shell``.
"""
