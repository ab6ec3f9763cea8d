"""What the simulated devices put on the wire: MQTT 5 packet sizes and a counting transport.

:class:`CountingTransport` is a :class:`device_sdk.Transport` for virtual time: a publish is
delivered to the in-process cloud at once (``deliver``) and acknowledged by posting a
:class:`PubAck` to the engine's event queue; nothing goes over a socket. It counts every byte the
device sends upstream as MQTT 5 would frame it: PUBLISH packets (fixed header, remaining length,
topic, packet id, empty properties, payload), a PUBACK per QoS1 downlink message, and CONNECT
and SUBSCRIBE at every (re)connection; QoS0 downlinks (the stored confirmations) cost nothing.
Keep-alive pings are not counted (a device that publishes at least once per keep-alive interval
sends none).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from device_sdk._events import Connected, Disconnected, Event, Message, PubAck

#: CONNECT with a ~20-byte client id, clean start off, session expiry and will (status topic).
CONNECT_BYTES = 110
PUBACK_BYTES = 4


def _remaining_length_size(n: int) -> int:
    size = 1
    while n >= 128:
        n >>= 7
        size += 1
    return size


def publish_size(topic: str, payload_len: int, qos: int = 1) -> int:
    """Bytes of an MQTT 5 PUBLISH carrying ``payload_len`` bytes on ``topic`` (no properties)."""
    remaining = 2 + len(topic.encode()) + (2 if qos else 0) + 1 + payload_len
    return 1 + _remaining_length_size(remaining) + remaining


def subscribe_size(topic: str) -> int:
    remaining = 2 + 1 + 2 + len(topic.encode()) + 1
    return 1 + _remaining_length_size(remaining) + remaining


Deliver = Callable[[str, bytes], None]


class CountingTransport:
    """A synchronous transport that counts wire bytes; events go to ``events`` (a deque)."""

    def __init__(self, deliver: Deliver) -> None:
        self.events: deque[Event] = deque()
        self.bytes_up = 0
        self.publishes = 0
        self.connects = 0
        self._deliver = deliver
        self._token = 0
        self._online = True
        self._connected = False
        self._queued: list[tuple[int, str, bytes, int]] = []

    # -- Transport ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    def start(
        self, events: object, *, client_id: str, will_topic: str, will_payload: bytes
    ) -> None:
        self.client_id = client_id
        if self._online:
            self._connect()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        self._token += 1
        if self._connected:
            self._send(self._token, topic, payload, qos)
        else:  # as an MQTT client does: queued, sent once connected again
            self._queued.append((self._token, topic, payload, qos))
        return self._token

    def _send(self, token: int, topic: str, payload: bytes, qos: int) -> None:
        self.bytes_up += publish_size(topic, len(payload), qos)
        self.publishes += 1
        self._deliver(topic, payload)
        self.events.append(PubAck(token, True, ""))

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self.bytes_up += subscribe_size(topic)

    def stop(self, *, final_topic: str | None = None, final_payload: bytes = b"") -> None:
        if final_topic is not None and self._connected:
            self.publish(final_topic, final_payload, retain=True)
        self._connected = False

    # -- the simulator's side ----------------------------------------------------------------

    def set_online(self, online: bool) -> None:
        """Network up or down (a partition); a drop and a return post the engine's events."""
        if online == self._online:
            return
        self._online = online
        if online:
            self._connect()
        elif self._connected:
            self._connected = False
            self.events.append(Disconnected("network partition"))

    def downlink(self, topic: str, payload: bytes, qos: int = 1) -> bool:
        """A downlink message for the device (a QoS1 one costs it a PUBACK upstream); False
        (not delivered) while it is offline."""
        if not self._connected:
            return False
        if qos:
            self.bytes_up += PUBACK_BYTES
        self.events.append(Message(topic, payload))
        return True

    def crash(self) -> None:
        """The device lost power: the connection drops, nothing queued survives."""
        self._connected = False
        self._queued = []
        self.events.clear()

    def _connect(self) -> None:
        self._connected = True
        self.connects += 1
        self.bytes_up += CONNECT_BYTES
        self.events.append(Connected())
        queued, self._queued = self._queued, []
        for item in queued:
            self._send(*item)
