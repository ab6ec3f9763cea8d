"""The in-process fallback broker: amqtt (MQTT 3.1.1 only) on its own thread and event loop.

amqtt keeps sessions, subscriptions and retained messages in memory only, so ``stop`` forgets
them. It has no MQTT 5 (v5 clients get CONNACK "unsupported protocol version") and no shared
subscriptions (``$share/...`` is granted but never matches). A QoS 1 message it sent is dropped
from the session when its PUBACK does not come within 5 s or the connection is lost first: no
redelivery, so a subscriber that acks only after its own work is done can lose messages.
See ``_amqtt_parts`` for the two amqtt behaviours worked around here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from typing import Any

from ._errors import EmbeddedError

__all__ = ["AmqttThread"]

_STOP_TIMEOUT = 10.0


def broker_config(host: str, port: int) -> dict[str, Any]:
    """Return the amqtt broker config: one TCP listener, open access, no $SYS, no loggers."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {f"{__package__}._amqtt_parts.OpenAuthPlugin": {}},
    }


class AmqttThread:
    """An amqtt broker served by a daemon thread that owns its own asyncio loop."""

    kind = "amqtt"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._failure: BaseException | None = None
        self._stopping = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, *, timeout: float) -> None:
        """Start the broker thread; return once it listens, raise EmbeddedError if it cannot."""
        if self._thread is not None:
            raise EmbeddedError(self.kind, "already started")
        self._ready = concurrent.futures.Future()
        self._failure = None
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"amqtt-broker-{self.port}", daemon=True
        )
        self._thread.start()
        try:
            self._ready.result(timeout)
        except concurrent.futures.TimeoutError:
            self.stop()
            raise EmbeddedError(
                self.kind, f"not listening on {self.host}:{self.port} after {timeout:.0f} s"
            ) from None
        except Exception as exc:
            self._thread.join(_STOP_TIMEOUT)
            self._thread = None
            raise EmbeddedError(
                self.kind, f"cannot listen on {self.host}:{self.port}: {exc}"
            ) from exc

    def kill(self) -> None:
        """No process to kill in-process: stop (amqtt keeps no state across a restart)."""
        self.stop()

    def stop(self) -> None:
        """Shut the broker down and join its thread; raise EmbeddedError if it had failed."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()  # seen by _serve if its loop is not up yet
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed on its own after a failure
                loop.call_soon_threadsafe(event.set)
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            raise EmbeddedError(self.kind, f"broker thread did not stop within {_STOP_TIMEOUT} s")
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise EmbeddedError(self.kind, f"broker failed: {failure!r}") from failure

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to start() or stop(), never swallowed
            if self._ready.done():
                self._failure = exc
            else:
                self._ready.set_exception(exc)
        finally:
            self._loop = None
            self._stop_event = None

    async def _serve(self) -> None:
        from ._amqtt_parts import ClosingBroker  # imported late: amqtt is an optional extra

        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        broker = ClosingBroker(broker_config(self.host, self.port))
        await broker.start()
        self._ready.set_result(None)
        try:
            if not self._stopping.is_set():
                await self._stop_event.wait()
        finally:
            await broker.shutdown()
