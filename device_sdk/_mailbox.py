"""The worker's mailbox: a bounded data lane and a control lane, one condition variable.

Data (sample chunks from the app) is bounded by ``max_data``; a full lane makes ``put_data``
wait up to its timeout and then report failure, so the caller applies its overflow policy.
Control events (acks, connection changes, flush/close requests) are bounded by construction —
at most one ack per in-flight publish plus a handful of others — and never block the sender,
so the MQTT I/O thread is never held up.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

Event = tuple[Any, ...]


class Mailbox:
    def __init__(self, max_data: int) -> None:
        self._data: deque[Event] = deque()
        self._control: deque[Event] = deque()
        self._max = max_data
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

    def get(self, timeout: float) -> Event | None:
        """Next event, control first; ``None`` on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._control or self._data, timeout):
                return None
            lane = self._control if self._control else self._data
            event = lane.popleft()
            self._cond.notify_all()
            return event

    def data_depth(self) -> int:
        with self._cond:
            return len(self._data)
