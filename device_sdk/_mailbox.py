"""The worker's mailbox: a bounded data lane and a control lane, one condition variable.

Data (sample chunks from the app) is bounded by ``max_data``; a full lane makes ``put_data``
wait up to its timeout and then report failure, so the caller applies its overflow policy.
Control events (acks, connection changes, flush/close requests) are bounded by construction —
at most one ack per in-flight publish plus a handful of others — and never block the sender,
so the MQTT I/O thread is never held up. Downlink messages, which the network and not the device
decides the number of, share the control lane under their own bound (``put_message``:
drop-newest, reported to the caller to count).
"""

from __future__ import annotations

import threading
from collections import deque

from device_sdk._events import Event, Message


class Mailbox:
    def __init__(self, max_data: int) -> None:
        self._data: deque[Event] = deque()
        self._control: deque[Event] = deque()
        self._max = max_data
        self._messages = 0
        self._cond = threading.Condition()

    def put_data(self, event: Event, timeout: float | None) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._data) < self._max, timeout):
                return False
            self._data.append(event)
            self._cond.notify_all()
            return True

    def put_control(self, event: Event) -> None:
        with self._cond:
            self._control.append(event)
            self._cond.notify_all()

    def put_message(self, event: Message, limit: int) -> bool:
        """Put a downlink message on the control lane unless ``limit`` are already waiting."""
        with self._cond:
            if self._messages >= limit:
                return False
            self._messages += 1
            self._control.append(event)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Event | None:
        """Next event, control first; ``None`` on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._control or self._data, timeout):
                return None
            lane = self._control if self._control else self._data
            event = lane.popleft()
            if isinstance(event, Message):
                self._messages -= 1
            self._cond.notify_all()
            return event

    def data_depth(self) -> int:
        with self._cond:
            return len(self._data)
