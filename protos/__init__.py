"""binhai wire contracts, API version 1.

The generated code lives in ``protos.binhai.v1`` (made by ``python scripts/gen_protos.py``,
never edited by hand); this module re-exports what the other packages use, plus the topic
layout.
"""

from protos._mqtt_url import MqttUrl
from protos._topics import (
    KINDS,
    PREFIX,
    STATUS_OFFLINE,
    STATUS_ONLINE,
    Topic,
    TopicError,
    check_id,
    parse_topic,
    subscription,
    topic_for,
)
from protos.binhai.v1 import ingest_pb2_grpc, query_pb2_grpc
from protos.binhai.v1.ingest_pb2 import DeadLetter, IngestAck, IngestRequest, Presence
from protos.binhai.v1.query_pb2 import SeriesReply, SeriesRequest, StatsReply, StatsRequest
from protos.binhai.v1.telemetry_pb2 import (
    Codec,
    Features,
    Offload,
    RawSamples,
    SeqRange,
    TelemetryBatch,
    Window,
)

__all__ = [
    "KINDS",
    "PREFIX",
    "STATUS_OFFLINE",
    "STATUS_ONLINE",
    "Codec",
    "DeadLetter",
    "Features",
    "IngestAck",
    "IngestRequest",
    "MqttUrl",
    "Offload",
    "Presence",
    "RawSamples",
    "SeqRange",
    "SeriesReply",
    "SeriesRequest",
    "StatsReply",
    "StatsRequest",
    "TelemetryBatch",
    "Topic",
    "TopicError",
    "Window",
    "check_id",
    "ingest_pb2_grpc",
    "parse_topic",
    "query_pb2_grpc",
    "subscription",
    "topic_for",
]
