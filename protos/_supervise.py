"""Supervision of a service's background tasks (the bridge's and the core's).

Every long-lived task of a service runs under one :class:`Supervisor`. A task that ends with an
unexpected exception is logged and restarted after a jittered, growing delay — unless it failed
``max_restarts`` times within ``window_s`` seconds (``None``: no limit), or was spawned with
``restart=False``: then
the supervisor *fails*. A failed supervisor keeps the exception and a one-line reason, sets
``failed`` (services wait on it next to their stop signal, so they stop with the reason and a
non-zero exit) and calls ``on_failure``. A task that returns normally is simply done.
``close()`` cancels every task and waits for them; the owner raises the stored failure in its
own exception type (``error``, ``reason``).

Nothing is collected only at shutdown: a failure is seen when it happens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from protos._backoff import Backoff

__all__ = ["Supervisor"]

log = logging.getLogger(__name__)

Factory = Callable[[], Coroutine[Any, Any, None]]


class Supervisor:
    """Owns named tasks; restarts them on failure with backoff, within a restart budget."""

    def __init__(
        self,
        service: str,
        *,
        max_restarts: int | None = 5,
        window_s: float = 60.0,
        first_delay: float = 0.1,
        max_delay: float = 5.0,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.service = service
        self.max_restarts = max_restarts
        self.window_s = window_s
        self._first, self._cap = first_delay, max_delay
        self._on_failure = on_failure
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._restarts: dict[str, list[float]] = {}
        self.restarts = 0
        self.failed = asyncio.Event()
        self.error: BaseException | None = None
        self.reason = ""
        self._closing = False

    def spawn(self, name: str, factory: Factory, *, restart: bool = True) -> None:
        """Run ``factory()`` as task ``name`` (names are unique while running)."""
        if name in self._tasks:
            raise ValueError(f"{self.service}: a task named {name!r} is already running")
        self._tasks[name] = asyncio.create_task(
            self._run(name, factory, restart), name=f"{self.service}:{name}"
        )

    @property
    def names(self) -> list[str]:
        return sorted(self._tasks)

    async def _run(self, name: str, factory: Factory, restart: bool) -> None:
        backoff = Backoff(self._first, self._cap)
        try:
            while True:
                started = time.monotonic()
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not restart or not self._may_restart(name):
                        self._fail(name, exc)
                        return
                    log.error(
                        "%s: task %s failed (%s: %s); restarting",
                        self.service,
                        name,
                        type(exc).__name__,
                        exc,
                        exc_info=exc,
                    )
                    self.restarts += 1
                if time.monotonic() - started > self.window_s:
                    backoff.reset()
                await backoff.wait()
        finally:
            if not self._closing:
                self._tasks.pop(name, None)

    def _may_restart(self, name: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._restarts.get(name, []) if now - t < self.window_s]
        recent.append(now)
        self._restarts[name] = recent
        return self.max_restarts is None or len(recent) <= self.max_restarts

    def _fail(self, name: str, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            self.reason = f"{self.service}: task {name} failed: {type(exc).__name__}: {exc}"
            log.critical("%s", self.reason, exc_info=exc)
            self.failed.set()
            if self._on_failure is not None:
                self._on_failure(self.reason)

    async def close(self) -> None:
        """Cancel every task and wait for them (the stored failure stays in ``error``)."""
        self._closing = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
