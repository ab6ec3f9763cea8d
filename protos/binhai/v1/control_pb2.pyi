from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PolicyScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLICY_SCOPE_UNSPECIFIED: _ClassVar[PolicyScope]
    POLICY_SCOPE_TENANT: _ClassVar[PolicyScope]
    POLICY_SCOPE_GROUP: _ClassVar[PolicyScope]
    POLICY_SCOPE_DEVICE: _ClassVar[PolicyScope]
POLICY_SCOPE_UNSPECIFIED: PolicyScope
POLICY_SCOPE_TENANT: PolicyScope
POLICY_SCOPE_GROUP: PolicyScope
POLICY_SCOPE_DEVICE: PolicyScope

class Policy(_message.Message):
    __slots__ = ("novelty_threshold", "both_fraction", "explore_fraction", "min_battery_raw", "budget_bytes_per_s", "budget_burst_bytes", "window", "explicit", "heartbeat_s", "raw_per_episode", "policy_version")
    NOVELTY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    BOTH_FRACTION_FIELD_NUMBER: _ClassVar[int]
    EXPLORE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    MIN_BATTERY_RAW_FIELD_NUMBER: _ClassVar[int]
    BUDGET_BYTES_PER_S_FIELD_NUMBER: _ClassVar[int]
    BUDGET_BURST_BYTES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_S_FIELD_NUMBER: _ClassVar[int]
    RAW_PER_EPISODE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    novelty_threshold: float
    both_fraction: float
    explore_fraction: float
    min_battery_raw: float
    budget_bytes_per_s: float
    budget_burst_bytes: float
    window: int
    explicit: _containers.RepeatedScalarFieldContainer[str]
    heartbeat_s: float
    raw_per_episode: int
    policy_version: int
    def __init__(self, novelty_threshold: _Optional[float] = ..., both_fraction: _Optional[float] = ..., explore_fraction: _Optional[float] = ..., min_battery_raw: _Optional[float] = ..., budget_bytes_per_s: _Optional[float] = ..., budget_burst_bytes: _Optional[float] = ..., window: _Optional[int] = ..., explicit: _Optional[_Iterable[str]] = ..., heartbeat_s: _Optional[float] = ..., raw_per_episode: _Optional[int] = ..., policy_version: _Optional[int] = ...) -> None: ...

class FlushNow(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetCounters(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SendRaw(_message.Message):
    __slots__ = ("sensor", "start_ns", "end_ns")
    SENSOR_FIELD_NUMBER: _ClassVar[int]
    START_NS_FIELD_NUMBER: _ClassVar[int]
    END_NS_FIELD_NUMBER: _ClassVar[int]
    sensor: str
    start_ns: int
    end_ns: int
    def __init__(self, sensor: _Optional[str] = ..., start_ns: _Optional[int] = ..., end_ns: _Optional[int] = ...) -> None: ...

class TimeSync(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SeqSpan(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class Stored(_message.Message):
    __slots__ = ("stored", "rejected")
    STORED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    stored: _containers.RepeatedCompositeFieldContainer[SeqSpan]
    rejected: _containers.RepeatedCompositeFieldContainer[SeqSpan]
    def __init__(self, stored: _Optional[_Iterable[_Union[SeqSpan, _Mapping]]] = ..., rejected: _Optional[_Iterable[_Union[SeqSpan, _Mapping]]] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("id", "issued_at_ns", "policy", "flush", "reset_counters", "send_raw", "time_sync", "stored")
    ID_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_NS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    FLUSH_FIELD_NUMBER: _ClassVar[int]
    RESET_COUNTERS_FIELD_NUMBER: _ClassVar[int]
    SEND_RAW_FIELD_NUMBER: _ClassVar[int]
    TIME_SYNC_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    id: str
    issued_at_ns: int
    policy: Policy
    flush: FlushNow
    reset_counters: ResetCounters
    send_raw: SendRaw
    time_sync: TimeSync
    stored: Stored
    def __init__(self, id: _Optional[str] = ..., issued_at_ns: _Optional[int] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ..., flush: _Optional[_Union[FlushNow, _Mapping]] = ..., reset_counters: _Optional[_Union[ResetCounters, _Mapping]] = ..., send_raw: _Optional[_Union[SendRaw, _Mapping]] = ..., time_sync: _Optional[_Union[TimeSync, _Mapping]] = ..., stored: _Optional[_Union[Stored, _Mapping]] = ...) -> None: ...

class CommandAck(_message.Message):
    __slots__ = ("id", "ok", "reason", "device_time_ns")
    ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    id: str
    ok: bool
    reason: str
    device_time_ns: int
    def __init__(self, id: _Optional[str] = ..., ok: _Optional[bool] = ..., reason: _Optional[str] = ..., device_time_ns: _Optional[int] = ...) -> None: ...

class Downlink(_message.Message):
    __slots__ = ("tenant", "device_id", "command")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    command: Command
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., command: _Optional[_Union[Command, _Mapping]] = ...) -> None: ...

class ControlSubscribe(_message.Message):
    __slots__ = ("bridge",)
    BRIDGE_FIELD_NUMBER: _ClassVar[int]
    bridge: str
    def __init__(self, bridge: _Optional[str] = ...) -> None: ...

class SendCommandRequest(_message.Message):
    __slots__ = ("tenant", "device_id", "command")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    device_id: str
    command: Command
    def __init__(self, tenant: _Optional[str] = ..., device_id: _Optional[str] = ..., command: _Optional[_Union[Command, _Mapping]] = ...) -> None: ...

class SendCommandReply(_message.Message):
    __slots__ = ("id", "bridges")
    ID_FIELD_NUMBER: _ClassVar[int]
    BRIDGES_FIELD_NUMBER: _ClassVar[int]
    id: str
    bridges: int
    def __init__(self, id: _Optional[str] = ..., bridges: _Optional[int] = ...) -> None: ...

class PolicyField(_message.Message):
    __slots__ = ("name", "value", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    source: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., source: _Optional[str] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("tenant", "scope", "key")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    scope: PolicyScope
    key: str
    def __init__(self, tenant: _Optional[str] = ..., scope: _Optional[_Union[PolicyScope, str]] = ..., key: _Optional[str] = ...) -> None: ...

class GetPolicyReply(_message.Message):
    __slots__ = ("fields", "version", "device_version", "pinned")
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedCompositeFieldContainer[PolicyField]
    version: int
    device_version: int
    pinned: _containers.RepeatedCompositeFieldContainer[PolicyField]
    def __init__(self, fields: _Optional[_Iterable[_Union[PolicyField, _Mapping]]] = ..., version: _Optional[int] = ..., device_version: _Optional[int] = ..., pinned: _Optional[_Iterable[_Union[PolicyField, _Mapping]]] = ...) -> None: ...

class SetPolicyRequest(_message.Message):
    __slots__ = ("tenant", "scope", "key", "fields", "unpin")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    UNPIN_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    scope: PolicyScope
    key: str
    fields: _containers.ScalarMap[str, float]
    unpin: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant: _Optional[str] = ..., scope: _Optional[_Union[PolicyScope, str]] = ..., key: _Optional[str] = ..., fields: _Optional[_Mapping[str, float]] = ..., unpin: _Optional[_Iterable[str]] = ...) -> None: ...

class SetPolicyReply(_message.Message):
    __slots__ = ("commands",)
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    commands: int
    def __init__(self, commands: _Optional[int] = ...) -> None: ...
