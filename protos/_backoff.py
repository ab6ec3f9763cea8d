"""Retry pacing for the services' loops (streams, database retries, supervised restarts):
jittered exponential backoff on asyncio."""

from __future__ import annotations

import asyncio
import random

__all__ = ["Backoff"]


class Backoff:
    """``await wait()`` sleeps ``delay`` × uniform(0.5, 1.5), then doubles it up to ``cap``;
    ``reset()`` after a success brings the next wait back to ``first``."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first <= cap, got {first}, {cap}")
        self.first = first
        self.cap = cap
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    def next_delay(self) -> float:
        """The next wait in seconds (jittered); advances the schedule."""
        out = self.delay * (0.5 + random.random())
        self.delay = min(self.delay * 2, self.cap)
        return out

    async def wait(self) -> None:
        await asyncio.sleep(self.next_delay())
