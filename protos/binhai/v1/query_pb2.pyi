from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class StatsRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class StatsReply(_message.Message):
    __slots__ = ("devices", "batches", "windows", "samples", "dead_letters", "gaps_unexplained", "gaps_explained")
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    GAPS_UNEXPLAINED_FIELD_NUMBER: _ClassVar[int]
    GAPS_EXPLAINED_FIELD_NUMBER: _ClassVar[int]
    devices: int
    batches: int
    windows: int
    samples: int
    dead_letters: int
    gaps_unexplained: int
    gaps_explained: int
    def __init__(self, devices: _Optional[int] = ..., batches: _Optional[int] = ..., windows: _Optional[int] = ..., samples: _Optional[int] = ..., dead_letters: _Optional[int] = ..., gaps_unexplained: _Optional[int] = ..., gaps_explained: _Optional[int] = ...) -> None: ...

class SeriesRequest(_message.Message):
    __slots__ = ("tenant", "device_id", "sensor", "feature", "channel", "start_ns", "end_ns", "bucket_s")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    START_NS_FIELD_NUMBER: _ClassVar[int]
    END_NS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_S_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    sensor: str
    feature: str
    channel: int
    start_ns: int
    end_ns: int
    bucket_s: int
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., sensor: _Optional[str] = ..., feature: _Optional[str] = ..., channel: _Optional[int] = ..., start_ns: _Optional[int] = ..., end_ns: _Optional[int] = ..., bucket_s: _Optional[int] = ...) -> None: ...

class SeriesReply(_message.Message):
    __slots__ = ("t_ns", "values")
    T_NS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    t_ns: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, t_ns: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...
