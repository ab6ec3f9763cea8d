"""Reconnect pacing for the bridge's long-lived gRPC streams: jittered exponential backoff."""

from __future__ import annotations

import asyncio
import random


class Backoff:
    """``await wait()`` sleeps ``delay`` × uniform(0.5, 1.5), then doubles it up to ``cap``;
    ``reset()`` after a stream came up brings the next wait back to ``first``."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    async def wait(self) -> None:
        await asyncio.sleep(self.delay * (0.5 + random.random()))
        self.delay = min(self.delay * 2, self.cap)
