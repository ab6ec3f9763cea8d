"""A bounded hand-off from a foreign thread (paho's network thread) to an asyncio loop.

The thread side :meth:`Handoff.put` appends and wakes the loop only when the buffer goes from
empty to non-empty, so a burst of messages costs one loop wake-up, not one each. When the
buffer holds ``limit`` items, ``put`` blocks the thread (overflow policy: block — backpressure
to the broker, which stops sending once its in-flight window is used up). The loop side
:meth:`Handoff.get_all` takes everything buffered at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Handoff"]

T = TypeVar("T")


class Handoff(Generic[T]):
    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._loop = loop
        self._limit = limit
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._ready = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> bool:
        """Thread side: append ``item``, blocking while full; False if closed meanwhile."""
        with self._cond:
            while len(self._items) >= self._limit and not self._closed:
                self._cond.wait(0.5)
            if self._closed:
                return False
            self._items.append(item)
            wake = len(self._items) == 1
        if wake:
            self._loop.call_soon_threadsafe(self._ready.set)
        return True

    async def get_all(self) -> list[T]:
        """Loop side: wait until something is buffered, then take all of it."""
        while True:
            await self._ready.wait()
            with self._cond:
                self._ready.clear()
                items = list(self._items)
                self._items.clear()
                self._cond.notify_all()
            if items:
                return items

    def close(self) -> None:
        """Release a blocked ``put`` (it returns False); items still buffered stay readable."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
