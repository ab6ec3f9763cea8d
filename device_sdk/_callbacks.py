"""The callback thread: runs the embedding app's ``on_command``/``on_policy`` callbacks.

They never run on paho's I/O thread nor on the device worker: the worker only enqueues. The
queue holds ``max_pending`` calls; when the app's callbacks are slower than the commands, the
newest call is dropped and counted (``callbacks_dropped``) — the command itself was already
applied and acked. A callback that raises does not stop the thread: the first exception is kept
and raised (as :class:`~device_sdk.CallbackError`) by the next ``push``/``flush``/``close``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_STOP = object()


class CallbackRunner:
    def __init__(self, name: str, max_pending: int = 64) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(max_pending)
        self.dropped = 0
        self.errors = 0
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., object], *args: object) -> None:
        """Queue ``fn(*args)``; never blocks (drop-newest with a count when full)."""
        try:
            self._queue.put_nowait((fn, args))
        except queue.Full:
            self.dropped += 1
            log.warning("callback queue full; dropped a call to %s", fn)

    def take_error(self) -> BaseException | None:
        with self._lock:
            err, self._error = self._error, None
        return err

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception as exc:
                log.exception("device callback %s failed", fn)
                with self._lock:
                    self.errors += 1
                    if self._error is None:
                        self._error = exc

    def close(self, timeout: float = 5.0) -> None:
        """Run what is queued (up to ``timeout``), then stop the thread."""
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("callback thread busy; not waiting for it")
            return
        self._thread.join(timeout)
