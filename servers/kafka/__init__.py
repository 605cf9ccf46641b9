"""A single-node broker that speaks Kafka's wire protocol (exercise M1).

Layout: ``__main__`` parses flags; ``server`` is the connection loop on the
netlib shell (frames in, responses out, in order); ``broker`` holds one handler
per API; ``topics`` maps names to partitions; ``log`` is a partition's segment
files with offset and time indexes (grammar in ``FORMAT.md``); ``offsets``
keeps committed consumer offsets durably; ``groups`` is the group coordinator.
The wire codec is shared with the client: ``clients.kafka.protocol``.
"""
