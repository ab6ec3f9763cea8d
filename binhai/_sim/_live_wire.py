"""Uplink bytes of a live device, counted on the device side as the in-process path counts them.

:class:`CountingMqtt` wraps a device's :class:`device_sdk.MqttTransport` and counts what it is
asked to send with the formulas of :class:`binhai._sim._wire.CountingTransport`: MQTT 5 PUBLISH
framing per message, a CONNECT per connection, a SUBSCRIBE per subscription, and a PUBACK per
QoS1 downlink (every command but the stored confirmations, which come QoS0). Keep-alive pings and
the final offline status at close are counted in neither path.
"""

from __future__ import annotations

import threading

import protos
from binhai._sim._wire import CONNECT_BYTES, PUBACK_BYTES, publish_size, subscribe_size
from device_sdk import Transport, TransportEvents

__all__ = ["CountingMqtt", "Tally"]


class Tally:
    """Uplink bytes of one device, over all its boots (thread-safe: the device's worker
    publishes, the MQTT thread connects and receives)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes_up = 0
        self.publishes = 0
        self.connects = 0

    def add(self, nbytes: int, *, publish: bool = False, connect: bool = False) -> None:
        with self._lock:
            self.bytes_up += nbytes
            self.publishes += publish
            self.connects += connect


class _CountingEvents:
    def __init__(self, inner: TransportEvents, tally: Tally) -> None:
        self._inner = inner
        self._tally = tally

    def on_connected(self) -> None:
        self._tally.add(CONNECT_BYTES, connect=True)
        self._inner.on_connected()

    def on_disconnected(self, reason: str) -> None:
        self._inner.on_disconnected(reason)

    def on_published(self, token: int, ok: bool, reason: str) -> None:
        self._inner.on_published(token, ok, reason)

    def on_message(self, topic: str, payload: bytes) -> None:
        cmd = protos.Command()
        try:
            cmd.ParseFromString(payload)
            qos1 = cmd.WhichOneof("body") != "stored"  # confirmations come QoS0
        except Exception:  # not a command: the device NACKs it; the broker delivered it QoS1
            qos1 = True
        if qos1:
            self._tally.add(PUBACK_BYTES)
        self._inner.on_message(topic, payload)


class CountingMqtt:
    """A :class:`device_sdk.Transport` around another that counts uplink wire bytes."""

    def __init__(self, inner: Transport, tally: Tally) -> None:
        self._inner = inner
        self._tally = tally

    @property
    def connected(self) -> bool:
        return self._inner.connected

    def start(
        self, events: TransportEvents, *, client_id: str, will_topic: str, will_payload: bytes
    ) -> None:
        self._inner.start(
            _CountingEvents(events, self._tally),
            client_id=client_id,
            will_topic=will_topic,
            will_payload=will_payload,
        )

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        self._tally.add(publish_size(topic, len(payload), qos), publish=True)
        return self._inner.publish(topic, payload, qos=qos, retain=retain)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self._tally.add(subscribe_size(topic))
        self._inner.subscribe(topic, qos)

    def stop(self, *, final_topic: str | None = None, final_payload: bytes = b"") -> None:
        self._inner.stop(final_topic=final_topic, final_payload=final_payload)
