from protos.binhai.v1 import telemetry_pb2 as _telemetry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeatureSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_ANY: _ClassVar[FeatureSource]
    SOURCE_DEVICE: _ClassVar[FeatureSource]
    SOURCE_CLOUD: _ClassVar[FeatureSource]
SOURCE_ANY: FeatureSource
SOURCE_DEVICE: FeatureSource
SOURCE_CLOUD: FeatureSource

class StatsRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class StatsReply(_message.Message):
    __slots__ = ("devices", "batches", "windows", "samples", "dead_letters", "gaps_unexplained", "gaps_explained", "dead_letters_rate_limited")
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    GAPS_UNEXPLAINED_FIELD_NUMBER: _ClassVar[int]
    GAPS_EXPLAINED_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_RATE_LIMITED_FIELD_NUMBER: _ClassVar[int]
    devices: int
    batches: int
    windows: int
    samples: int
    dead_letters: int
    gaps_unexplained: int
    gaps_explained: int
    dead_letters_rate_limited: int
    def __init__(self, devices: _Optional[int] = ..., batches: _Optional[int] = ..., windows: _Optional[int] = ..., samples: _Optional[int] = ..., dead_letters: _Optional[int] = ..., gaps_unexplained: _Optional[int] = ..., gaps_explained: _Optional[int] = ..., dead_letters_rate_limited: _Optional[int] = ...) -> None: ...

class SeriesRequest(_message.Message):
    __slots__ = ("tenant", "device_id", "sensor", "feature", "channel", "start_ns", "end_ns", "bucket_s", "source")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    START_NS_FIELD_NUMBER: _ClassVar[int]
    END_NS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_S_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    sensor: str
    feature: str
    channel: int
    start_ns: int
    end_ns: int
    bucket_s: int
    source: FeatureSource
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., sensor: _Optional[str] = ..., feature: _Optional[str] = ..., channel: _Optional[int] = ..., start_ns: _Optional[int] = ..., end_ns: _Optional[int] = ..., bucket_s: _Optional[int] = ..., source: _Optional[_Union[FeatureSource, str]] = ...) -> None: ...

class SeriesReply(_message.Message):
    __slots__ = ("t_ns", "values", "mins", "maxs", "counts", "resolution")
    T_NS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MINS_FIELD_NUMBER: _ClassVar[int]
    MAXS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    t_ns: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    mins: _containers.RepeatedScalarFieldContainer[float]
    maxs: _containers.RepeatedScalarFieldContainer[float]
    counts: _containers.RepeatedScalarFieldContainer[int]
    resolution: str
    def __init__(self, t_ns: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ..., mins: _Optional[_Iterable[float]] = ..., maxs: _Optional[_Iterable[float]] = ..., counts: _Optional[_Iterable[int]] = ..., resolution: _Optional[str] = ...) -> None: ...

class FleetRequest(_message.Message):
    __slots__ = ("tenant", "novelty_threshold", "online_window_s")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    NOVELTY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ONLINE_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    novelty_threshold: float
    online_window_s: int
    def __init__(self, tenant: _Optional[str] = ..., novelty_threshold: _Optional[float] = ..., online_window_s: _Optional[int] = ...) -> None: ...

class DeviceAnomalies(_message.Message):
    __slots__ = ("device_id", "windows", "max_novelty")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    MAX_NOVELTY_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    windows: int
    max_novelty: float
    def __init__(self, device_id: _Optional[str] = ..., windows: _Optional[int] = ..., max_novelty: _Optional[float] = ...) -> None: ...

class FleetReply(_message.Message):
    __slots__ = ("devices_total", "devices_online", "batches_last_minute", "windows_last_minute", "samples_last_minute", "batches_per_s", "samples_per_s", "anomalies_last_hour", "anomalous_devices_last_hour", "top_anomalous", "dead_letters_last_hour", "conformance_mismatches")
    DEVICES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DEVICES_ONLINE_FIELD_NUMBER: _ClassVar[int]
    BATCHES_LAST_MINUTE_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_LAST_MINUTE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_LAST_MINUTE_FIELD_NUMBER: _ClassVar[int]
    BATCHES_PER_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_PER_S_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_LAST_HOUR_FIELD_NUMBER: _ClassVar[int]
    ANOMALOUS_DEVICES_LAST_HOUR_FIELD_NUMBER: _ClassVar[int]
    TOP_ANOMALOUS_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_LAST_HOUR_FIELD_NUMBER: _ClassVar[int]
    CONFORMANCE_MISMATCHES_FIELD_NUMBER: _ClassVar[int]
    devices_total: int
    devices_online: int
    batches_last_minute: int
    windows_last_minute: int
    samples_last_minute: int
    batches_per_s: float
    samples_per_s: float
    anomalies_last_hour: int
    anomalous_devices_last_hour: int
    top_anomalous: _containers.RepeatedCompositeFieldContainer[DeviceAnomalies]
    dead_letters_last_hour: int
    conformance_mismatches: int
    def __init__(self, devices_total: _Optional[int] = ..., devices_online: _Optional[int] = ..., batches_last_minute: _Optional[int] = ..., windows_last_minute: _Optional[int] = ..., samples_last_minute: _Optional[int] = ..., batches_per_s: _Optional[float] = ..., samples_per_s: _Optional[float] = ..., anomalies_last_hour: _Optional[int] = ..., anomalous_devices_last_hour: _Optional[int] = ..., top_anomalous: _Optional[_Iterable[_Union[DeviceAnomalies, _Mapping]]] = ..., dead_letters_last_hour: _Optional[int] = ..., conformance_mismatches: _Optional[int] = ...) -> None: ...

class DeviceRequest(_message.Message):
    __slots__ = ("tenant", "device_id", "online_window_s")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ONLINE_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    online_window_s: int
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., online_window_s: _Optional[int] = ...) -> None: ...

class ConformanceRow(_message.Message):
    __slots__ = ("device_id", "algo_version", "checked", "mismatches", "skipped", "last_mismatch_ns", "last_mismatch")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ALGO_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHECKED_FIELD_NUMBER: _ClassVar[int]
    MISMATCHES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    LAST_MISMATCH_NS_FIELD_NUMBER: _ClassVar[int]
    LAST_MISMATCH_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    algo_version: int
    checked: int
    mismatches: int
    skipped: int
    last_mismatch_ns: int
    last_mismatch: str
    def __init__(self, device_id: _Optional[str] = ..., algo_version: _Optional[int] = ..., checked: _Optional[int] = ..., mismatches: _Optional[int] = ..., skipped: _Optional[int] = ..., last_mismatch_ns: _Optional[int] = ..., last_mismatch: _Optional[str] = ...) -> None: ...

class DeviceReply(_message.Message):
    __slots__ = ("found", "first_seen_ns", "last_seen_ns", "online", "presence_online", "last_seq", "batches", "windows", "gaps_explained", "gaps_unexplained", "health", "health_seq", "health_received_ns", "conformance", "commands_pending", "commands_acked", "commands_nacked")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_NS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_NS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_ONLINE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    GAPS_EXPLAINED_FIELD_NUMBER: _ClassVar[int]
    GAPS_UNEXPLAINED_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    HEALTH_SEQ_FIELD_NUMBER: _ClassVar[int]
    HEALTH_RECEIVED_NS_FIELD_NUMBER: _ClassVar[int]
    CONFORMANCE_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_PENDING_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_ACKED_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_NACKED_FIELD_NUMBER: _ClassVar[int]
    found: bool
    first_seen_ns: int
    last_seen_ns: int
    online: bool
    presence_online: bool
    last_seq: int
    batches: int
    windows: int
    gaps_explained: int
    gaps_unexplained: int
    health: _telemetry_pb2.Health
    health_seq: int
    health_received_ns: int
    conformance: _containers.RepeatedCompositeFieldContainer[ConformanceRow]
    commands_pending: int
    commands_acked: int
    commands_nacked: int
    def __init__(self, found: _Optional[bool] = ..., first_seen_ns: _Optional[int] = ..., last_seen_ns: _Optional[int] = ..., online: _Optional[bool] = ..., presence_online: _Optional[bool] = ..., last_seq: _Optional[int] = ..., batches: _Optional[int] = ..., windows: _Optional[int] = ..., gaps_explained: _Optional[int] = ..., gaps_unexplained: _Optional[int] = ..., health: _Optional[_Union[_telemetry_pb2.Health, _Mapping]] = ..., health_seq: _Optional[int] = ..., health_received_ns: _Optional[int] = ..., conformance: _Optional[_Iterable[_Union[ConformanceRow, _Mapping]]] = ..., commands_pending: _Optional[int] = ..., commands_acked: _Optional[int] = ..., commands_nacked: _Optional[int] = ...) -> None: ...

class RawWindowRequest(_message.Message):
    __slots__ = ("tenant", "device_id", "seq", "idx")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    seq: int
    idx: int
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., seq: _Optional[int] = ..., idx: _Optional[int] = ...) -> None: ...

class RawWindowReply(_message.Message):
    __slots__ = ("sensor", "t0_ns", "rate_hz", "channels", "n_samples", "offload", "novelty", "samples", "codec", "stored_bytes", "algo_version", "features", "source")
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    T0_NS_FIELD_NUMBER: _ClassVar[int]
    RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    N_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    OFFLOAD_FIELD_NUMBER: _ClassVar[int]
    NOVELTY_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    ALGO_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    sensor: str
    t0_ns: int
    rate_hz: float
    channels: int
    n_samples: int
    offload: _telemetry_pb2.Offload
    novelty: float
    samples: _containers.RepeatedScalarFieldContainer[float]
    codec: _telemetry_pb2.Codec
    stored_bytes: int
    algo_version: int
    features: _containers.RepeatedScalarFieldContainer[float]
    source: FeatureSource
    def __init__(self, sensor: _Optional[str] = ..., t0_ns: _Optional[int] = ..., rate_hz: _Optional[float] = ..., channels: _Optional[int] = ..., n_samples: _Optional[int] = ..., offload: _Optional[_Union[_telemetry_pb2.Offload, str]] = ..., novelty: _Optional[float] = ..., samples: _Optional[_Iterable[float]] = ..., codec: _Optional[_Union[_telemetry_pb2.Codec, str]] = ..., stored_bytes: _Optional[int] = ..., algo_version: _Optional[int] = ..., features: _Optional[_Iterable[float]] = ..., source: _Optional[_Union[FeatureSource, str]] = ...) -> None: ...

class ConformanceRequest(_message.Message):
    __slots__ = ("tenant", "device_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ...) -> None: ...

class ConformanceReply(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ConformanceRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[ConformanceRow, _Mapping]]] = ...) -> None: ...

class AlertsRequest(_message.Message):
    __slots__ = ("tenant", "device_id", "start_ns", "end_ns", "limit")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    START_NS_FIELD_NUMBER: _ClassVar[int]
    END_NS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    start_ns: int
    end_ns: int
    limit: int
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., start_ns: _Optional[int] = ..., end_ns: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("id", "tenant", "device_id", "sensor", "kind", "start_ns", "end_ns", "raised_ns", "score", "windows", "raw_windows")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_NS_FIELD_NUMBER: _ClassVar[int]
    END_NS_FIELD_NUMBER: _ClassVar[int]
    RAISED_NS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    RAW_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    id: int
    tenant: str
    device_id: str
    sensor: str
    kind: str
    start_ns: int
    end_ns: int
    raised_ns: int
    score: float
    windows: int
    raw_windows: int
    def __init__(self, id: _Optional[int] = ..., tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., sensor: _Optional[str] = ..., kind: _Optional[str] = ..., start_ns: _Optional[int] = ..., end_ns: _Optional[int] = ..., raised_ns: _Optional[int] = ..., score: _Optional[float] = ..., windows: _Optional[int] = ..., raw_windows: _Optional[int] = ...) -> None: ...

class AlertsReply(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ...) -> None: ...
