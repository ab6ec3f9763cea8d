"""The cloud side of a simulation, in process: what the core does with what devices publish.

It decodes every batch, stores it once per (device, seq) (a redelivered batch is counted, not
stored twice) and confirms it to its device end to end — coalesced per device with the bridge's
own :class:`broker_bridge.Confirmations`, published QoS0 at every :meth:`SimCloud.flush` —
judges every window with the core's own :class:`cloud_core.Judge` and groups the
anomalous ones into alerts with :class:`cloud_core.AlertTracker` — the same code the core runs
on ingest — and answers a device that comes online with a TimeSync, as the core does. With a
:class:`cloud_core.PolicyEngineConfig` it closes the loop as the core does: every ``period_s``
of virtual time (:meth:`SimCloud.tick`) the policy engine reads what each device showed since
the last round and the changes go down as Policy commands, the same Command path as TimeSync.
Time is the simulation's virtual clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import DecodeError

import kernels
import protos
from broker_bridge import Confirmations
from cloud_core import (
    AlertTracker,
    DeviceRound,
    Evidence,
    Judge,
    JudgeConfig,
    PolicyChange,
    PolicyEngine,
    PolicyEngineConfig,
    RoundTally,
    policy_message,
)

_RAW_MODES = (int(protos.Offload.OFFLOAD_RAW), int(protos.Offload.OFFLOAD_BOTH))
_COMPACT = int(protos.Offload.OFFLOAD_COMPACT)

Downlink = Callable[[str, str, bytes, int], bool]  # (device, topic, payload, qos) -> delivered


@dataclass
class DeviceLedger:
    """What the cloud holds of one device."""

    seqs: set[int] = field(default_factory=set)
    duplicates: int = 0
    evicted: list[tuple[int, int, str]] = field(default_factory=list)
    windows: int = 0
    raw_windows: int = 0
    bytes_payload: int = 0
    last_health: protos.Health | None = None
    acks: int = 0
    last_t0: dict[str, int] = field(default_factory=dict)  # sensor -> latest window t0 (ns)
    summarised: int = 0  # windows the device's summaries stand for


class SimCloud:
    def __init__(
        self,
        *,
        now_ns: Callable[[], int],
        downlink: Downlink,
        judge: JudgeConfig | None = None,
        judging: bool = True,
        policy: PolicyEngineConfig | None = None,
        default_threshold: float = 4.0,
    ) -> None:
        self.judging = judging
        self._now = now_ns
        self._downlink = downlink
        self.judge = Judge(judge or JudgeConfig())
        self.tracker = AlertTracker(record=True)
        self.ledgers: dict[str, DeviceLedger] = {}
        #: (device, sensor, t0_ns) of every window whose samples reached the cloud
        self.evidence: set[tuple[str, str, int]] = set()
        self.undecodable = 0
        self._commands = 0
        self.confirmations = Confirmations()
        self.engine: PolicyEngine | None = None
        self.tally = RoundTally()
        #: (virtual ns, change) of every policy change sent, in order
        self.policy_log: list[tuple[int, PolicyChange]] = []
        #: (virtual ns, what the device showed) of every device in every round
        self.round_log: list[tuple[int, DeviceRound]] = []
        if policy is not None:
            self.engine = PolicyEngine(policy, default_threshold=default_threshold)
            self._next_round = now_ns() + round(policy.period_s * 1e9)

    def ledger(self, device: str) -> DeviceLedger:
        led = self.ledgers.get(device)
        if led is None:
            led = self.ledgers[device] = DeviceLedger()
        return led

    def receive(self, topic: str, payload: bytes) -> None:
        t = protos.parse_topic(topic)
        if t.kind == "status":
            if payload == protos.STATUS_ONLINE:
                self._time_sync(t.tenant, t.device_id)
            return
        batch = protos.TelemetryBatch()
        try:
            batch.ParseFromString(payload)
        except DecodeError:  # counted, as the bridge dead-letters it
            self.undecodable += 1
            return
        led = self.ledger(t.device_id)
        self.confirmations.add(t.tenant, t.device_id, batch.seq)
        if batch.seq in led.seqs:
            led.duplicates += 1
            return
        led.seqs.add(batch.seq)
        led.bytes_payload += len(payload)
        self.tally.add(batch, len(payload))
        led.evicted.extend((e.first, e.last, e.reason) for e in batch.evicted)
        led.acks += len(batch.acks)
        if batch.HasField("health"):
            led.last_health = batch.health
        for w in batch.windows:
            self._window(t.tenant, t.device_id, w, led)
        led.summarised += sum(sm.windows for sm in batch.summaries)

    def _window(self, tenant: str, device: str, w: protos.Window, led: DeviceLedger) -> None:
        led.windows += 1
        led.last_t0[w.sensor] = max(led.last_t0.get(w.sensor, w.t0_ns), w.t0_ns)
        samples = None
        if w.offload in _RAW_MODES:
            try:
                samples = kernels.decode_window(
                    int(w.raw.codec), w.raw.data, w.channels, w.n_samples
                )
            except kernels.KernelError:
                self.undecodable += 1
            else:
                led.raw_windows += 1
                self.evidence.add((device, w.sensor, w.t0_ns))
        if not self.judging:
            return
        if samples is not None:
            features: np.ndarray | None = np.concatenate(
                [kernels.window_features(ch, w.rate_hz) for ch in samples]
            )
        elif w.offload != _COMPACT and w.HasField("features") and len(w.features.values):
            features = np.asarray(w.features.values, dtype=np.float32)
        else:
            features = None
        key = (tenant, device, w.sensor)
        verdict = self.judge.judge(
            Evidence(key, w.t0_ns, w.rate_hz, w.n_samples, features, samples, w.novelty, w.flags)
        )
        length = round(w.n_samples * 1e9 / w.rate_hz)
        span = length * max(1, w.repeat)  # a COMPACT record may stand for a run of windows
        self.tracker.observe(key, w.t0_ns, span, verdict, self._now(), length)

    def flush(self) -> None:
        """Publish the coalesced stored confirmations (as the bridge does every 0.25 s)."""
        for topic, payload in self.confirmations.take():
            self._downlink(protos.parse_topic(topic).device_id, topic, payload, 0)

    def tick(self) -> list[PolicyChange]:
        """Run the policy engine's round when it is due; return the changes sent."""
        if self.engine is None or self._now() < self._next_round:
            return []
        period = round(self.engine.config.period_s * 1e9)
        while self._next_round <= self._now():
            self._next_round += period
        seen = [r for r in self.tally.take() if r.windows > 0]
        self.round_log.extend((self._now(), r) for r in seen)
        changes = self.engine.round(seen)
        for ch in changes:
            self.send_policy(ch)
        return changes

    def send_policy(self, change: PolicyChange) -> bool:
        """Send ``change`` to its device (QoS1); False when the device is offline."""
        self.policy_log.append((self._now(), change))
        cmd = protos.Command(policy=policy_message(change.fields, change.version))
        return self._command(change.tenant, change.device, "policy", cmd)

    def _time_sync(self, tenant: str, device: str) -> None:
        cmd = protos.Command()
        cmd.time_sync.SetInParent()
        self._command(tenant, device, "sync", cmd)

    def _command(self, tenant: str, device: str, kind: str, cmd: protos.Command) -> bool:
        self._commands += 1
        cmd.id, cmd.issued_at_ns = f"{kind}-{self._commands:010d}", self._now()
        topic = protos.topic_for(tenant, device, "down")
        return self._downlink(device, topic, cmd.SerializeToString(), 1)
