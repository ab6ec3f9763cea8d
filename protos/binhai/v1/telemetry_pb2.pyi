from protos.binhai.v1 import control_pb2 as _control_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Codec(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CODEC_UNSPECIFIED: _ClassVar[Codec]
    CODEC_F32LE: _ClassVar[Codec]
    CODEC_BINHAI: _ClassVar[Codec]
    CODEC_POINTS_HOLD: _ClassVar[Codec]
    CODEC_POINTS_LINEAR: _ClassVar[Codec]

class Offload(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OFFLOAD_UNSPECIFIED: _ClassVar[Offload]
    OFFLOAD_FEATURES: _ClassVar[Offload]
    OFFLOAD_RAW: _ClassVar[Offload]
    OFFLOAD_BOTH: _ClassVar[Offload]
    OFFLOAD_COMPACT: _ClassVar[Offload]

class WindowFlag(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FLAG_NONE: _ClassVar[WindowFlag]
    FLAG_NOVEL: _ClassVar[WindowFlag]
    FLAG_NAN: _ClassVar[WindowFlag]
    FLAG_CONSTANT: _ClassVar[WindowFlag]
    FLAG_PINNED: _ClassVar[WindowFlag]
    FLAG_SPIKE: _ClassVar[WindowFlag]
    FLAG_IMPACT: _ClassVar[WindowFlag]
    FLAG_TREMOR: _ClassVar[WindowFlag]
    FLAG_NOISE: _ClassVar[WindowFlag]
    FLAG_LEVEL: _ClassVar[WindowFlag]
    FLAG_LINE: _ClassVar[WindowFlag]
    FLAG_RATE: _ClassVar[WindowFlag]
    FLAG_TRUTH: _ClassVar[WindowFlag]
CODEC_UNSPECIFIED: Codec
CODEC_F32LE: Codec
CODEC_BINHAI: Codec
CODEC_POINTS_HOLD: Codec
CODEC_POINTS_LINEAR: Codec
OFFLOAD_UNSPECIFIED: Offload
OFFLOAD_FEATURES: Offload
OFFLOAD_RAW: Offload
OFFLOAD_BOTH: Offload
OFFLOAD_COMPACT: Offload
FLAG_NONE: WindowFlag
FLAG_NOVEL: WindowFlag
FLAG_NAN: WindowFlag
FLAG_CONSTANT: WindowFlag
FLAG_PINNED: WindowFlag
FLAG_SPIKE: WindowFlag
FLAG_IMPACT: WindowFlag
FLAG_TREMOR: WindowFlag
FLAG_NOISE: WindowFlag
FLAG_LEVEL: WindowFlag
FLAG_LINE: WindowFlag
FLAG_RATE: WindowFlag
FLAG_TRUTH: WindowFlag

class CompactFeatures(_message.Message):
    __slots__ = ("index", "half")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    HALF_FIELD_NUMBER: _ClassVar[int]
    index: _containers.RepeatedScalarFieldContainer[int]
    half: bytes
    def __init__(self, index: _Optional[_Iterable[int]] = ..., half: _Optional[bytes] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("sensor", "t0_ns", "t1_ns", "windows", "channels", "rate_hz", "n_samples", "index", "mean", "min", "max", "novelty_max", "sent", "novel")
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    T0_NS_FIELD_NUMBER: _ClassVar[int]
    T1_NS_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    N_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    NOVELTY_MAX_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    NOVEL_FIELD_NUMBER: _ClassVar[int]
    sensor: str
    t0_ns: int
    t1_ns: int
    windows: int
    channels: int
    rate_hz: float
    n_samples: int
    index: _containers.RepeatedScalarFieldContainer[int]
    mean: bytes
    min: bytes
    max: bytes
    novelty_max: float
    sent: int
    novel: int
    def __init__(self, sensor: _Optional[str] = ..., t0_ns: _Optional[int] = ..., t1_ns: _Optional[int] = ..., windows: _Optional[int] = ..., channels: _Optional[int] = ..., rate_hz: _Optional[float] = ..., n_samples: _Optional[int] = ..., index: _Optional[_Iterable[int]] = ..., mean: _Optional[bytes] = ..., min: _Optional[bytes] = ..., max: _Optional[bytes] = ..., novelty_max: _Optional[float] = ..., sent: _Optional[int] = ..., novel: _Optional[int] = ...) -> None: ...

class Features(_message.Message):
    __slots__ = ("algo_version", "values")
    ALGO_VERSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    algo_version: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, algo_version: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class RawSamples(_message.Message):
    __slots__ = ("codec", "data")
    CODEC_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    codec: Codec
    data: bytes
    def __init__(self, codec: _Optional[_Union[Codec, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Window(_message.Message):
    __slots__ = ("sensor", "t0_ns", "rate_hz", "channels", "n_samples", "offload", "features", "raw", "novelty", "flags", "compact", "repeat", "resent")
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    T0_NS_FIELD_NUMBER: _ClassVar[int]
    RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    N_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    OFFLOAD_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    NOVELTY_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    COMPACT_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    RESENT_FIELD_NUMBER: _ClassVar[int]
    sensor: str
    t0_ns: int
    rate_hz: float
    channels: int
    n_samples: int
    offload: Offload
    features: Features
    raw: RawSamples
    novelty: float
    flags: int
    compact: CompactFeatures
    repeat: int
    resent: bool
    def __init__(self, sensor: _Optional[str] = ..., t0_ns: _Optional[int] = ..., rate_hz: _Optional[float] = ..., channels: _Optional[int] = ..., n_samples: _Optional[int] = ..., offload: _Optional[_Union[Offload, str]] = ..., features: _Optional[_Union[Features, _Mapping]] = ..., raw: _Optional[_Union[RawSamples, _Mapping]] = ..., novelty: _Optional[float] = ..., flags: _Optional[int] = ..., compact: _Optional[_Union[CompactFeatures, _Mapping]] = ..., repeat: _Optional[int] = ..., resent: _Optional[bool] = ...) -> None: ...

class SeqRange(_message.Message):
    __slots__ = ("first", "last", "reason")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    reason: str
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class TelemetryBatch(_message.Message):
    __slots__ = ("tenant", "device_id", "seq", "sent_at_ns", "windows", "evicted", "health", "acks", "clock_synced", "summaries")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_NS_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    EVICTED_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_SYNCED_FIELD_NUMBER: _ClassVar[int]
    SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    seq: int
    sent_at_ns: int
    windows: _containers.RepeatedCompositeFieldContainer[Window]
    evicted: _containers.RepeatedCompositeFieldContainer[SeqRange]
    health: Health
    acks: _containers.RepeatedCompositeFieldContainer[_control_pb2.CommandAck]
    clock_synced: bool
    summaries: _containers.RepeatedCompositeFieldContainer[Summary]
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., seq: _Optional[int] = ..., sent_at_ns: _Optional[int] = ..., windows: _Optional[_Iterable[_Union[Window, _Mapping]]] = ..., evicted: _Optional[_Iterable[_Union[SeqRange, _Mapping]]] = ..., health: _Optional[_Union[Health, _Mapping]] = ..., acks: _Optional[_Iterable[_Union[_control_pb2.CommandAck, _Mapping]]] = ..., clock_synced: _Optional[bool] = ..., summaries: _Optional[_Iterable[_Union[Summary, _Mapping]]] = ...) -> None: ...

class Health(_message.Message):
    __slots__ = ("battery", "outbox_depth", "outbox_bytes", "evicted_batches", "cpu_us_per_window", "clock_offset_ns", "firmware", "algo_version", "samples_dropped", "commands_nacked", "clock_synced", "raw_cache_bytes", "commands_ok", "policy_version", "uplink")
    BATTERY_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_BYTES_FIELD_NUMBER: _ClassVar[int]
    EVICTED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    CPU_US_PER_WINDOW_FIELD_NUMBER: _ClassVar[int]
    CLOCK_OFFSET_NS_FIELD_NUMBER: _ClassVar[int]
    FIRMWARE_FIELD_NUMBER: _ClassVar[int]
    ALGO_VERSION_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_NACKED_FIELD_NUMBER: _ClassVar[int]
    CLOCK_SYNCED_FIELD_NUMBER: _ClassVar[int]
    RAW_CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_OK_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPLINK_FIELD_NUMBER: _ClassVar[int]
    battery: float
    outbox_depth: int
    outbox_bytes: int
    evicted_batches: int
    cpu_us_per_window: float
    clock_offset_ns: int
    firmware: str
    algo_version: int
    samples_dropped: int
    commands_nacked: int
    clock_synced: bool
    raw_cache_bytes: int
    commands_ok: int
    policy_version: int
    uplink: str
    def __init__(self, battery: _Optional[float] = ..., outbox_depth: _Optional[int] = ..., outbox_bytes: _Optional[int] = ..., evicted_batches: _Optional[int] = ..., cpu_us_per_window: _Optional[float] = ..., clock_offset_ns: _Optional[int] = ..., firmware: _Optional[str] = ..., algo_version: _Optional[int] = ..., samples_dropped: _Optional[int] = ..., commands_nacked: _Optional[int] = ..., clock_synced: _Optional[bool] = ..., raw_cache_bytes: _Optional[int] = ..., commands_ok: _Optional[int] = ..., policy_version: _Optional[int] = ..., uplink: _Optional[str] = ...) -> None: ...
