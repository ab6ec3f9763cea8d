"""In-order MQTT acknowledgement: a small state machine, no I/O.

MQTT requires PUBACKs in the order the PUBLISHes arrived; the core acks out of order. Messages
are registered as they arrive and released, in arrival order, once they and all earlier ones
are done. A reconnect starts a new epoch: messages of an older connection are never acked (their
packet ids may be reused by the broker); the broker redelivers them and the database dedups.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Incoming:
    mid: int
    qos: int
    topic: str
    payload: bytes
    epoch: int
    received_ns: int
    done: bool = False


@dataclass(slots=True)
class AckOrder:
    _queue: deque[Incoming] = field(default_factory=deque)

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, msg: Incoming) -> None:
        self._queue.append(msg)

    def complete(self, msg: Incoming) -> list[Incoming]:
        """Mark ``msg`` done; return the messages now releasable, in arrival order."""
        msg.done = True
        out = []
        while self._queue and self._queue[0].done:
            out.append(self._queue.popleft())
        return out
