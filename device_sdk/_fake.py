"""FakeTransport: an in-memory transport for embedders' tests and the simulator.

Publishes are recorded in ``published`` and acknowledged at once (``auto_ack=True``) or when
the test calls :meth:`ack`. ``disconnect()``/``connect()`` simulate network loss; while
disconnected nothing is acked. ``deliver()`` injects a downlink message.

With ``confirm=True`` (the default) it also plays the cloud's part of the end-to-end
acknowledgement: every batch it acks is confirmed at once with a ``Stored`` downlink, as a core
would after its commit. ``confirm=False`` leaves that to the test (:meth:`confirm`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from google.protobuf.message import DecodeError

import protos
from device_sdk._transport import TransportEvents


@dataclass(frozen=True, slots=True)
class Published:
    token: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class FakeTransport:
    def __init__(
        self, *, auto_ack: bool = True, connected: bool = True, confirm: bool = True
    ) -> None:
        self.auto_ack = auto_ack
        self.auto_confirm = confirm
        self.published: list[Published] = []
        self.subscriptions: list[str] = []
        self.will: tuple[str, bytes] | None = None
        self._lock = threading.Lock()
        self._events: TransportEvents | None = None
        self._connected = connected
        self._unacked: list[int] = []
        self._token = 0

    @property
    def connected(self) -> bool:
        return self._connected

    def start(
        self, events: TransportEvents, *, client_id: str, will_topic: str, will_payload: bytes
    ) -> None:
        self._events = events
        self.client_id = client_id
        self.will = (will_topic, will_payload)
        if self._connected:
            events.on_connected()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        with self._lock:
            self._token += 1
            token = self._token
            self.published.append(Published(token, topic, payload, qos, retain))
            self._unacked.append(token)
        if self.auto_ack and self._connected:
            self.ack()
        return token

    def ack(self, n: int | None = None) -> int:
        """Acknowledge the ``n`` oldest unacked publishes (all when ``None``); return how many."""
        with self._lock:
            if not self._connected:
                return 0
            take = self._unacked if n is None else self._unacked[:n]
            self._unacked = self._unacked[len(take) :]
        assert self._events is not None
        for token in take:
            self._events.on_published(token, True, "")
            if self.auto_confirm:
                self._confirm_token(token)
        return len(take)

    def _confirm_token(self, token: int) -> None:
        p = next((p for p in reversed(self.published) if p.token == token), None)
        if p is None or not p.topic.endswith("/up"):
            return
        batch = protos.TelemetryBatch()
        try:
            batch.ParseFromString(p.payload)
        except DecodeError:
            return
        self.confirm(p.topic[: -len("up")] + "down", [batch.seq])

    def confirm(self, down_topic: str, seqs: list[int], *, rejected: bool = False) -> None:
        """Deliver the cloud's confirmation of ``seqs`` on ``down_topic``."""
        spans = [protos.SeqSpan(first=s, last=s) for s in seqs]
        body = protos.Stored(rejected=spans) if rejected else protos.Stored(stored=spans)
        self.deliver(down_topic, protos.Command(stored=body).SerializeToString())

    def refuse(self, n: int | None = None, *, reason: str = "0x87 Not authorized") -> int:
        """Refuse the ``n`` oldest unacked publishes (all when ``None``) as a broker would, with
        an MQTT 5 reason (code first); return how many."""
        with self._lock:
            take = self._unacked if n is None else self._unacked[:n]
            self._unacked = self._unacked[len(take) :]
        assert self._events is not None
        for token in take:
            self._events.on_published(token, False, reason)
        return len(take)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self.subscriptions.append(topic)

    def disconnect(self) -> None:
        self._connected = False
        if self._events is not None:
            self._events.on_disconnected("fake network loss")

    def connect(self) -> None:
        self._connected = True
        if self._events is not None:
            self._events.on_connected()
        if self.auto_ack:
            self.ack()

    def deliver(self, topic: str, payload: bytes) -> None:
        assert self._events is not None
        self._events.on_message(topic, payload)

    def stop(self, *, final_topic: str | None = None, final_payload: bytes = b"") -> None:
        if final_topic is not None and self._connected:
            self.publish(final_topic, final_payload, qos=1, retain=True)
        self._connected = False
