"""The device engine: everything a device does between its sensors and its transport, no threads.

One caller drives it — the threaded :class:`~device_sdk.Device`'s worker, or a simulator in
virtual time — by handing it events (:mod:`device_sdk._events`) and calling :meth:`Engine.tick`.
It owns the windows, kernels and offload decisions (:class:`~device_sdk._edge.Edge`), the open
batch, the outbox, the clock estimate and the delivery state (in flight, awaiting the cloud's
confirmation, backing off: :mod:`device_sdk._delivery`). Time comes only from the injected
:class:`~device_sdk.Clock` (its monotonic source), so a virtual clock makes a run reproducible.

``stats()`` and ``add_sensor()`` may be called from other threads (a lock guards the sensor table
and the counters); everything else belongs to the driving thread.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np

import kernels
import protos
from device_sdk import _downlink as dl
from device_sdk._callbacks import CallbackRunner
from device_sdk._clock import Clock, restamp
from device_sdk._config import BatchPolicy, Budget, SensorSpec
from device_sdk._delivery import Confirm, Delivery, Done
from device_sdk._edge import Decider, Edge
from device_sdk._encode import RAW, SKIP, WindowRecord, encode_batch, encode_raw
from device_sdk._errors import ConfigError
from device_sdk._events import (
    Battery,
    Close,
    Connected,
    Disconnected,
    DownlinkDropped,
    Event,
    Flush,
    Message,
    PubAck,
    Samples,
)
from device_sdk._health import build_health
from device_sdk._outbox import ClockMark, Eviction, Outbox
from device_sdk._rawcache import RawEntry
from device_sdk._synergy import Synergy, SynergyConfig
from device_sdk._transport import Transport, publish_size
from device_sdk._windows import NS

log = logging.getLogger(__name__)

OnCommand = Callable[[protos.Command, protos.CommandAck], object]
OnPolicy = Callable[[dl.DevicePolicy], object]
Uplink = Literal["windows", "synergy"]

_MAX_ACKS_PER_BATCH = 64
#: The share of its rate the budget's bucket refills at below the synergy uplink's low_battery.
LOW_BATTERY_REFILL = 0.5
#: What a heartbeat with the summaries of a few sensors costs on the wire, about (bytes), and
#: what a synergy device keeps in its budget for the first window of an episode beyond it.
HEARTBEAT_COST = 400
URGENT_RESERVE = 300
_RECENT_COMMANDS = 256  # command ids remembered, so a redelivered command is not applied twice
_MAX_RESEND_WINDOWS = 4096  # raw windows one SendRaw may send
_MAX_SPANS = 4096  # seq ranges taken from one Stored confirmation


@dataclass
class Counters:
    samples_pushed: int = 0
    samples_dropped_overflow: int = 0
    windows: int = 0
    windows_raw: int = 0
    windows_both: int = 0
    windows_skipped: int = 0
    batches_created: int = 0
    batches_acked: int = 0
    batches_republished: int = 0
    batches_rejected: int = 0
    batches_refused: int = 0
    publish_refused: int = 0
    publish_errors: int = 0
    confirmations: int = 0
    cpu_ns_windows: int = 0
    commands_ok: int = 0
    commands_nacked: int = 0
    commands_duplicate: int = 0
    downlink_dropped: int = 0
    heartbeats: int = 0
    heartbeats_deferred: int = 0
    raw_windows_resent: int = 0
    batches_restamped: int = 0


@dataclass(frozen=True, slots=True)
class Topics:
    up: str
    down: str
    status: str

    @classmethod
    def of(cls, tenant: str, device_id: str) -> Topics:
        """The device's topics; raises :class:`~device_sdk.ConfigError` on a bad identity."""
        try:
            return cls(*(protos.topic_for(tenant, device_id, k) for k in ("up", "down", "status")))
        except protos.TopicError as exc:
            raise ConfigError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The engine's settings (the :class:`~device_sdk.Device` parameters of the same names)."""

    batch: BatchPolicy = BatchPolicy()
    budget: Budget = Budget()
    offload_policy: kernels.OffloadPolicy | None = None
    max_inflight: int = 16
    heartbeat_s: float = 30.0
    firmware: str = ""
    clock_sync_grace_s: float = 10.0
    confirm: Confirm = "stored"
    confirm_timeout_s: float = 30.0
    #: "windows": every window's features go up (RAW when novel, as the offload policy and the
    #: budget allow). "synergy": ordinary windows are summarised, unusual ones go RAW or
    #: COMPACT, and the budget is a hard limit on every publish (see device_sdk/_synergy.py).
    uplink: Uplink = "windows"
    synergy: SynergyConfig = SynergyConfig()


class Engine:
    def __init__(
        self,
        device_id: str,
        *,
        tenant: str,
        outbox: Outbox,
        transport: Transport,
        clock: Clock,
        config: EngineConfig = EngineConfig(),
        callbacks: CallbackRunner | None = None,
        on_command: OnCommand | None = None,
        on_policy: OnPolicy | None = None,
        decider: Decider | None = None,
    ) -> None:
        if not config.heartbeat_s > 0:
            raise ConfigError(f"heartbeat_s must be > 0, got {config.heartbeat_s}")
        if config.uplink not in ("windows", "synergy"):
            raise ConfigError(f"uplink must be 'windows' or 'synergy', not {config.uplink!r}")
        self.device_id, self.tenant = device_id, tenant
        self.topics = Topics.of(tenant, device_id)
        self.outbox = outbox
        self.transport = transport
        self.clock = clock
        self.config = config
        self._heartbeat_ns = round(config.heartbeat_s * NS)
        #: the version of the cloud's policy this device runs (reported in its health)
        self.policy_version = 0
        self._max_age_ns = round(config.batch.max_age_s * NS)
        self._grace_ns = round(config.clock_sync_grace_s * NS)
        self._callbacks = callbacks
        self._on_command, self._on_policy = on_command, on_policy
        self._lock = threading.Lock()  # guards specs and counter snapshots
        self.specs: dict[str, SensorSpec] = {}
        self.counters = Counters()
        self.clock_view = (False, 0)  # (synced, rtc error ns), published for stats()
        self.edge = Edge(
            policy=config.offload_policy or kernels.OffloadPolicy(),
            budget=config.budget,
            seed=zlib.crc32(f"{tenant}/{device_id}".encode()),
            mono=clock.mono_ns,
            decider=decider,
        )
        self.battery: float | None = None
        # the synergy uplink: its decisions, and the budget that every publish pays
        self.bucket = kernels.TokenBucket(config.budget.bytes_per_s, config.budget.burst_bytes)
        self._bucket_at = clock.mono_ns()
        self._unpaid = 0  # bytes appended to the outbox and not published yet
        self._summaries: list[tuple[protos.Summary, bool]] = []  # (summary, SDK-timed)
        self.synergy: Synergy | None = None
        if config.uplink == "synergy":
            self.synergy = Synergy(
                config.synergy,
                seed=zlib.crc32(f"{tenant}/{device_id}".encode()),
                available=self._available,
                capacity=lambda: self.bucket.capacity,
                battery=lambda: 1.0 if self.battery is None else self.battery,
            )
            self.edge.feature_set = tuple(config.synergy.feature_set)
            if decider is None:
                self.edge.decider = self.synergy.decide
        self.connected = False
        self._connected_at = 0
        self.delivery = Delivery(confirm=config.confirm, confirm_timeout_s=config.confirm_timeout_s)
        self.inflight = self.delivery.inflight  # transport token -> seq
        self._current: list[WindowRecord] = []
        self._current_raw: list[RawEntry] = []
        self._current_bytes = 0
        self._acks: list[protos.CommandAck] = []
        self._recent: OrderedDict[str, protos.CommandAck] = OrderedDict()
        self._opened_at = 0
        self._next_heartbeat = clock.mono_ns() + self._heartbeat_ns
        self._hb_cpu = (0, 0)  # (cpu ns, windows) at the last heartbeat
        self._flush_waiters: list[tuple[int, Callable[[], object]]] = []

    # -- called from any thread --------------------------------------------------------------

    def add_sensor(self, spec: SensorSpec) -> SensorSpec:
        with self._lock:
            if spec.name in self.specs:
                raise ConfigError(f"sensor {spec.name!r} already added")
            self.specs[spec.name] = spec
        return spec

    def spec(self, sensor: str) -> SensorSpec | None:
        with self._lock:
            return self.specs.get(sensor)

    def count(self, **deltas: int) -> None:
        with self._lock:
            for name, d in deltas.items():
                setattr(self.counters, name, getattr(self.counters, name) + d)

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters and queue depths."""
        with self._lock:
            out: dict[str, Any] = {f.name: getattr(self.counters, f.name) for f in fields(Counters)}
        synced, rtc_error = self.clock_view
        ob = self.outbox
        out.update(
            outbox_depth=ob.depth,
            outbox_bytes=ob.nbytes,
            outbox_evicted_batches=ob.evicted_batches,
            outbox_raw_dropped=ob.raw_dropped,
            outbox_corrupt_rows=ob.corrupt_rows,
            next_seq=ob.next_seq,
            first_seq_at_open=ob.first_seq_at_open,
            inflight=len(self.inflight),
            connected=self.connected,
            samples_discarded_gap=sum(
                s.windower.discarded for s in list(self.edge.states.values())
            ),
            clock_synced=synced,
            clock_offset_ns=rtc_error,
            raw_cache_bytes=ob.raw_cache.nbytes,
            raw_cache_windows=ob.raw_cache.count,
            policy_version=self.policy_version,
            novelty_threshold=(
                self.synergy.config.novelty_threshold
                if self.synergy is not None
                else self.edge.policy.novelty_threshold
            ),
            heartbeat_s=self._heartbeat_ns / NS,
        )
        return out

    # -- the driving thread ------------------------------------------------------------------

    def handle(self, ev: Event) -> bool:
        """Apply one event; False once the engine was asked to close."""
        if isinstance(ev, Samples):
            self._process(ev.sensor, ev.data, ev.t0_ns)
        elif isinstance(ev, PubAck):
            self._on_ack(ev.token, ev.ok, ev.reason)
        elif isinstance(ev, Connected):
            self.connected = True
            self._connected_at = self.clock.mono_ns()
            self.delivery.reconnected(self._connected_at)
            self.transport.subscribe(self.topics.down, qos=1)
            self.transport.publish(self.topics.status, protos.STATUS_ONLINE, qos=1, retain=True)
        elif isinstance(ev, Disconnected):
            self.connected = False
        elif isinstance(ev, Flush):
            self.close_batch()
            self._flush_waiters.append((self.outbox.next_seq - 1, ev.done))
        elif isinstance(ev, Battery):
            self.battery = self.edge.battery = ev.level
        elif isinstance(ev, Message):
            self._on_downlink(ev.topic, ev.payload)
        elif isinstance(ev, DownlinkDropped):
            self.count(downlink_dropped=1)
        elif isinstance(ev, Close):
            self.close_batch()
            return False
        return True

    def tick(self) -> None:
        """Do what is due: a heartbeat, closing an old batch, publishing, releasing flushes."""
        now = self.clock.mono_ns()
        if now >= self._next_heartbeat:
            self._heartbeat(now)
        if self._batch_open() and now - self._opened_at >= self._max_age_ns:
            self.close_batch()
        self._pump()
        self._release_flush_waiters()

    def wake_in_s(self) -> float:
        """Seconds until :meth:`tick` has something timed to do (at most 0.5)."""
        now = self.clock.mono_ns()
        wake = self._next_heartbeat
        if self._batch_open():
            wake = min(wake, self._opened_at + self._max_age_ns)
        if self._holding():
            wake = min(wake, now + NS // 10)
        return min(0.5, max(0.0, (wake - now) / NS))

    def fail(self) -> None:
        """The driver failed: wake everyone waiting for a flush."""
        for _, done in self._flush_waiters:
            done()
        self._flush_waiters = []

    # -- windows and batches -----------------------------------------------------------------

    def _batch_open(self) -> bool:
        return bool(self._current or self._acks or self._summaries)

    def _process(self, sensor: str, samples: np.ndarray, t0_ns: int | None) -> None:
        self.count(samples_pushed=samples.shape[1])
        spec = self.specs[sensor]
        for p in self.edge.process(spec, samples, t0_ns):
            rec = p.record
            self.count(
                windows=1,
                windows_raw=rec.offload == RAW,
                windows_both=rec.offload == kernels.BOTH,
                windows_skipped=rec.offload == SKIP,
                cpu_ns_windows=p.cpu_ns,
            )
            raw = None
            if self.outbox.raw_cache.max_bytes > 0:
                raw = RawEntry(
                    rec.sensor,
                    rec.t0_ns,
                    rec.sdk_timed,
                    rec.rate_hz,
                    rec.channels,
                    rec.n_samples,
                    p.samples.astype("<f4", copy=False).tobytes(),
                )
            if rec.offload == SKIP:  # not sent; its samples ride into the cache with the next batch
                if raw is not None:
                    self._current_raw.append(raw)
                continue
            self._add_window(rec, raw)
            if p.urgent:
                self.close_batch()
                self._pump()
        self._take_runs()

    def _take_runs(self) -> None:
        if self.synergy is not None and self.synergy.ready:
            runs, self.synergy.ready = self.synergy.ready, []
            for rec in runs:
                self._add_window(rec)

    def _open_batch(self) -> None:
        if not self._batch_open():
            self._opened_at = self.clock.mono_ns()

    def _add_window(self, rec: WindowRecord, raw: RawEntry | None = None) -> None:
        self._open_batch()
        self._current.append(rec)
        if raw is not None:
            self._current_raw.append(raw)
        self._current_bytes += rec.features.nbytes + (len(rec.raw) if rec.raw else 0) + 48
        bp = self.config.batch
        if len(self._current) >= bp.max_windows or self._current_bytes >= bp.max_bytes:
            self.close_batch()

    def close_batch(self, health: protos.Health | None = None) -> None:
        """Encode the open batch (with ``health``, if given) into the outbox."""
        if not self._batch_open() and health is None:
            return
        offset = self.clock.offset_ns()
        windows, raw, acks = self._current, self._current_raw, self._acks
        timed = [t for _, t in self._summaries]
        summaries = [_shifted(sm, offset if t else 0) for sm, t in self._summaries]
        self._current, self._current_raw, self._acks, self._current_bytes = [], [], [], 0
        self._summaries = []
        has_raw = any(w.raw is not None for w in windows)
        synced = self.clock.synced
        sent_at = self.clock.mono_ns() + offset

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
                summaries=summaries,
            )
            full = encode_batch(**args)
            return full, (encode_batch(**args, features_only=True) if has_raw else None)

        mark = None
        if not synced:
            indices = tuple(i for i, w in enumerate(windows) if w.sdk_timed)
            indices += tuple(-1 - i for i, t in enumerate(timed) if t)
            mark = ClockMark(self.clock.boot, offset, indices)
        novelty = [w.novelty for w in windows]
        before = self.outbox.nbytes
        self.outbox.append(
            build,
            priority=max(novelty, default=0.0),
            anomaly=any(n >= self.edge.policy.novelty_threshold for n in novelty),
            clock=mark,
            raw=raw,
            raw_offset_ns=offset,
        )
        self._unpaid += self.outbox.nbytes - before
        self.count(batches_created=1)
        evicted = self.outbox.evict(set(self.inflight.values()), self.delivery.awaiting())
        self._unpaid = min(self._unpaid, self.outbox.nbytes)
        if evicted:
            self.delivery.forget([e.first for e in evicted])
            log.warning("device %s: outbox full, evicted %d batches", self.device_id, len(evicted))

    # -- publishing --------------------------------------------------------------------------

    def _holding(self) -> bool:
        """Batches wait for the cloud's clock while the RTC is known wrong (up to the grace)."""
        return (
            self.connected
            and not self.clock.synced
            and self.clock.mono_ns() - self._connected_at < self._grace_ns
            and not self.clock.rtc_plausible()
        )

    def _pump(self) -> None:
        if not self.connected or self._holding():
            return
        free = self.config.max_inflight - len(self.inflight)
        if free <= 0:
            return
        now = self.clock.mono_ns()
        hurry = bool(self._flush_waiters)
        fresh = self.outbox.depth > len(self.delivery)  # some batch never went out
        if not fresh and not self.delivery.due(now, hurry=hurry):
            return  # everything queued is in flight, awaiting confirmation or backing off
        held = self.delivery.held(now, hurry=hurry)
        for p in self.outbox.pending(free, held):
            if self.synergy is not None:  # the budget is a hard limit: pay first, or wait
                cost = publish_size(self.topics.up, len(p.payload))
                if self._tokens(now) < cost:
                    return
                self.bucket.spend(cost)
            try:
                token = self.transport.publish(self.topics.up, p.payload, qos=1)
            except (OSError, ValueError) as exc:  # the client's refusal: back off this batch
                self.count(publish_errors=1)
                log.warning("device %s: publishing batch %d failed: %s", self.device_id, p.seq, exc)
                self._done(self.delivery.publish_failed(p.seq, f"publish error: {exc}", now))
                continue
            if self.delivery.published(p.seq, token):
                self.count(batches_republished=1)
            else:
                self._unpaid = max(0, self._unpaid - len(p.payload))

    def _tokens(self, now: int) -> float:
        self.bucket.advance(max(0, now - self._bucket_at) / NS * self._refill_share())
        self._bucket_at = now
        return self.bucket.level

    def _refill_share(self) -> float:
        """Below the synergy uplink's ``low_battery`` the bucket refills at half its rate."""
        syn = self.synergy
        low = syn is not None and self.battery is not None and self.battery < syn.config.low_battery
        return LOW_BATTERY_REFILL if low else 1.0

    def _available(self) -> float:
        """Budget bytes not yet promised: the bucket less what waits to be published."""
        return self._tokens(self.clock.mono_ns()) - self._unpaid - self._current_bytes

    def _on_ack(self, token: int, ok: bool, reason: str) -> None:
        done = self.delivery.puback(token, ok, reason, self.clock.mono_ns())
        if done is None:
            return  # e.g. the status message
        if not ok:
            self.count(publish_refused=1)
            log.warning("device %s: broker refused batch %d: %s", self.device_id, done.seq, reason)
        self._done(done)

    def _done(self, done: Done) -> None:
        if done.what == "acked":
            self.outbox.acked(done.seq)
            self.count(batches_acked=1)
        elif done.what == "refused":
            self.outbox.evict_one(done.seq, "refused")
            self.count(batches_refused=1)
            log.error(
                "device %s: batch %d refused for good (%s); evicted and reported",
                self.device_id,
                done.seq,
                done.reason,
            )

    def _on_stored(self, st: protos.Stored) -> None:
        """The cloud's end-to-end acknowledgement: forget what it holds (one transaction)."""
        stored = [(s.first, s.last) for s in st.stored[:_MAX_SPANS]]
        rejected = [(s.first, s.last) for s in st.rejected[:_MAX_SPANS]]
        gone = self.outbox.confirm(stored + rejected)
        self.delivery.confirmed(stored + rejected, self.clock.mono_ns())
        n_rej = sum(1 for s in gone if any(a <= s <= b for a, b in rejected))
        self.count(
            confirmations=1,
            batches_acked=len(gone) - n_rej,
            batches_rejected=n_rej,
        )
        if n_rej:
            log.error("device %s: the cloud refused %d batches", self.device_id, n_rej)

    def _release_flush_waiters(self) -> None:
        if not self._flush_waiters:
            return
        oldest = self.outbox.oldest_seq()
        keep = []
        for upto, done in self._flush_waiters:
            if oldest is None or oldest > upto:
                done()
            else:
                keep.append((upto, done))
        self._flush_waiters = keep

    def _heartbeat(self, now: int) -> None:
        self._next_heartbeat = max(self._next_heartbeat + self._heartbeat_ns, now)
        if self.synergy is not None and self._available() < HEARTBEAT_COST + URGENT_RESERVE:
            # the budget cannot pay for it without delaying what matters: the next one will
            # carry the summaries (they keep counting) — unless the device is closing
            self.count(heartbeats_deferred=1)
            return
        c = self.counters
        cpu, n = c.cpu_ns_windows - self._hb_cpu[0], c.windows - self._hb_cpu[1]
        self._hb_cpu = (c.cpu_ns_windows, c.windows)
        health = build_health(
            self.stats(),
            battery=self.battery,
            firmware=self.config.firmware,
            cpu_us_per_window=cpu / n / 1000 if n > 0 else 0.0,
            policy_version=self.policy_version,
            uplink=self.config.uplink,
        )
        self.count(heartbeats=1)
        if self.synergy is not None:
            self.synergy.close_runs()
            self._take_runs()
            for sm in self.synergy.take_summaries():
                st = self.edge.states.get(sm.sensor)
                self._summaries.append((sm, bool(st and st.sdk_timed)))
        self.close_batch(health)

    # -- downlink ----------------------------------------------------------------------------

    def _on_downlink(self, topic: str, payload: bytes) -> None:
        cmd: protos.Command | None = None
        try:
            if topic != self.topics.down:
                raise dl.Rejected(f"not this device's down topic: {topic}")
            cmd = dl.decode(payload)
            if cmd.WhichOneof("body") == "stored":  # a confirmation: never answered
                self._on_stored(cmd.stored)
                return
            self._observe_clock(cmd.issued_at_ns)
            kind = dl.body(cmd)
            seen = self._recent.get(cmd.id)
            if seen is not None:  # a redelivery: answer again, apply once
                self.count(commands_duplicate=1)
                self._ack(cmd, seen.ok, seen.reason)
                return
            self._apply(cmd, kind)
        except dl.Rejected as exc:
            log.warning("device %s: command refused: %s", self.device_id, exc.reason)
            self._ack(cmd, False, exc.reason)
        else:
            self._ack(cmd, True, "")
            if kind == "flush":
                self.close_batch()

    def _ack(self, cmd: protos.Command | None, ok: bool, reason: str) -> None:
        ack = protos.CommandAck(
            id=cmd.id if cmd else "", ok=ok, reason=reason, device_time_ns=self.clock.wall_ns()
        )
        self.count(commands_ok=ok, commands_nacked=not ok)
        if cmd is not None and cmd.id:
            self._recent[cmd.id] = ack
            while len(self._recent) > _RECENT_COMMANDS:
                self._recent.popitem(last=False)
        self._open_batch()
        self._acks.append(ack)
        if len(self._acks) >= _MAX_ACKS_PER_BATCH:
            self.close_batch()
        if self._callbacks is not None and self._on_command is not None and cmd is not None:
            self._callbacks.submit(self._on_command, cmd, ack)

    def _observe_clock(self, issued_at_ns: int) -> None:
        first = not self.clock.synced
        self.clock.observe(issued_at_ns)
        if first and self.clock.synced:
            n = self.outbox.restamp(self.clock.boot, self.clock.offset_ns(), self._restamp)
            self.count(batches_restamped=n)
            log.info("device %s: clock synced; re-stamped %d batches", self.device_id, n)
        self.clock_view = (self.clock.synced, self.clock.rtc_error_ns())

    @staticmethod
    def _restamp(payload: bytes, delta: int, indices: Any) -> bytes:
        return restamp(payload, delta, indices, synced=True)

    def _apply(self, cmd: protos.Command, kind: str) -> None:
        if kind == "policy":
            self._apply_policy(cmd.policy)
        elif kind == "reset_counters":
            with self._lock:
                self.counters = Counters()
            self.outbox.evicted_batches = self.outbox.raw_dropped = 0
            self.outbox.corrupt_rows = 0
            self._hb_cpu = (0, 0)
            for st in self.edge.states.values():
                st.windower.discarded = 0
        elif kind == "send_raw":
            self._send_raw(cmd.send_raw)
        # "flush" is applied after its ack (so the ack travels in the flushed batch);
        # "time_sync" carries only issued_at_ns, already observed.

    def _apply_policy(self, p: protos.Policy) -> None:
        new = dl.apply_policy(p, self.edge.policy, self.edge.budget)
        if self.synergy is not None:
            cfg = self.synergy.config
            self.synergy.config = replace(
                cfg,
                novelty_threshold=(
                    new.offload.novelty_threshold if new.novelty_given else cfg.novelty_threshold
                ),
                raw_per_episode=(
                    cfg.raw_per_episode if new.raw_per_episode is None else new.raw_per_episode
                ),
            )
        if new.heartbeat_s is not None:
            self._heartbeat_ns = round(new.heartbeat_s * NS)
            self._next_heartbeat = min(
                self._next_heartbeat, self.clock.mono_ns() + self._heartbeat_ns
            )
        if new.version is not None:
            self.policy_version = new.version
        if new.window is not None:
            with self._lock:
                specs = {n: self.edge.resize(s, new.window) for n, s in self.specs.items()}
                self.specs.update(specs)
            for spec in specs.values():
                self.edge.set_window(spec)
        self.edge.policy = new.offload
        self.edge.set_budget(new.budget)
        b = new.budget
        if self.synergy is not None and (b.bytes_per_s, b.burst_bytes) != (
            self.bucket.rate,
            self.bucket.capacity,
        ):
            level = self._tokens(self.clock.mono_ns())  # what the old rate earned until now
            self.bucket = kernels.TokenBucket(
                b.bytes_per_s, b.burst_bytes, level=min(level, float(b.burst_bytes))
            )
        if self._callbacks is not None and self._on_policy is not None:
            self._callbacks.submit(self._on_policy, new)

    def _send_raw(self, s: protos.SendRaw) -> None:
        dl.check_send_raw(s, set(self.specs))
        held = self.outbox.raw_cache.query(s.sensor, s.start_ns, s.end_ns, _MAX_RESEND_WINDOWS)
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
        self.count(raw_windows_resent=len(held))


def _shifted(summary: protos.Summary, delta_ns: int) -> protos.Summary:
    """``summary`` with its times moved by ``delta_ns`` (monotonic -> wall time)."""
    if not delta_ns:
        return summary
    out = protos.Summary()
    out.CopyFrom(summary)
    out.t0_ns += delta_ns
    out.t1_ns += delta_ns
    return out
