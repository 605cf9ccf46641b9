"""The application errors GFS's RPCs answer with (their ``type`` is the class name)."""

from __future__ import annotations

from netlib.rpc import AppError


def _error(name: str) -> type[AppError]:
    return type(name, (AppError,), {"type": name})


NoSuchFile = _error("NoSuchFile")  # the path names nothing (or a directory where a file was meant)
Exists = _error("Exists")  # create over an existing name
BadPath = _error("BadPath")  # not an absolute path, a file where a directory is needed, ...
NoReplica = _error("NoReplica")  # no live chunkserver holds the chunk (or none to put it on)
LeaseBusy = _error("LeaseBusy")  # a dead primary's lease has not expired yet: retry later
NotPrimary = _error("NotPrimary")  # a mutation reached a replica that holds no valid lease
StaleVersion = _error("StaleVersion")  # the replica's chunk version differs from the caller's
NoSuchChunk = _error("NoSuchChunk")  # this chunkserver does not hold the handle
Corrupt = _error("Corrupt")  # a block failed its checksum: read another replica
ChunkFull = _error("ChunkFull")  # record append: the chunk was padded, append to the next one
NoData = _error("NoData")  # the pushed data id is not (or no longer) in the buffer
ReplicaFailed = _error("ReplicaFailed")  # a secondary did not apply the mutation: retry
TooLarge = _error("TooLarge")  # a write past the chunk, or a record above a quarter chunk
NoSpace = _error("NoSpace")  # the chunkserver's disk is full: place the chunk elsewhere
