"""binhai wire contracts, API version 1.

The generated code lives in ``protos.binhai.v1`` (made by ``python scripts/gen_protos.py``,
never edited by hand); this module re-exports what the other packages use, plus the topic
layout, and what the services share at run time: the Prometheus text exposition they serve,
the task supervisor they run under and its backoff.
"""

from types import ModuleType
from typing import TYPE_CHECKING

from protos._backoff import Backoff
from protos._exposition import (
    LATENCY_BUCKETS,
    Exposition,
    Histogram,
    parse_exposition,
    parse_listen,
    serve_exposition,
)
from protos._grpc_auth import AUTH_METADATA_KEY, CoreAuth, core_channel
from protos._mqtt_url import MqttUrl
from protos._supervise import Supervisor
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
from protos._varint import varint
from protos.binhai.v1.control_pb2 import (
    Command,
    CommandAck,
    ControlSubscribe,
    Downlink,
    FlushNow,
    GetPolicyReply,
    GetPolicyRequest,
    Policy,
    PolicyField,
    PolicyScope,
    ResetCounters,
    SendCommandReply,
    SendCommandRequest,
    SendRaw,
    SeqSpan,
    SetPolicyReply,
    SetPolicyRequest,
    Stored,
    TimeSync,
)
from protos.binhai.v1.ingest_pb2 import (
    DeadLetter,
    IngestAck,
    IngestBundle,
    IngestRequest,
    Presence,
)
from protos.binhai.v1.query_pb2 import (
    Alert,
    AlertsReply,
    AlertsRequest,
    SeriesReply,
    SeriesRequest,
    StatsReply,
    StatsRequest,
)
from protos.binhai.v1.telemetry_pb2 import (
    Codec,
    CompactFeatures,
    Features,
    Health,
    Offload,
    RawSamples,
    SeqRange,
    Summary,
    TelemetryBatch,
    Window,
    WindowFlag,
)

if TYPE_CHECKING:
    from protos.binhai.v1 import control_pb2_grpc, ingest_pb2_grpc, query_pb2_grpc

_GRPC_STUBS = ("control_pb2_grpc", "ingest_pb2_grpc", "query_pb2_grpc")


def __getattr__(name: str) -> ModuleType:
    """The gRPC stubs load on first use, so devices (which need no gRPC) never import grpc."""
    if name in _GRPC_STUBS:
        import importlib

        return importlib.import_module(f"protos.binhai.v1.{name}")
    raise AttributeError(f"module 'protos' has no attribute {name!r}")


__all__ = [
    "AUTH_METADATA_KEY",
    "KINDS",
    "LATENCY_BUCKETS",
    "PREFIX",
    "STATUS_OFFLINE",
    "STATUS_ONLINE",
    "Alert",
    "AlertsReply",
    "AlertsRequest",
    "Backoff",
    "Codec",
    "Command",
    "CommandAck",
    "CompactFeatures",
    "ControlSubscribe",
    "CoreAuth",
    "DeadLetter",
    "Downlink",
    "Exposition",
    "Features",
    "FlushNow",
    "GetPolicyReply",
    "GetPolicyRequest",
    "Health",
    "Histogram",
    "IngestAck",
    "IngestBundle",
    "IngestRequest",
    "MqttUrl",
    "Offload",
    "Policy",
    "PolicyField",
    "PolicyScope",
    "Presence",
    "RawSamples",
    "ResetCounters",
    "SendCommandReply",
    "SendCommandRequest",
    "SendRaw",
    "SeqRange",
    "SeqSpan",
    "SeriesReply",
    "SeriesRequest",
    "SetPolicyReply",
    "SetPolicyRequest",
    "StatsReply",
    "StatsRequest",
    "Stored",
    "Summary",
    "Supervisor",
    "TelemetryBatch",
    "TimeSync",
    "Topic",
    "TopicError",
    "Window",
    "WindowFlag",
    "check_id",
    "control_pb2_grpc",
    "core_channel",
    "ingest_pb2_grpc",
    "parse_exposition",
    "parse_listen",
    "parse_topic",
    "query_pb2_grpc",
    "serve_exposition",
    "subscription",
    "topic_for",
    "varint",
]
