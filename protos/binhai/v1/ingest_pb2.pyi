from protos.binhai.v1 import telemetry_pb2 as _telemetry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeadLetter(_message.Message):
    __slots__ = ("topic", "reason", "payload", "payload_size", "received_at_ns")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_NS_FIELD_NUMBER: _ClassVar[int]
    topic: str
    reason: str
    payload: bytes
    payload_size: int
    received_at_ns: int
    def __init__(self, topic: _Optional[str] = ..., reason: _Optional[str] = ..., payload: _Optional[bytes] = ..., payload_size: _Optional[int] = ..., received_at_ns: _Optional[int] = ...) -> None: ...

class Presence(_message.Message):
    __slots__ = ("tenant", "device_id", "online", "at_ns")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    AT_NS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    online: bool
    at_ns: int
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., online: _Optional[bool] = ..., at_ns: _Optional[int] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("ref", "batch", "dead_letter", "presence", "bundle")
    REF_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    ref: int
    batch: _telemetry_pb2.TelemetryBatch
    dead_letter: DeadLetter
    presence: Presence
    bundle: IngestBundle
    def __init__(self, ref: _Optional[int] = ..., batch: _Optional[_Union[_telemetry_pb2.TelemetryBatch, _Mapping]] = ..., dead_letter: _Optional[_Union[DeadLetter, _Mapping]] = ..., presence: _Optional[_Union[Presence, _Mapping]] = ..., bundle: _Optional[_Union[IngestBundle, _Mapping]] = ...) -> None: ...

class IngestBundle(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[IngestRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[IngestRequest, _Mapping]]] = ...) -> None: ...

class IngestAck(_message.Message):
    __slots__ = ("ref", "status", "duplicate", "reason", "committed_at_ns", "more")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[IngestAck.Status]
        STATUS_STORED: _ClassVar[IngestAck.Status]
        STATUS_REJECTED: _ClassVar[IngestAck.Status]
    STATUS_UNSPECIFIED: IngestAck.Status
    STATUS_STORED: IngestAck.Status
    STATUS_REJECTED: IngestAck.Status
    REF_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_NS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    ref: int
    status: IngestAck.Status
    duplicate: bool
    reason: str
    committed_at_ns: int
    more: _containers.RepeatedCompositeFieldContainer[IngestAck]
    def __init__(self, ref: _Optional[int] = ..., status: _Optional[_Union[IngestAck.Status, str]] = ..., duplicate: _Optional[bool] = ..., reason: _Optional[str] = ..., committed_at_ns: _Optional[int] = ..., more: _Optional[_Iterable[_Union[IngestAck, _Mapping]]] = ...) -> None: ...
