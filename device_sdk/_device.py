"""The Device: the embeddable client. ``push`` samples in; batches reach the broker exactly as
promised (durably queued, published QoS1, dropped from the outbox only after the PUBACK).

Threads: the caller's thread only validates and copies samples into a bounded mailbox. One
worker thread owns all state — windows, kernels, offload decisions, batches, the outbox, the
clock estimate and the in-flight table — so nothing else needs a lock. The transport's thread
only posts events; the app's callbacks run on a callback thread of their own.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

import kernels
import protos
from device_sdk import _downlink as dl
from device_sdk._callbacks import CallbackRunner
from device_sdk._clock import Clock, WallClock, restamp
from device_sdk._config import BatchPolicy, Budget, OutboxLimits, SensorSpec
from device_sdk._edge import Edge
from device_sdk._encode import RAW, WindowRecord, encode_batch, encode_raw
from device_sdk._errors import CallbackError, ClosedError, ConfigError, WorkerError
from device_sdk._health import build_health
from device_sdk._mailbox import Event, Mailbox
from device_sdk._mqtt import MqttOptions, MqttTransport
from device_sdk._outbox import ClockMark, Eviction, Outbox
from device_sdk._rawcache import RawEntry
from device_sdk._transport import Transport
from device_sdk._windows import NS

log = logging.getLogger(__name__)

Overflow = Literal["block", "drop"]
OnCommand = Callable[[protos.Command, protos.CommandAck], object]
OnPolicy = Callable[[dl.DevicePolicy], object]

_MAX_DOWNLINK_QUEUED = 256  # downlink messages waiting for the worker (drop-newest, counted)
_MAX_ACKS_PER_BATCH = 64
_RECENT_COMMANDS = 256  # command ids remembered, so a redelivered command is not applied twice
_MAX_RESEND_WINDOWS = 4096  # raw windows one SendRaw may send


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
    commands_ok: int = 0
    commands_nacked: int = 0
    commands_duplicate: int = 0
    downlink_dropped: int = 0
    heartbeats: int = 0
    raw_windows_resent: int = 0
    batches_restamped: int = 0


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
        if not self._mb.put_message(("message", topic, payload), _MAX_DOWNLINK_QUEUED):
            self._mb.put_control(("downlink_dropped",))


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
        on_command: OnCommand | None = None,
        on_policy: OnPolicy | None = None,
    ) -> None:
        try:
            self.up_topic = protos.topic_for(tenant, device_id, "up")
            self.down_topic = protos.topic_for(tenant, device_id, "down")
            self.status_topic = protos.topic_for(tenant, device_id, "status")
        except protos.TopicError as exc:
            raise ConfigError(str(exc)) from exc
        if overflow not in ("block", "drop"):
            raise ConfigError(f"overflow must be 'block' or 'drop', not {overflow!r}")
        if not heartbeat_s > 0:
            raise ConfigError(f"heartbeat_s must be > 0, got {heartbeat_s}")
        if transport is None:
            if broker_url is None:
                raise ConfigError("give broker_url or transport")
            transport = MqttTransport(broker_url, mqtt)
        self.device_id, self.tenant = device_id, tenant
        self._batch_policy = batch
        self._overflow: Overflow = overflow
        self._push_timeout = push_timeout
        self._max_inflight = max_inflight
        self._heartbeat_s = heartbeat_s
        self._firmware = firmware
        self._grace_ns = round(clock_sync_grace_s * NS)
        self._on_command, self._on_policy = on_command, on_policy
        self._outbox = Outbox(
            Path(data_dir), max_bytes=outbox.max_bytes, raw_cache_bytes=outbox.raw_cache_bytes
        )
        self._transport = transport
        self._mailbox = Mailbox(max_pending_chunks)
        self._specs: dict[str, SensorSpec] = {}
        self._counters = _Counters()
        self._lock = threading.Lock()  # guards _specs and counter snapshots
        self._closed = False
        self._error: BaseException | None = None
        self._callbacks = (
            CallbackRunner(f"device-{device_id}-callbacks") if on_command or on_policy else None
        )
        # worker-owned state
        self._clock = Clock(wall_clock)
        self._clock_view = (False, 0)  # (synced, rtc error ns), published for stats()
        self._edge = Edge(
            policy=offload_policy or kernels.OffloadPolicy(),
            budget=budget,
            seed=zlib.crc32(f"{tenant}/{device_id}".encode()),
            mono=self._clock.mono_ns,
        )
        self._battery: float | None = None
        self._connected = False
        self._connected_at = 0
        self._inflight: dict[int, int] = {}  # transport token -> seq
        self._current: list[WindowRecord] = []
        self._current_raw: list[RawEntry] = []
        self._current_bytes = 0
        self._acks: list[protos.CommandAck] = []
        self._recent: OrderedDict[str, protos.CommandAck] = OrderedDict()
        self._opened_at = 0.0
        self._next_heartbeat = time.monotonic() + heartbeat_s
        self._hb_cpu = (0, 0)  # (cpu ns, windows) at the last heartbeat
        self._flush_waiters: list[tuple[int, threading.Event]] = []
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
        """Queue samples of ``sensor`` taken from ``t0``; never waits on the network.

        ``samples`` is (n,) for a one-channel sensor or (n, channels). ``t0`` (Unix seconds) is
        the time of the first sample on a clock the app trusts; leave it ``None`` to let the SDK
        time the stream (monotonic clock, corrected to the cloud's wall clock) — a chunk without
        ``t0`` continues the stream, the first one is taken to end now.
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
            out: dict[str, Any] = {
                f.name: getattr(self._counters, f.name) for f in fields(_Counters)
            }
        synced, rtc_error = self._clock_view
        cb = self._callbacks
        out.update(
            outbox_depth=self._outbox.depth,
            outbox_bytes=self._outbox.nbytes,
            outbox_evicted_batches=self._outbox.evicted_batches,
            outbox_raw_dropped=self._outbox.raw_dropped,
            outbox_corrupt_rows=self._outbox.corrupt_rows,
            next_seq=self._outbox.next_seq,
            first_seq_at_open=self._outbox.first_seq_at_open,
            inflight=len(self._inflight),
            pending_chunks=self._mailbox.data_depth(),
            connected=self._connected,
            samples_discarded_gap=sum(
                s.windower.discarded for s in list(self._edge.states.values())
            ),
            clock_synced=synced,
            clock_offset_ns=rtc_error,
            raw_cache_bytes=self._outbox.raw_cache.nbytes,
            raw_cache_windows=self._outbox.raw_cache.count,
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
            self._mailbox.put_control(("close",))
            self._worker.join(timeout=10)
            self._transport.stop(final_topic=self.status_topic, final_payload=protos.STATUS_OFFLINE)
            self._outbox.close()
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
        try:
            while True:
                ev = self._mailbox.get(timeout=self._wait_s())
                if ev is not None and not self._handle(ev):
                    return
                now = time.monotonic()
                if now >= self._next_heartbeat:
                    self._heartbeat(now)
                if self._batch_open() and now - self._opened_at >= self._batch_policy.max_age_s:
                    self._close_batch()
                self._pump()
                self._release_flush_waiters()
        except BaseException as exc:
            log.exception("device %s worker failed", self.device_id)
            self._error = exc
            for _, waiter in self._flush_waiters:
                waiter.set()

    def _batch_open(self) -> bool:
        return bool(self._current or self._acks)

    def _wait_s(self) -> float:
        now = time.monotonic()
        wake = self._next_heartbeat
        if self._batch_open():
            wake = min(wake, self._opened_at + self._batch_policy.max_age_s)
        if self._holding():
            wake = min(wake, now + 0.1)
        return min(0.5, max(0.0, wake - now))

    def _handle(self, ev: Event) -> bool:
        kind = ev[0]
        if kind == "samples":
            self._process(ev[1], ev[2], ev[3])
        elif kind == "ack":
            self._on_ack(ev[1], ev[2], ev[3])
        elif kind == "connected":
            self._connected = True
            self._connected_at = self._clock.mono_ns()
            self._transport.subscribe(self.down_topic, qos=1)
            self._transport.publish(self.status_topic, protos.STATUS_ONLINE, qos=1, retain=True)
        elif kind == "disconnected":
            self._connected = False
        elif kind == "flush":
            self._close_batch()
            self._flush_waiters.append((self._outbox.next_seq - 1, ev[1]))
        elif kind == "battery":
            self._battery = self._edge.battery = ev[1]
        elif kind == "message":
            self._on_downlink(ev[1], ev[2])
        elif kind == "downlink_dropped":
            self._count(downlink_dropped=1)
        elif kind == "close":
            self._close_batch()
            return False
        return True

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, d in deltas.items():
                setattr(self._counters, name, getattr(self._counters, name) + d)

    def _process(self, sensor: str, samples: np.ndarray, t0_ns: int | None) -> None:
        self._count(samples_pushed=samples.shape[1])
        spec = self._specs[sensor]
        for p in self._edge.process(spec, samples, t0_ns):
            rec = p.record
            self._count(
                windows=1,
                windows_raw=rec.offload == RAW,
                windows_both=rec.offload == kernels.BOTH,
                cpu_ns_windows=p.cpu_ns,
            )
            raw = None
            if self._outbox.raw_cache.max_bytes > 0:
                raw = RawEntry(
                    rec.sensor,
                    rec.t0_ns,
                    rec.sdk_timed,
                    rec.rate_hz,
                    rec.channels,
                    rec.n_samples,
                    p.samples.astype("<f4", copy=False).tobytes(),
                )
            self._add_window(rec, raw)

    def _add_window(self, rec: WindowRecord, raw: RawEntry | None = None) -> None:
        if not self._batch_open():
            self._opened_at = time.monotonic()
        self._current.append(rec)
        if raw is not None:
            self._current_raw.append(raw)
        self._current_bytes += rec.features.nbytes + (len(rec.raw) if rec.raw else 0) + 48
        bp = self._batch_policy
        if len(self._current) >= bp.max_windows or self._current_bytes >= bp.max_bytes:
            self._close_batch()

    def _close_batch(self, health: protos.Health | None = None) -> None:
        if not self._batch_open() and health is None:
            return
        windows, raw, acks = self._current, self._current_raw, self._acks
        self._current, self._current_raw, self._acks, self._current_bytes = [], [], [], 0
        has_raw = any(w.raw is not None for w in windows)
        synced = self._clock.synced
        offset = self._clock.offset_ns()
        sent_at = self._clock.mono_ns() + offset

        def build(seq: int, evs: list[Eviction]) -> tuple[bytes, bytes | None]:
            args: dict[str, Any] = dict(
                tenant=self.tenant,
                device_id=self.device_id,
                seq=seq,
                sent_at_ns=sent_at,
                windows=windows,
                evictions=evs,
                offset_ns=offset,
                clock_synced=synced,
                health=health,
                acks=acks,
            )
            full = encode_batch(**args)
            return full, (encode_batch(**args, features_only=True) if has_raw else None)

        mark = None
        if not synced:
            indices = tuple(i for i, w in enumerate(windows) if w.sdk_timed)
            mark = ClockMark(self._clock.boot, offset, indices)
        novelty = [w.novelty for w in windows]
        self._outbox.append(
            build,
            priority=max(novelty, default=0.0),
            anomaly=any(n >= self._edge.policy.novelty_threshold for n in novelty),
            clock=mark,
            raw=raw,
            raw_offset_ns=offset,
        )
        self._count(batches_created=1)
        evicted = self._outbox.evict(set(self._inflight.values()))
        if evicted:
            log.warning("device %s: outbox full, evicted %d batches", self.device_id, len(evicted))

    def _holding(self) -> bool:
        """Batches wait for the cloud's clock while the RTC is known wrong (up to the grace)."""
        return (
            self._connected
            and not self._clock.synced
            and self._clock.mono_ns() - self._connected_at < self._grace_ns
            and not self._clock.rtc_plausible()
        )

    def _pump(self) -> None:
        if not self._connected or self._holding():
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
            self._count(batches_acked=1)
        else:
            self._count(publish_refused=1)
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

    def _heartbeat(self, now: float) -> None:
        self._next_heartbeat = max(self._next_heartbeat + self._heartbeat_s, now)
        c = self._counters
        cpu, n = c.cpu_ns_windows - self._hb_cpu[0], c.windows - self._hb_cpu[1]
        self._hb_cpu = (c.cpu_ns_windows, c.windows)
        health = build_health(
            self.stats(),
            battery=self._battery,
            firmware=self._firmware,
            cpu_us_per_window=cpu / n / 1000 if n > 0 else 0.0,
        )
        self._count(heartbeats=1)
        self._close_batch(health)

    # -- downlink ----------------------------------------------------------------------------

    def _on_downlink(self, topic: str, payload: bytes) -> None:
        cmd: protos.Command | None = None
        try:
            if topic != self.down_topic:
                raise dl.Rejected(f"not this device's down topic: {topic}")
            cmd = dl.decode(payload)
            self._observe_clock(cmd.issued_at_ns)
            kind = dl.body(cmd)
            seen = self._recent.get(cmd.id)
            if seen is not None:  # a redelivery: answer again, apply once
                self._count(commands_duplicate=1)
                self._ack(cmd, seen.ok, seen.reason)
                return
            self._apply(cmd, kind)
        except dl.Rejected as exc:
            log.warning("device %s: command refused: %s", self.device_id, exc.reason)
            self._ack(cmd, False, exc.reason)
        else:
            self._ack(cmd, True, "")
            if kind == "flush":
                self._close_batch()

    def _ack(self, cmd: protos.Command | None, ok: bool, reason: str) -> None:
        ack = protos.CommandAck(
            id=cmd.id if cmd else "", ok=ok, reason=reason, device_time_ns=self._clock.wall_ns()
        )
        self._count(commands_ok=ok, commands_nacked=not ok)
        if cmd is not None and cmd.id:
            self._recent[cmd.id] = ack
            while len(self._recent) > _RECENT_COMMANDS:
                self._recent.popitem(last=False)
        if not self._batch_open():
            self._opened_at = time.monotonic()
        self._acks.append(ack)
        if len(self._acks) >= _MAX_ACKS_PER_BATCH:
            self._close_batch()
        if self._callbacks is not None and self._on_command is not None and cmd is not None:
            self._callbacks.submit(self._on_command, cmd, ack)

    def _observe_clock(self, issued_at_ns: int) -> None:
        first = not self._clock.synced
        self._clock.observe(issued_at_ns)
        if first and self._clock.synced:
            n = self._outbox.restamp(self._clock.boot, self._clock.offset_ns(), self._restamp)
            self._count(batches_restamped=n)
            log.info("device %s: clock synced; re-stamped %d batches", self.device_id, n)
        self._clock_view = (self._clock.synced, self._clock.rtc_error_ns())

    @staticmethod
    def _restamp(payload: bytes, delta: int, indices: Any) -> bytes:
        return restamp(payload, delta, indices, synced=True)

    def _apply(self, cmd: protos.Command, kind: str) -> None:
        if kind == "policy":
            self._apply_policy(cmd.policy)
        elif kind == "reset_counters":
            with self._lock:
                self._counters = _Counters()
            self._outbox.evicted_batches = self._outbox.raw_dropped = 0
            self._outbox.corrupt_rows = 0
            self._hb_cpu = (0, 0)
            for st in self._edge.states.values():
                st.windower.discarded = 0
        elif kind == "send_raw":
            self._send_raw(cmd.send_raw)
        # "flush" is applied after its ack (so the ack travels in the flushed batch);
        # "time_sync" carries only issued_at_ns, already observed.

    def _apply_policy(self, p: protos.Policy) -> None:
        new = dl.apply_policy(p, self._edge.policy, self._edge.budget)
        if new.window is not None:
            with self._lock:
                specs = {n: self._edge.resize(s, new.window) for n, s in self._specs.items()}
                self._specs.update(specs)
            for spec in specs.values():
                self._edge.set_window(spec)
        self._edge.policy = new.offload
        self._edge.set_budget(new.budget)
        if self._callbacks is not None and self._on_policy is not None:
            self._callbacks.submit(self._on_policy, new)

    def _send_raw(self, s: protos.SendRaw) -> None:
        dl.check_send_raw(s, set(self._specs))
        held = self._outbox.raw_cache.query(s.sensor, s.start_ns, s.end_ns, _MAX_RESEND_WINDOWS)
        if not held:
            raise dl.Rejected(f"no raw windows held for [{s.start_ns}, {s.end_ns})")
        empty = np.empty(0, dtype=np.float32)
        for e in held:
            data = np.frombuffer(e.data, dtype="<f4").reshape(e.channels, e.n_samples)
            rec = WindowRecord(
                e.sensor, e.t0_ns, e.rate_hz, e.channels, e.n_samples, empty,
                encode_raw(data), RAW, 0.0, resent=True,
            )  # fmt: skip
            self._add_window(rec)
        self._count(raw_windows_resent=len(held))
