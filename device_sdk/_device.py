"""The Device: the embeddable client. ``push`` samples in; batches reach the cloud exactly as
promised (durably queued, published QoS1, dropped from the outbox only once the cloud confirms
it has stored them, republished until then).

Threads: the caller's thread only validates and copies samples into a bounded mailbox. One
worker thread drives the :class:`~device_sdk._engine.Engine` — windows, kernels, offload
decisions, batches, the outbox, the clock estimate and the in-flight table — so nothing else needs
a lock. The transport's thread only posts events; the app's callbacks run on a callback thread of
their own.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

import kernels
import protos
from device_sdk._callbacks import CallbackRunner
from device_sdk._clock import Clock, WallClock
from device_sdk._config import BatchPolicy, Budget, OutboxLimits, SensorSpec
from device_sdk._delivery import Confirm
from device_sdk._engine import Engine, EngineConfig, OnCommand, OnPolicy, Topics
from device_sdk._errors import CallbackError, ClosedError, ConfigError, WorkerError
from device_sdk._events import Battery, Close, EventSink, Flush, Message, Samples
from device_sdk._mailbox import Mailbox
from device_sdk._mqtt import MqttOptions, MqttTransport
from device_sdk._outbox import Outbox
from device_sdk._transport import Transport
from device_sdk._windows import NS

log = logging.getLogger(__name__)

Overflow = Literal["block", "drop"]

_MAX_DOWNLINK_QUEUED = 256  # downlink messages waiting for the worker (drop-newest, counted)
_JOIN_TIMEOUT_S = 10.0  # close() waits this long for the worker, which then closes the outbox

__all__ = ["Device", "OnCommand", "OnPolicy"]


class Device:
    """A device streaming sensor windows to binhai.

    Parameters
    ----------
    device_id, tenant
        Identity (1-128 of ``A-Z a-z 0-9 _ . : -``); they name the MQTT topics.
    broker_url
        ``mqtt[s]://[user:pass@]host[:port][?protocol=5|3.1.1]``; ignored if ``transport`` is given.
    data_dir
        Directory of the durable outbox and the seq counter. Reuse it across restarts: a device
        restarted with the same directory resumes sending what was not yet acknowledged.
    transport
        The network seam; default :class:`MqttTransport`. Tests pass a :class:`FakeTransport`.
    batch, outbox, budget, mqtt
        Batching, outbox and raw-cache bounds, uplink budget and MQTT options (see their
        classes for defaults).
    offload_policy
        The cloud's offload policy (:class:`kernels.OffloadPolicy`); default its defaults.
    max_pending_chunks, overflow, push_timeout
        ``push`` puts chunks on a queue of ``max_pending_chunks``. When it is full,
        ``overflow="block"`` waits up to ``push_timeout`` seconds (``None``: forever) and then
        drops the chunk; ``"drop"`` drops at once. Dropped samples are counted in ``stats()``.
    heartbeat_s
        A batch with a ``Health`` report every ``heartbeat_s`` seconds (default 30), idle or not.
    firmware
        Firmware version string reported in the heartbeat.
    wall_clock
        The device's wall clock, ns since the Unix epoch (default ``time.time_ns``). It only
        stands in until the cloud's clock is known (see docs/device.md, "Clock").
    clock_sync_grace_s
        When ``wall_clock`` reads before 2020 (an RTC that lost its time), batches wait up to
        this many seconds of connection for the cloud's clock before they go out unsynced.
    confirm, confirm_timeout_s
        When a batch leaves the outbox. ``"stored"`` (default): once the cloud confirms it has
        stored it (a broker's PUBACK is not durability); a batch not confirmed within
        ``confirm_timeout_s`` (doubling per attempt, up to 10 minutes) is published again, and
        everything unconfirmed goes again after a reconnect. ``"puback"``: at the broker's
        PUBACK, for a cloud that sends no confirmations (bridges before they existed).
    on_command, on_policy
        Optional app callbacks: ``on_command(command, ack)`` after every decodable command,
        ``on_policy(DevicePolicy)`` after a policy is applied. They run on a callback thread of
        their own (never on the MQTT I/O thread or the worker), so they may block; an exception
        they raise is re-raised as :class:`CallbackError` by the next call.
    """

    def __init__(
        self,
        device_id: str,
        *,
        tenant: str,
        broker_url: str | None = None,
        data_dir: str | Path,
        transport: Transport | None = None,
        batch: BatchPolicy = BatchPolicy(),
        outbox: OutboxLimits = OutboxLimits(),
        budget: Budget = Budget(),
        mqtt: MqttOptions = MqttOptions(),
        offload_policy: kernels.OffloadPolicy | None = None,
        max_pending_chunks: int = 256,
        overflow: Overflow = "block",
        push_timeout: float | None = 5.0,
        max_inflight: int = 16,
        heartbeat_s: float = 30.0,
        firmware: str = "",
        wall_clock: WallClock = time.time_ns,
        clock_sync_grace_s: float = 10.0,
        confirm: Confirm = "stored",
        confirm_timeout_s: float = 30.0,
        on_command: OnCommand | None = None,
        on_policy: OnPolicy | None = None,
    ) -> None:
        topics = Topics.of(tenant, device_id)
        if overflow not in ("block", "drop"):
            raise ConfigError(f"overflow must be 'block' or 'drop', not {overflow!r}")
        if not heartbeat_s > 0:
            raise ConfigError(f"heartbeat_s must be > 0, got {heartbeat_s}")
        if confirm not in ("stored", "puback") or not confirm_timeout_s > 0:
            raise ConfigError(f"bad confirm={confirm!r} / confirm_timeout_s={confirm_timeout_s}")
        # Everything that can be wrong in the configuration fails here, before a file or a
        # thread exists (the transport checks the broker URL and reads the TLS files).
        if transport is None:
            if broker_url is None:
                raise ConfigError("give broker_url or transport")
            transport = MqttTransport(broker_url, mqtt)
        self.device_id, self.tenant = device_id, tenant
        self.up_topic, self.down_topic, self.status_topic = topics.up, topics.down, topics.status
        self._overflow: Overflow = overflow
        self._push_timeout = push_timeout
        self._transport = transport
        self._mailbox = Mailbox(max_pending_chunks)
        self._closed = False
        self._error: BaseException | None = None
        self._callbacks = (
            CallbackRunner(f"device-{device_id}-callbacks") if on_command or on_policy else None
        )
        self._outbox = Outbox(
            Path(data_dir), max_bytes=outbox.max_bytes, raw_cache_bytes=outbox.raw_cache_bytes
        )
        self._engine = Engine(
            device_id,
            tenant=tenant,
            outbox=self._outbox,
            transport=transport,
            clock=Clock(wall_clock),
            config=EngineConfig(
                batch=batch,
                budget=budget,
                offload_policy=offload_policy,
                max_inflight=max_inflight,
                heartbeat_s=heartbeat_s,
                firmware=firmware,
                clock_sync_grace_s=clock_sync_grace_s,
                confirm=confirm,
                confirm_timeout_s=confirm_timeout_s,
            ),
            callbacks=self._callbacks,
            on_command=on_command,
            on_policy=on_policy,
        )
        self._worker = threading.Thread(target=self._run, name=f"device-{device_id}", daemon=True)
        self._worker.start()
        try:
            transport.start(
                EventSink(self._mailbox.put_control, self._post_message),
                client_id=f"{tenant}:{device_id}",
                will_topic=self.status_topic,
                will_payload=protos.STATUS_OFFLINE,
            )
        except BaseException:
            self._closed = True
            self._mailbox.put_control(Close())
            self._worker.join(timeout=10)
            raise

    def _post_message(self, msg: Message) -> bool:
        return self._mailbox.put_message(msg, _MAX_DOWNLINK_QUEUED)

    # -- public API ------------------------------------------------------------------------

    def add_sensor(
        self, name: str, *, rate_hz: float, channels: int = 1, window: int = 256, hop: int = 0
    ) -> SensorSpec:
        """Declare a sensor stream; windows of ``window`` samples every ``hop`` (default half)."""
        return self._engine.add_sensor(SensorSpec(name, rate_hz, channels, window, hop))

    def push(self, sensor: str, samples: Any, t0: float | None = None) -> None:
        """Queue samples of ``sensor`` taken from ``t0``; never waits on the network.

        ``samples`` is (n,) for a one-channel sensor or (n, channels). ``t0`` (Unix seconds) is
        the time of the first sample on a clock the app trusts; leave it ``None`` to let the SDK
        time the stream (monotonic clock, corrected to the cloud's wall clock) — a chunk without
        ``t0`` continues the stream, the first one is taken to end now.
        """
        self._check_open()
        spec = self._engine.spec(sensor)
        if spec is None:
            raise ConfigError(f"unknown sensor {sensor!r}; call add_sensor first")
        arr = as_channels(samples, spec)
        t0_ns = None if t0 is None else round(t0 * NS)
        timeout = 0.0 if self._overflow == "drop" else self._push_timeout
        if not self._mailbox.put_data(Samples(sensor, arr, t0_ns), timeout):
            self._engine.count(samples_dropped_overflow=arr.shape[1])
            log.warning(
                "device %s: push queue full, dropped %d samples", self.device_id, arr.shape[1]
            )

    def set_battery(self, level: float) -> None:
        """Battery level in [0, 1]; low levels make the offload decision spend less."""
        self._mailbox.put_control(Battery(min(max(float(level), 0.0), 1.0)))

    def flush(self, timeout: float | None = None) -> bool:
        """Close the open batch and wait until everything pushed so far is acknowledged.

        Returns False if that did not happen within ``timeout`` seconds.
        """
        self._check_open()
        done = threading.Event()
        if not self._mailbox.put_data(Flush(done.set), timeout):
            return False
        ok = done.wait(timeout)
        self._raise_worker_error()
        return ok

    def stats(self) -> dict[str, Any]:
        """A snapshot of the device's counters and queue depths."""
        out = self._engine.stats()
        cb = self._callbacks
        out.update(
            pending_chunks=self._mailbox.data_depth(),
            callbacks_dropped=cb.dropped if cb else 0,
            callback_errors=cb.errors if cb else 0,
        )
        return out

    def close(self, timeout: float | None = 10.0) -> None:
        """Flush (up to ``timeout``), stop the worker, disconnect. Unsent batches stay on disk."""
        if self._closed:
            return
        try:
            if self._error is None:
                self.flush(timeout)
        finally:
            self._closed = True
            self._mailbox.put_control(Close())
            self._worker.join(timeout=_JOIN_TIMEOUT_S)
            if self._worker.is_alive():  # it closes the outbox itself when it ends
                log.error("device %s: worker still busy after 10 s", self.device_id)
            self._transport.stop(final_topic=self.status_topic, final_payload=protos.STATUS_OFFLINE)
            if self._callbacks is not None:
                self._callbacks.close()
        self._raise_worker_error()
        self._raise_callback_error()

    def __enter__(self) -> Device:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"device {self.device_id} is closed")
        self._raise_worker_error()
        self._raise_callback_error()

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            raise WorkerError(
                f"device {self.device_id} worker failed: {self._error}"
            ) from self._error

    def _raise_callback_error(self) -> None:
        err = self._callbacks.take_error() if self._callbacks else None
        if err is not None:
            raise CallbackError(f"device {self.device_id}: app callback failed: {err}") from err

    # -- worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        engine = self._engine
        try:
            while True:
                ev = self._mailbox.get(timeout=engine.wake_in_s())
                if ev is not None and not engine.handle(ev):
                    return
                engine.tick()
        except BaseException as exc:
            log.exception("device %s worker failed", self.device_id)
            self._error = exc
            engine.fail()
        finally:
            self._outbox.close()  # the worker owns the outbox: nobody closes it under it


def as_channels(samples: Any, spec: SensorSpec) -> np.ndarray:
    """``samples`` (n,) or (n, channels) as an owned, C-contiguous (channels, n) float32 array."""
    arr = np.asarray(samples, dtype=np.float32)
    if arr.ndim == 1 and spec.channels == 1:
        arr = arr.reshape(1, -1)
    elif arr.ndim == 2 and arr.shape[1] == spec.channels:
        arr = arr.T
    else:
        raise ConfigError(
            f"sensor {spec.name!r} takes (n,{spec.channels}) samples, got shape {arr.shape}"
        )
    return np.array(arr, dtype=np.float32, order="C")  # own copy
