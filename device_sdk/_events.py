"""What happens to a device, as typed events: the app, the transport and the clock post them, the
engine (:class:`device_sdk._engine.Engine`) handles them one at a time.

The threaded :class:`~device_sdk.Device` carries them through its mailbox; a simulator in virtual
time hands them to the engine directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Samples:
    """A chunk of ``sensor`` samples, (channels, n) float32, first one at ``t0_ns`` (or None)."""

    sensor: str
    data: np.ndarray
    t0_ns: int | None


@dataclass(frozen=True, slots=True)
class PubAck:
    """The broker acknowledged (``ok``) or refused the publish ``token``."""

    token: int
    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Connected:
    pass


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


@dataclass(frozen=True, slots=True)
class Message:
    """A downlink message."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class DownlinkDropped:
    """A downlink message was dropped before the engine saw it (queue bound)."""


@dataclass(frozen=True, slots=True)
class Flush:
    """Close the open batch; call ``done`` once everything queued so far is acknowledged."""

    done: Callable[[], object]


@dataclass(frozen=True, slots=True)
class Battery:
    level: float


@dataclass(frozen=True, slots=True)
class Close:
    """Close the open batch and stop."""


Event = (
    Samples
    | PubAck
    | Connected
    | Disconnected
    | Message
    | DownlinkDropped
    | Flush
    | Battery
    | Close
)


class EventSink:
    """:class:`~device_sdk.TransportEvents` that turn transport callbacks into events.

    ``post`` receives every event; ``post_message`` a downlink message and returns False when it
    was not taken (a bound), in which case a :class:`DownlinkDropped` is posted instead.
    """

    def __init__(
        self, post: Callable[[Event], object], post_message: Callable[[Message], bool]
    ) -> None:
        self._post = post
        self._post_message = post_message

    def on_connected(self) -> None:
        self._post(Connected())

    def on_disconnected(self, reason: str) -> None:
        self._post(Disconnected(reason))

    def on_published(self, token: int, ok: bool, reason: str) -> None:
        self._post(PubAck(token, ok, reason))

    def on_message(self, topic: str, payload: bytes) -> None:
        if not self._post_message(Message(topic, payload)):
            self._post(DownlinkDropped())
