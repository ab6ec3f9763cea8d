"""The Device: the embeddable client. ``push`` samples in; batches reach the broker exactly as
promised (durably queued, published QoS1, dropped from the outbox only after the PUBACK).

Threads: the caller's thread only validates and copies samples into a bounded mailbox. One
worker thread owns all state — windows, kernels, offload decisions, batches, the outbox and the
in-flight table — so nothing else needs a lock. The transport's thread only posts events.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

import kernels
import protos
from device_sdk._config import BatchPolicy, Budget, OutboxLimits, SensorSpec
from device_sdk._encode import BOTH, FEATURES, RAW, WindowRecord, encode_batch, encode_raw
from device_sdk._errors import ClosedError, ConfigError, WorkerError
from device_sdk._mailbox import Event, Mailbox
from device_sdk._mqtt import MqttOptions, MqttTransport
from device_sdk._outbox import Eviction, Outbox
from device_sdk._transport import Transport
from device_sdk._windows import NS, Windower

log = logging.getLogger(__name__)

Overflow = Literal["block", "drop"]


@dataclass
class _SensorState:
    spec: SensorSpec
    windower: Windower
    scorer: kernels.NoveltyScorer


@dataclass
class _Counters:
    samples_pushed: int = 0
    samples_dropped_overflow: int = 0
    windows: int = 0
    windows_raw: int = 0
    windows_both: int = 0
    batches_created: int = 0
    batches_acked: int = 0
    publish_refused: int = 0
    cpu_ns_windows: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class _Events:
    """Transport events -> control lane of the mailbox (hand-off only)."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._mb = mailbox

    def on_connected(self) -> None:
        self._mb.put_control(("connected",))

    def on_disconnected(self, reason: str) -> None:
        self._mb.put_control(("disconnected", reason))

    def on_published(self, token: int, ok: bool, reason: str) -> None:
        self._mb.put_control(("ack", token, ok, reason))

    def on_message(self, topic: str, payload: bytes) -> None:
        self._mb.put_control(("message", topic, payload))


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
        Batching, outbox bound, uplink budget and MQTT options (see their classes for defaults).
    offload_policy
        The cloud's offload policy (:class:`kernels.OffloadPolicy`); default its defaults.
    max_pending_chunks, overflow, push_timeout
        ``push`` puts chunks on a queue of ``max_pending_chunks``. When it is full,
        ``overflow="block"`` waits up to ``push_timeout`` seconds (``None``: forever) and then
        drops the chunk; ``"drop"`` drops at once. Dropped samples are counted in ``stats()``.
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
    ) -> None:
        try:
            self.up_topic = protos.topic_for(tenant, device_id, "up")
            self.status_topic = protos.topic_for(tenant, device_id, "status")
        except protos.TopicError as exc:
            raise ConfigError(str(exc)) from exc
        if overflow not in ("block", "drop"):
            raise ConfigError(f"overflow must be 'block' or 'drop', not {overflow!r}")
        if transport is None:
            if broker_url is None:
                raise ConfigError("give broker_url or transport")
            transport = MqttTransport(broker_url, mqtt)
        self.device_id, self.tenant = device_id, tenant
        self._batch_policy = batch
        self._budget = budget
        self._policy = offload_policy or kernels.OffloadPolicy()
        self._overflow: Overflow = overflow
        self._push_timeout = push_timeout
        self._max_inflight = max_inflight
        self._outbox = Outbox(Path(data_dir), max_bytes=outbox.max_bytes)
        self._transport = transport
        self._mailbox = Mailbox(max_pending_chunks)
        self._specs: dict[str, SensorSpec] = {}
        self._states: dict[str, _SensorState] = {}
        self._counters = _Counters()
        self._lock = threading.Lock()  # guards _specs and counter snapshots
        self._closed = False
        self._error: BaseException | None = None
        # worker-owned state
        self._connected = False
        self._inflight: dict[int, int] = {}  # transport token -> seq
        self._current: list[WindowRecord] = []
        self._current_bytes = 0
        self._opened_at = 0.0
        self._flush_waiters: list[tuple[int, threading.Event]] = []
        self._tokens = float(budget.burst_bytes)
        self._tokens_at = time.monotonic()
        self._battery = 1.0
        self._seed = zlib.crc32(f"{tenant}/{device_id}".encode())
        self._worker = threading.Thread(target=self._run, name=f"device-{device_id}", daemon=True)
        self._worker.start()
        transport.start(
            _Events(self._mailbox),
            client_id=f"{tenant}:{device_id}",
            will_topic=self.status_topic,
            will_payload=protos.STATUS_OFFLINE,
        )

    # -- public API ------------------------------------------------------------------------

    def add_sensor(
        self, name: str, *, rate_hz: float, channels: int = 1, window: int = 256, hop: int = 0
    ) -> SensorSpec:
        """Declare a sensor stream; windows of ``window`` samples every ``hop`` (default half)."""
        spec = SensorSpec(name, rate_hz, channels, window, hop)
        with self._lock:
            if name in self._specs:
                raise ConfigError(f"sensor {name!r} already added")
            self._specs[name] = spec
        return spec

    def push(self, sensor: str, samples: Any, t0: float | None = None) -> None:
        """Queue samples of ``sensor`` taken from ``t0`` (Unix seconds; default: continue).

        ``samples`` is (n,) for a one-channel sensor or (n, channels). Never waits on the network.
        """
        self._check_open()
        spec = self._specs.get(sensor)
        if spec is None:
            raise ConfigError(f"unknown sensor {sensor!r}; call add_sensor first")
        arr = np.asarray(samples, dtype=np.float32)
        if arr.ndim == 1 and spec.channels == 1:
            arr = arr.reshape(1, -1)
        elif arr.ndim == 2 and arr.shape[1] == spec.channels:
            arr = arr.T
        else:
            raise ConfigError(
                f"sensor {sensor!r} takes (n,{spec.channels}) samples, got shape {arr.shape}"
            )
        arr = np.array(arr, dtype=np.float32, order="C")  # own copy
        t0_ns = None if t0 is None else round(t0 * NS)
        timeout = 0.0 if self._overflow == "drop" else self._push_timeout
        if not self._mailbox.put_data(("samples", sensor, arr, t0_ns), timeout):
            with self._lock:
                self._counters.samples_dropped_overflow += arr.shape[1]
            log.warning(
                "device %s: push queue full, dropped %d samples", self.device_id, arr.shape[1]
            )

    def set_battery(self, level: float) -> None:
        """Battery level in [0, 1]; low levels make the offload decision spend less."""
        self._mailbox.put_control(("battery", min(max(float(level), 0.0), 1.0)))

    def flush(self, timeout: float | None = None) -> bool:
        """Close the open batch and wait until everything pushed so far is acknowledged.

        Returns False if that did not happen within ``timeout`` seconds.
        """
        self._check_open()
        done = threading.Event()
        if not self._mailbox.put_data(("flush", done), timeout):
            return False
        ok = done.wait(timeout)
        self._raise_worker_error()
        return ok

    def stats(self) -> dict[str, Any]:
        """A snapshot of the device's counters and queue depths."""
        with self._lock:
            c = self._counters
            out: dict[str, Any] = {k: v for k, v in vars(c).items() if k != "extra"}
            out.update(c.extra)
        out.update(
            outbox_depth=self._outbox.depth,
            outbox_bytes=self._outbox.nbytes,
            outbox_evicted_batches=self._outbox.evicted_batches,
            outbox_raw_dropped=self._outbox.raw_dropped,
            outbox_corrupt_rows=self._outbox.corrupt_rows,
            next_seq=self._outbox.next_seq,
            inflight=len(self._inflight),
            pending_chunks=self._mailbox.data_depth(),
            connected=self._connected,
            samples_discarded_gap=sum(s.windower.discarded for s in list(self._states.values())),
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
            self._mailbox.put_control(("close",))
            self._worker.join(timeout=10)
            self._transport.stop(final_topic=self.status_topic, final_payload=protos.STATUS_OFFLINE)
            self._outbox.close()
        self._raise_worker_error()

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

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            raise WorkerError(
                f"device {self.device_id} worker failed: {self._error}"
            ) from self._error

    # -- worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                ev = self._mailbox.get(timeout=self._wait_s())
                if ev is not None and not self._handle(ev):
                    return
                if (
                    self._current
                    and time.monotonic() - self._opened_at >= self._batch_policy.max_age_s
                ):
                    self._close_batch()
                self._pump()
                self._release_flush_waiters()
        except BaseException as exc:
            log.exception("device %s worker failed", self.device_id)
            self._error = exc
            for _, waiter in self._flush_waiters:
                waiter.set()

    def _wait_s(self) -> float:
        if not self._current:
            return 0.5
        return max(0.0, self._opened_at + self._batch_policy.max_age_s - time.monotonic())

    def _handle(self, ev: Event) -> bool:
        kind = ev[0]
        if kind == "samples":
            self._process(ev[1], ev[2], ev[3])
        elif kind == "ack":
            self._on_ack(ev[1], ev[2], ev[3])
        elif kind == "connected":
            self._connected = True
            self._transport.publish(self.status_topic, protos.STATUS_ONLINE, qos=1, retain=True)
        elif kind == "disconnected":
            self._connected = False
        elif kind == "flush":
            self._close_batch()
            self._flush_waiters.append((self._outbox.next_seq - 1, ev[1]))
        elif kind == "battery":
            self._battery = ev[1]
        elif kind == "message":
            log.debug("device %s: downlink on %s ignored", self.device_id, ev[1])
        elif kind == "close":
            self._close_batch()
            return False
        return True

    def _state(self, sensor: str) -> _SensorState:
        st = self._states.get(sensor)
        if st is None:
            spec = self._specs[sensor]
            n_features = spec.channels * len(kernels.FEATURE_NAMES)
            st = _SensorState(spec, Windower(spec), kernels.NoveltyScorer(n_features))
            self._states[sensor] = st
        return st

    def _process(self, sensor: str, samples: np.ndarray, t0_ns: int | None) -> None:
        st = self._state(sensor)
        spec = st.spec
        with self._lock:
            self._counters.samples_pushed += samples.shape[1]
        if t0_ns is None and st.windower.expected_next_ns() is None:
            t0_ns = time.time_ns() - round(samples.shape[1] * NS / spec.rate_hz)
        for w_t0, data in st.windower.push(samples, t0_ns):
            started = time.thread_time_ns()
            feats = np.concatenate(
                [kernels.window_features(data[c], spec.rate_hz) for c in range(spec.channels)]
            )
            novelty = float(st.scorer.update(feats))
            mode = self._decide(novelty, data.nbytes, feats.nbytes)
            raw = encode_raw(data) if mode in (RAW, BOTH) else None
            rec = WindowRecord(
                spec.name, w_t0, spec.rate_hz, spec.channels, spec.window, feats, raw, mode, novelty
            )
            with self._lock:
                c = self._counters
                c.windows += 1
                c.windows_raw += mode == RAW
                c.windows_both += mode == BOTH
                c.cpu_ns_windows += time.thread_time_ns() - started
            self._add_window(rec)

    def _decide(self, novelty: float, raw_bytes: int, feature_bytes: int) -> int:
        now = time.monotonic()
        b = self._budget
        self._tokens = min(b.burst_bytes, self._tokens + (now - self._tokens_at) * b.bytes_per_s)
        self._tokens_at = now
        self._seed += 1
        modes, left = kernels.decide_offload(
            np.array([novelty], dtype=np.float64),
            np.array([raw_bytes], dtype=np.int64),
            np.array([feature_bytes], dtype=np.int64),
            tokens=self._tokens,
            battery=self._battery,
            policy=self._policy,
            seed=self._seed,
        )
        self._tokens = float(left)
        mode = int(modes[0])
        return mode if mode in (FEATURES, RAW, BOTH) else FEATURES

    def _add_window(self, rec: WindowRecord) -> None:
        if not self._current:
            self._opened_at = time.monotonic()
        self._current.append(rec)
        self._current_bytes += rec.features.nbytes + (len(rec.raw) if rec.raw else 0) + 48
        bp = self._batch_policy
        if len(self._current) >= bp.max_windows or self._current_bytes >= bp.max_bytes:
            self._close_batch()

    def _close_batch(self) -> None:
        if not self._current:
            return
        windows, self._current, self._current_bytes = self._current, [], 0
        has_raw = any(w.raw is not None for w in windows)

        def build(seq: int, evs: list[Eviction]) -> tuple[bytes, bytes | None]:
            args: dict[str, Any] = dict(
                tenant=self.tenant,
                device_id=self.device_id,
                seq=seq,
                sent_at_ns=time.time_ns(),
                windows=windows,
                evictions=evs,
            )
            full = encode_batch(**args)
            return full, (encode_batch(**args, features_only=True) if has_raw else None)

        self._outbox.append(
            build,
            priority=max(w.novelty for w in windows),
            anomaly=any(w.novelty >= self._policy.novelty_threshold for w in windows),
        )
        with self._lock:
            self._counters.batches_created += 1
        evicted = self._outbox.evict(set(self._inflight.values()))
        if evicted:
            log.warning("device %s: outbox full, evicted %d batches", self.device_id, len(evicted))

    def _pump(self) -> None:
        if not self._connected:
            return
        free = self._max_inflight - len(self._inflight)
        if free <= 0:
            return
        for p in self._outbox.pending(free, set(self._inflight.values())):
            token = self._transport.publish(self.up_topic, p.payload, qos=1)
            self._inflight[token] = p.seq

    def _on_ack(self, token: int, ok: bool, reason: str) -> None:
        seq = self._inflight.pop(token, None)
        if seq is None:
            return  # e.g. the status message
        if ok:
            self._outbox.acked(seq)
            with self._lock:
                self._counters.batches_acked += 1
        else:
            with self._lock:
                self._counters.publish_refused += 1
            log.warning("device %s: broker refused batch %d: %s", self.device_id, seq, reason)

    def _release_flush_waiters(self) -> None:
        if not self._flush_waiters:
            return
        oldest = self._outbox.oldest_seq()
        keep = []
        for upto, waiter in self._flush_waiters:
            if oldest is None or oldest > upto:
                waiter.set()
            else:
                keep.append((upto, waiter))
        self._flush_waiters = keep
