"""One simulated device in virtual time: its sensor models feed the real device engine.

:class:`SimNode` owns a :class:`device_sdk` engine, its outbox (a real SQLite outbox, without
fsyncs) and a :class:`CountingTransport` to the in-process cloud. ``advance(t)`` moves it to
virtual time ``t`` seconds: the samples its sensors produced since the last call are pushed (the
first chunk of a stream carries the device's wall-clock time, later ones continue it exactly),
the battery level and the network state are applied, and the engine ticks until nothing is left
to publish. Device faults act here: a reboot drops the engine without closing anything (what a
power cut does), the sensors' samples during the downtime are lost, and a new engine resumes
from the same outbox; a partition takes the network down; a clock skew shifts the wall clock the
device stamps new streams with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from binhai._sim._wire import CountingTransport
from device_sdk._clock import Clock
from device_sdk._config import SensorSpec
from device_sdk._edge import Choice, Decider, WindowView
from device_sdk._engine import Engine, EngineConfig
from device_sdk._events import Battery, Samples
from device_sdk._outbox import Outbox
from firmware_sim import PolicyParams, SensorInfo, SimDevice, make_decider

NS = 1_000_000_000
#: Virtual time 0 on the wall clock: 2026-01-01T00:00:00Z.
EPOCH_NS = 1_767_225_600 * NS
#: Monotonic clock reading when a device has just booted.
BOOT_UPTIME_NS = 20 * NS
_SCORED = ("event", "sensor_fault")  # label categories the scores count


@dataclass
class VirtualTime:
    t_ns: int = 0


@dataclass
class WindowLog:
    """Windows a device produced that overlap a true event: (sensor, t0_ns, mode)."""

    anomalous: list[tuple[str, int, int]] = field(default_factory=list)
    windows: int = 0


class SimNode:
    def __init__(
        self,
        dev: SimDevice,
        *,
        tenant: str,
        vt: VirtualTime,
        deliver: object,
        params: PolicyParams,
        config: EngineConfig,
        data_dir: Path,
    ) -> None:
        self.dev = dev
        self.tenant = tenant
        self.vt = vt
        self.params = params
        self.config = config
        self.data_dir = data_dir
        self.transport = CountingTransport(deliver)  # type: ignore[arg-type]
        self.log = WindowLog()
        self.boots = 0
        self.batches_created = 0
        self.queued_at_end = 0
        self._taken = {s.name: 0 for s in dev.sensors}
        self._labels = {
            s.name: [
                (lb.t_on, lb.t_off)
                for lb in dev.labels
                if lb.sensor == s.name and lb.category in _SCORED
            ]
            for s in dev.sensors
        }
        self._reboots = sorted((lb.t_on, lb.t_off) for lb in dev.labels if lb.kind == "reboot")
        self._down_until: float | None = None
        self._battery = -1.0
        self.engine: Engine | None = None
        self._boot(0.0)

    # -- lifecycle ---------------------------------------------------------------------------

    def _boot(self, t_s: float) -> None:
        self.boots += 1
        boot_ns = self.vt.t_ns
        skew_ns = round(self.dev.clock_skew_s(t_s) * NS)
        self._skew_ns = skew_ns
        clock = Clock(
            wall_clock=lambda: EPOCH_NS + self.vt.t_ns + skew_ns,
            mono=lambda: self.vt.t_ns - boot_ns + BOOT_UPTIME_NS,
        )
        clock.boot = f"{self.dev.device_id}/{self.boots}"
        outbox = Outbox(self.data_dir, max_bytes=64 << 20, raw_cache_bytes=0, durable=False)
        engine = Engine(
            self.dev.device_id,
            tenant=self.tenant,
            outbox=outbox,
            transport=self.transport,
            clock=clock,
            config=self.config,
        )
        policy = make_decider(self.params, device=self.dev.device_id, truth=self._truth)
        # the SDK's own decision: the synergy uplink's when the engine runs it
        engine.edge.decider = self._observed(policy or engine.edge.decider or engine.edge.budgeted)
        for s in self.dev.sensors:
            engine.add_sensor(SensorSpec(s.name, s.rate_hz, s.channels, s.window, s.window))
        self._fresh = {s.name: True for s in self.dev.sensors}
        self._start = dict(self._taken)  # the first sample of each stream since this boot
        self.engine = engine
        self._first_seq = outbox.next_seq
        self.transport.start(
            None, client_id=f"{self.tenant}:{self.dev.device_id}", will_topic="", will_payload=b""
        )
        self._battery = -1.0

    def _crash(self) -> None:
        """Power cut: the engine and its open batch are gone; the outbox file stays."""
        assert self.engine is not None
        self.batches_created += self.engine.outbox.next_seq - self._first_seq
        self.engine.outbox.close()
        self.engine = None
        self.transport.crash()

    def finish(self) -> None:
        """End of the run: close the open batch, publish what the network lets through, stop."""
        if self.engine is not None:
            self.engine.close_batch()
            self._settle()
        self.close()

    def close(self) -> None:
        if self.engine is not None:
            self.queued_at_end = self.engine.outbox.depth
            self.batches_created += self.engine.outbox.next_seq - self._first_seq
            self.engine.outbox.close()
            self.engine = None

    # -- time --------------------------------------------------------------------------------

    def advance(self, t_s: float) -> None:
        """Move to virtual time ``t_s`` (seconds; ``vt`` already says the same)."""
        if self._reboots and self.engine is not None and self._reboots[0][0] <= t_s:
            _, off = self._reboots.pop(0)
            self._crash()
            self._down_until = off
        if self.engine is None and self._down_until is not None and t_s >= self._down_until:
            self._down_until = None
            self.vt.t_ns = round(t_s * NS)
            for s in self.dev.sensors:
                self._push(s, t_s)  # off until now: these samples were never measured
            self._boot(t_s)
        self.transport.set_online(self.engine is not None and self.dev.online_at(t_s))
        if self.engine is not None:
            battery = round(self.dev.battery_at(t_s), 3)
            if battery != self._battery:
                self._battery = battery
                self.engine.handle(Battery(battery))
        # Samples go in at every window boundary up to t_s, in time order across sensors, so a
        # window is decided (and an urgent one published) when it completes, not at the step;
        # samples of a window not complete yet wait (the engine would only hold them).
        for b, sensor in self._boundaries(t_s):
            self.vt.t_ns = round(b * NS)
            self._push(sensor, b)
            if self.engine is not None:
                self._settle()
        self.vt.t_ns = round(t_s * NS)
        if self.engine is not None:
            self._settle()

    def _boundaries(self, t_s: float) -> list[tuple[float, SensorInfo]]:
        """(time, sensor) of every window end before ``t_s`` (windows count from the boot)."""
        out = []
        for s in self.dev.sensors:
            start = self._start[s.name]
            k = (self._taken[s.name] - start) // s.window + 1
            while (b := (start + k * s.window) / s.rate_hz) <= t_s + 1e-9:
                out.append((b, s))
                k += 1
        out.sort(key=lambda bs: bs[0])
        return out

    def _push(self, s: SensorInfo, t_s: float) -> None:
        due = math.floor(t_s * s.rate_hz + 1e-9)
        n = due - self._taken[s.name]
        if n <= 0:
            return
        t0_s = self._taken[s.name] / s.rate_hz
        chunk = self.dev.take(s.name, n)
        self._taken[s.name] = due
        if self.engine is None:
            return  # the device is off: these samples were never measured
        t0_ns = None
        if self._fresh[s.name]:
            self._fresh[s.name] = False
            t0_ns = EPOCH_NS + round(t0_s * NS) + self._skew_ns
        self.engine.handle(Samples(s.name, chunk.T.copy(), t0_ns))

    def _settle(self) -> None:
        engine = self.engine
        assert engine is not None
        events = self.transport.events
        while True:
            engine.tick()
            if not events:
                return
            while events:
                engine.handle(events.popleft())

    def deliver_downlink(self, topic: str, payload: bytes, qos: int = 1) -> bool:
        """Queue a downlink message (handled at the engine's next settle); False if offline."""
        return self.engine is not None and self.transport.downlink(topic, payload, qos)

    def settle(self) -> None:
        """Let the engine handle what arrived (confirmations) and publish what is due."""
        if self.engine is not None:
            self._settle()

    # -- ground truth ------------------------------------------------------------------------

    def scenario_s(self, t0_ns: int) -> float:
        """Scenario time of a window stamped ``t0_ns`` by this boot's (possibly skewed) clock."""
        return (t0_ns - EPOCH_NS - self._skew_ns) / NS

    def _truth(self, sensor: str, t0_ns: int, length_ns: int) -> bool:
        a = self.scenario_s(t0_ns)
        b = a + length_ns / NS
        return any(on < b and a < off for on, off in self._labels[sensor])

    def _observed(self, decide: Decider) -> Decider:
        def observed(w: WindowView) -> Choice:
            choice = decide(w)
            self.log.windows += 1
            length = round(w.spec.window * NS / w.spec.rate_hz)
            if self._truth(w.spec.name, w.t0_ns, length):
                self.log.anomalous.append((w.spec.name, w.t0_ns, choice.mode))
            return choice

        return observed
