"""The seam between the device and the network: a small transport protocol.

The device talks to a :class:`Transport` and receives :class:`TransportEvents`. The SDK ships
:class:`~device_sdk.MqttTransport` (paho-mqtt, MQTT 5) and :class:`~device_sdk.FakeTransport`
(in memory, for embedders' tests and the simulator). Events are called on the transport's own
thread and must only hand off.
"""

from __future__ import annotations

from typing import Protocol


class TransportEvents(Protocol):
    def on_connected(self) -> None: ...

    def on_disconnected(self, reason: str) -> None: ...

    def on_published(self, token: int, ok: bool, reason: str) -> None:
        """The broker acknowledged (``ok``) or refused the publish identified by ``token``."""

    def on_message(self, topic: str, payload: bytes) -> None: ...


class Transport(Protocol):
    def start(
        self, events: TransportEvents, *, client_id: str, will_topic: str, will_payload: bytes
    ) -> None:
        """Begin connecting (asynchronously) and keep reconnecting until :meth:`stop`."""

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Queue a message; return the token later passed to ``on_published``."""

    def subscribe(self, topic: str, qos: int = 1) -> None: ...

    @property
    def connected(self) -> bool: ...

    def stop(self, *, final_topic: str | None = None, final_payload: bytes = b"") -> None:
        """Disconnect cleanly (publishing ``final_payload`` retained on ``final_topic`` first)."""


def publish_size(topic: str, payload_len: int, qos: int = 1) -> int:
    """Bytes of an MQTT 5 PUBLISH of ``payload_len`` bytes on ``topic`` (no properties): what a
    publish costs on the wire, and what an uplink budget pays."""
    remaining = 2 + len(topic.encode()) + (2 if qos else 0) + 1 + payload_len
    size, n = 1, remaining
    while n >= 128:
        n >>= 7
        size += 1
    return 1 + size + remaining
