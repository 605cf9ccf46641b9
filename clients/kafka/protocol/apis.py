"""The APIs syslab speaks, as schemas (facts from the Kafka protocol guide and its
message JSON files; the code is ours).

Each ``Api`` gives the versions *we* implement (``lo``..``hi``): the broker
advertises exactly these in ApiVersions, and the client picks the highest one
both sides know. Ranges start where record batch v2 (magic 2) became the format
(Produce v3, Fetch v4) and stop before versions that need topic ids (UUIDs) or
tagged fields we would have to act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Array, F, Message


@dataclass
class Api:
    key: int
    name: str
    lo: int
    hi: int
    request: Message
    response: Message

    def supports(self, version: int) -> bool:
        return self.lo <= version <= self.hi


def _api(key: int, name: str, lo: int, hi: int, flexible: int, req: list[F], resp: list[F]) -> Api:
    return Api(key, name, lo, hi, Message(req, flexible), Message(resp, flexible))


THROTTLE = F("throttle_time_ms", "int32", "1+")

PRODUCE = _api(0, "Produce", 3, 8, 9, [
    F("transactional_id", "string", "3+", nullable="3+"),
    F("acks", "int16"),
    F("timeout_ms", "int32"),
    F("topics", Array([
        F("name", "string"),
        F("partitions", Array([F("index", "int32"), F("records", "records")])),
    ])),
], [
    F("responses", Array([
        F("name", "string"),
        F("partitions", Array([
            F("index", "int32"),
            F("error_code", "int16"),
            F("base_offset", "int64"),
            F("log_append_time_ms", "int64", "2+", default=-1),
            F("log_start_offset", "int64", "5+", default=-1),
            F("record_errors", Array([
                F("batch_index", "int32"),
                F("batch_index_error_message", "string", nullable="8+"),
            ]), "8+"),
            F("error_message", "string", "8+", nullable="8+"),
        ])),
    ])),
    THROTTLE,
])

FETCH = _api(1, "Fetch", 4, 11, 12, [
    F("replica_id", "int32", default=-1),
    F("max_wait_ms", "int32"),
    F("min_bytes", "int32"),
    F("max_bytes", "int32", "3+", default=0x7FFFFFFF),
    F("isolation_level", "int8", "4+"),
    F("session_id", "int32", "7+"),
    F("session_epoch", "int32", "7+", default=-1),
    F("topics", Array([
        F("topic", "string"),
        F("partitions", Array([
            F("partition", "int32"),
            F("current_leader_epoch", "int32", "9+", default=-1),
            F("fetch_offset", "int64"),
            F("log_start_offset", "int64", "5+", default=-1),
            F("partition_max_bytes", "int32"),
        ])),
    ])),
    F("forgotten_topics_data", Array([
        F("topic", "string"), F("partitions", Array("int32")),
    ]), "7+"),
    F("rack_id", "string", "11+"),
], [
    F("throttle_time_ms", "int32", "1+"),
    F("error_code", "int16", "7+"),
    F("session_id", "int32", "7+"),
    F("responses", Array([
        F("topic", "string"),
        F("partitions", Array([
            F("partition_index", "int32"),
            F("error_code", "int16"),
            F("high_watermark", "int64"),
            F("last_stable_offset", "int64", "4+", default=-1),
            F("log_start_offset", "int64", "5+", default=-1),
            F("aborted_transactions", Array([
                F("producer_id", "int64"), F("first_offset", "int64"),
            ]), "4+", nullable="4+"),
            F("preferred_read_replica", "int32", "11+", default=-1),
            F("records", "records"),
        ])),
    ])),
])

LIST_OFFSETS = _api(2, "ListOffsets", 1, 5, 6, [
    F("replica_id", "int32", default=-1),
    F("isolation_level", "int8", "2+"),
    F("topics", Array([
        F("name", "string"),
        F("partitions", Array([
            F("partition_index", "int32"),
            F("current_leader_epoch", "int32", "4+", default=-1),
            F("timestamp", "int64"),
        ])),
    ])),
], [
    F("throttle_time_ms", "int32", "2+"),
    F("topics", Array([
        F("name", "string"),
        F("partitions", Array([
            F("partition_index", "int32"),
            F("error_code", "int16"),
            F("timestamp", "int64", default=-1),
            F("offset", "int64", default=-1),
            F("leader_epoch", "int32", "4+", default=-1),
        ])),
    ])),
])

METADATA = _api(3, "Metadata", 0, 8, 9, [
    F("topics", Array([F("name", "string")]), nullable="1+"),
    F("allow_auto_topic_creation", "bool", "4+", default=True),
    F("include_cluster_authorized_operations", "bool", "8+"),
    F("include_topic_authorized_operations", "bool", "8+"),
], [
    F("throttle_time_ms", "int32", "3+"),
    F("brokers", Array([
        F("node_id", "int32"), F("host", "string"), F("port", "int32"),
        F("rack", "string", "1+", nullable="1+"),
    ])),
    F("cluster_id", "string", "2+", nullable="2+"),
    F("controller_id", "int32", "1+", default=-1),
    F("topics", Array([
        F("error_code", "int16"),
        F("name", "string"),
        F("is_internal", "bool", "1+"),
        F("partitions", Array([
            F("error_code", "int16"),
            F("partition_index", "int32"),
            F("leader_id", "int32"),
            F("leader_epoch", "int32", "7+"),
            F("replica_nodes", Array("int32")),
            F("isr_nodes", Array("int32")),
            F("offline_replicas", Array("int32"), "5+"),
        ])),
        F("topic_authorized_operations", "int32", "8+", default=-2147483648),
    ])),
    F("cluster_authorized_operations", "int32", "8+", default=-2147483648),
])

OFFSET_COMMIT = _api(8, "OffsetCommit", 0, 7, 8, [
    F("group_id", "string"),
    F("generation_id", "int32", "1+", default=-1),
    F("member_id", "string", "1+"),
    F("group_instance_id", "string", "7+", nullable="7+"),
    F("retention_time_ms", "int64", "2-4", default=-1),
    F("topics", Array([
        F("name", "string"),
        F("partitions", Array([
            F("partition_index", "int32"),
            F("committed_offset", "int64"),
            F("committed_leader_epoch", "int32", "6+", default=-1),
            F("commit_timestamp", "int64", "1", default=-1),
            F("committed_metadata", "string", nullable="0+"),
        ])),
    ])),
], [
    F("throttle_time_ms", "int32", "3+"),
    F("topics", Array([
        F("name", "string"),
        F("partitions", Array([F("partition_index", "int32"), F("error_code", "int16")])),
    ])),
])

OFFSET_FETCH = _api(9, "OffsetFetch", 0, 5, 6, [
    F("group_id", "string"),
    F("topics", Array([
        F("name", "string"), F("partition_indexes", Array("int32")),
    ]), nullable="2+"),
], [
    F("throttle_time_ms", "int32", "3+"),
    F("topics", Array([
        F("name", "string"),
        F("partitions", Array([
            F("partition_index", "int32"),
            F("committed_offset", "int64"),
            F("committed_leader_epoch", "int32", "5+", default=-1),
            F("metadata", "string", nullable="0+"),
            F("error_code", "int16"),
        ])),
    ])),
    F("error_code", "int16", "2+"),
])

FIND_COORDINATOR = _api(10, "FindCoordinator", 0, 2, 3, [
    F("key", "string"),
    F("key_type", "int8", "1+"),
], [
    F("throttle_time_ms", "int32", "1+"),
    F("error_code", "int16"),
    F("error_message", "string", "1+", nullable="1+"),
    F("node_id", "int32"),
    F("host", "string"),
    F("port", "int32"),
])

JOIN_GROUP = _api(11, "JoinGroup", 0, 5, 6, [
    F("group_id", "string"),
    F("session_timeout_ms", "int32"),
    F("rebalance_timeout_ms", "int32", "1+", default=-1),
    F("member_id", "string"),
    F("group_instance_id", "string", "5+", nullable="5+"),
    F("protocol_type", "string"),
    F("protocols", Array([F("name", "string"), F("metadata", "bytes")])),
], [
    F("throttle_time_ms", "int32", "2+"),
    F("error_code", "int16"),
    F("generation_id", "int32", default=-1),
    F("protocol_name", "string"),
    F("leader", "string"),
    F("member_id", "string"),
    F("members", Array([
        F("member_id", "string"),
        F("group_instance_id", "string", "5+", nullable="5+"),
        F("metadata", "bytes"),
    ])),
])

HEARTBEAT = _api(12, "Heartbeat", 0, 3, 4, [
    F("group_id", "string"),
    F("generation_id", "int32"),
    F("member_id", "string"),
    F("group_instance_id", "string", "3+", nullable="3+"),
], [THROTTLE, F("error_code", "int16")])

LEAVE_GROUP = _api(13, "LeaveGroup", 0, 3, 4, [
    F("group_id", "string"),
    F("member_id", "string", "0-2"),
    F("members", Array([
        F("member_id", "string"),
        F("group_instance_id", "string", nullable="0+"),
    ]), "3+"),
], [
    THROTTLE,
    F("error_code", "int16"),
    F("members", Array([
        F("member_id", "string"),
        F("group_instance_id", "string", nullable="0+"),
        F("error_code", "int16"),
    ]), "3+"),
])

SYNC_GROUP = _api(14, "SyncGroup", 0, 3, 4, [
    F("group_id", "string"),
    F("generation_id", "int32"),
    F("member_id", "string"),
    F("group_instance_id", "string", "3+", nullable="3+"),
    F("assignments", Array([F("member_id", "string"), F("assignment", "bytes")])),
], [THROTTLE, F("error_code", "int16"), F("assignment", "bytes")])

DESCRIBE_GROUPS = _api(15, "DescribeGroups", 0, 4, 5, [
    F("groups", Array("string")),
    F("include_authorized_operations", "bool", "3+"),
], [
    THROTTLE,
    F("groups", Array([
        F("error_code", "int16"),
        F("group_id", "string"),
        F("group_state", "string"),
        F("protocol_type", "string"),
        F("protocol_data", "string"),
        F("members", Array([
            F("member_id", "string"),
            F("group_instance_id", "string", "4+", nullable="4+"),
            F("client_id", "string"),
            F("client_host", "string"),
            F("member_metadata", "bytes"),
            F("member_assignment", "bytes"),
        ])),
        F("authorized_operations", "int32", "3+", default=-2147483648),
    ])),
])

LIST_GROUPS = _api(16, "ListGroups", 0, 2, 3, [], [
    THROTTLE,
    F("error_code", "int16"),
    F("groups", Array([F("group_id", "string"), F("protocol_type", "string")])),
])

API_VERSIONS = _api(18, "ApiVersions", 0, 3, 3, [
    F("client_software_name", "string", "3+"),
    F("client_software_version", "string", "3+"),
], [
    F("error_code", "int16"),
    F("api_keys", Array([
        F("api_key", "int16"), F("min_version", "int16"), F("max_version", "int16"),
    ])),
    THROTTLE,
])

CREATE_TOPICS = _api(19, "CreateTopics", 0, 4, 5, [
    F("topics", Array([
        F("name", "string"),
        F("num_partitions", "int32"),
        F("replication_factor", "int16"),
        F("assignments", Array([
            F("partition_index", "int32"), F("broker_ids", Array("int32")),
        ])),
        F("configs", Array([F("name", "string"), F("value", "string", nullable="0+")])),
    ])),
    F("timeout_ms", "int32"),
    F("validate_only", "bool", "1+"),
], [
    F("throttle_time_ms", "int32", "2+"),
    F("topics", Array([
        F("name", "string"),
        F("error_code", "int16"),
        F("error_message", "string", "1+", nullable="1+"),
    ])),
])

DELETE_TOPICS = _api(20, "DeleteTopics", 0, 3, 4, [
    F("topic_names", Array("string")),
    F("timeout_ms", "int32"),
], [
    THROTTLE,
    F("responses", Array([F("name", "string"), F("error_code", "int16")])),
])

INIT_PRODUCER_ID = _api(22, "InitProducerId", 0, 4, 2, [
    F("transactional_id", "string", nullable="0+"),
    F("transaction_timeout_ms", "int32"),
    F("producer_id", "int64", "3+", default=-1),
    F("producer_epoch", "int16", "3+", default=-1),
], [
    F("throttle_time_ms", "int32"),
    F("error_code", "int16"),
    F("producer_id", "int64", default=-1),
    F("producer_epoch", "int16", default=-1),
])

APIS: dict[int, Api] = {
    a.key: a
    for a in (
        PRODUCE, FETCH, LIST_OFFSETS, METADATA, OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR,
        JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP, DESCRIBE_GROUPS, LIST_GROUPS,
        API_VERSIONS, CREATE_TOPICS, DELETE_TOPICS, INIT_PRODUCER_ID,
    )
}
