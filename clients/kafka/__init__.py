"""A thin Kafka client (exercise M1); the wire codec lives in ``clients.kafka.protocol``."""
