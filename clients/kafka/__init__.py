"""A thin Kafka client (exercise M1).

Layout: ``protocol/`` is the sans-IO wire codec, shared with ``servers.kafka``;
``connection`` is one blocking broker connection with version negotiation;
``cluster`` holds metadata and a connection per broker; ``producer`` batches
per partition in a sender thread (size and linger, acks 0/1/all, retries in
order); ``consumer`` does group membership, pipelined fetching and commits;
``partitioner`` is the Java client's murmur2; ``assignors`` the consumer
protocol with the range and round-robin assignors.
"""

from .consumer import Consumer
from .producer import Producer

__all__ = ["Consumer", "Producer"]
