"""device_sdk: the embeddable client for terminals.

``Device`` windows sensor samples, computes features with :mod:`kernels`, decides per window
what to offload, and streams batches over MQTT through a durable outbox::

    from device_sdk import Device

    url = "mqtt://broker:1883"
    with Device("pi-7", tenant="acme", broker_url=url, data_dir="/var/lib/app") as dev:
        dev.add_sensor("accel", rate_hz=50, channels=3, window=128)
        dev.push("accel", samples)          # (n, 3) array; never waits on the network
        dev.flush(timeout=10)
"""

from device_sdk._backoff import histogram, reconnect_delay, render_histogram
from device_sdk._clock import PLAUSIBLE_FLOOR_NS, Clock
from device_sdk._config import BatchPolicy, Budget, OutboxLimits, SensorSpec
from device_sdk._device import Device, OnCommand, OnPolicy
from device_sdk._downlink import DevicePolicy
from device_sdk._encode import WindowRecord, decode_raw, encode_batch, encode_raw
from device_sdk._engine import Uplink
from device_sdk._errors import (
    CallbackError,
    ClosedError,
    ConfigError,
    DeviceError,
    OutboxError,
    WorkerError,
)
from device_sdk._fake import FakeTransport, Published
from device_sdk._mqtt import MqttOptions, MqttTransport
from device_sdk._outbox import Eviction, Outbox
from device_sdk._synergy import DEFAULT_FEATURE_SET, SynergyConfig
from device_sdk._transport import Transport, TransportEvents
from device_sdk._windows import Windower

__all__ = [
    "DEFAULT_FEATURE_SET",
    "PLAUSIBLE_FLOOR_NS",
    "BatchPolicy",
    "Budget",
    "CallbackError",
    "Clock",
    "ClosedError",
    "ConfigError",
    "Device",
    "DeviceError",
    "DevicePolicy",
    "Eviction",
    "FakeTransport",
    "MqttOptions",
    "MqttTransport",
    "OnCommand",
    "OnPolicy",
    "Outbox",
    "OutboxError",
    "OutboxLimits",
    "Published",
    "SensorSpec",
    "SynergyConfig",
    "Transport",
    "TransportEvents",
    "Uplink",
    "WindowRecord",
    "Windower",
    "WorkerError",
    "decode_raw",
    "encode_batch",
    "encode_raw",
    "histogram",
    "reconnect_delay",
    "render_histogram",
]
