"""A simulated fleet: N devices, each its own MQTT client and outbox, driven in simulated time.

One driver thread feeds every device a chunk of every sensor per tick; ``speed`` > 1 runs
simulated time faster than the wall clock (timestamps follow simulated time). Without a
scenario, every device is the original accelerometer (:class:`AccelModel`) and device ids are
``{prefix}{offset + i:05d}`` so several simulator processes can own disjoint ranges. With a
scenario (``Fleet(config, scenario=...)``) the devices, their sensors, events and faults come
from it; the live run applies ``battery_at`` and reboots (see :mod:`._live`) — partitions,
clock skew and reconnect storms are applied only by the evaluation runner.

With a ``data_dir``, each device keeps its outbox in ``data_dir/{device_id}``: a simulator killed
at any instant and restarted with the same directory resends what was not acknowledged, under
the same seqs, and continues the seq counter. The report's ``seq_ranges`` then start at the
oldest batch found queued, so an audit of the restarted run covers the carried-over batches.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device_sdk import BatchPolicy, Device, MqttOptions, Transport
from firmware_sim._catalog import Label
from firmware_sim._fleetspec import build_fleet
from firmware_sim._live import AccelSource, Member, Source
from firmware_sim._scenario import Scenario
from firmware_sim._signals import AccelModel

log = logging.getLogger(__name__)

SENSOR = "accel"


@dataclass(frozen=True, slots=True)
class FleetConfig:
    devices: int = 20
    duration_s: float = 15.0
    tenant: str = "sim"
    broker_url: str = "mqtt://127.0.0.1:1883"
    data_dir: Path | None = None
    rate_hz: float = 50.0
    window: int = 128
    speed: float = 1.0
    tick_s: float = 0.2
    id_prefix: str = "dev-"
    id_offset: int = 0
    seed: int = 1
    batch: BatchPolicy = field(default_factory=BatchPolicy)
    flush_timeout_s: float = 30.0
    heartbeat_s: float = 30.0
    reconnect_spread_s: float = 10.0
    #: When devices drop a batch: "stored" (the cloud's confirmation) or "puback" (broker only).
    confirm: str = "stored"


@dataclass
class FleetReport:
    devices: int
    sim_seconds: float
    samples_pushed: int
    batches_sent: int
    batches_acked: int
    seq_ranges: dict[str, tuple[int, int]]  # device -> (first, last) created in this run
    per_device: dict[str, dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {
            "devices": self.devices,
            "sim_seconds": round(self.sim_seconds, 1),
            "samples_pushed": self.samples_pushed,
            "batches_sent": self.batches_sent,
            "batches_acked": self.batches_acked,
        }


Progress = Callable[[float, list[dict[str, Any]]], None]


def device_ids(config: FleetConfig) -> list[str]:
    """The ids of a fleet of ``config.devices`` accelerometers (without a scenario)."""
    return [f"{config.id_prefix}{config.id_offset + i:05d}" for i in range(config.devices)]


class Fleet:
    """Streams simulated devices through the real SDK.

    Without ``scenario``: ``config.devices`` accelerometers. With it: the scenario's devices
    for ``scenario.duration_s`` (``config.devices``, ``duration_s``, ``rate_hz``, ``window``,
    ``id_prefix``, ``id_offset`` and ``seed`` are then not used; replace the scenario's
    ``seed``/``duration_s`` to change them). ``labels`` is the ground truth of the run.
    ``credentials`` gives each device its MQTT username and password (by device id) for a
    broker that authenticates (asked for every device before any starts); the URL's are used
    otherwise.
    """

    def __init__(
        self,
        config: FleetConfig,
        *,
        scenario: Scenario | None = None,
        transport_factory: Callable[[str], Transport] | None = None,
        credentials: Callable[[str], tuple[str, str]] | None = None,
    ) -> None:
        self.config = config
        # Device id -> its MQTT (username, password), looked up when the device starts.
        self.duration_s = scenario.duration_s if scenario is not None else config.duration_s
        self._transport_factory = transport_factory
        sims = build_fleet(scenario) if scenario is not None else []
        ids = device_ids(config) if scenario is None else [sim.device_id for sim in sims]
        # Every device's credentials before anything starts: a missing one fails here.
        self._credentials = {d: credentials(d) for d in ids} if credentials else {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if config.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="binhai-sim-")
            self._base = Path(self._tmp.name)
        else:
            self._base = Path(config.data_dir)
        self.members: list[Member] = []
        self.labels: list[Label] = []
        if scenario is None:
            for i, dev_id in enumerate(ids):
                model = AccelModel(config.seed * 1_000_003 + config.id_offset + i, config.rate_hz)
                source = AccelSource(dev_id, model, SENSOR, config.window)
                self.members.append(Member(source, self._open))
        else:
            for sim in sims:
                downtimes = tuple(
                    (lab.t_on, lab.t_off) for lab in sim.labels if lab.kind == "reboot"
                )
                member = Member(sim, self._open, battery=sim.battery_at, downtimes=downtimes)
                self.members.append(member)
                self.labels.extend(sim.labels)
            self.labels.sort(key=lambda lab: (lab.t_on, lab.device, lab.sensor, lab.kind))
        self.ids = [m.source.device_id for m in self.members]
        self.t0_unix: float | None = None  # wall time of the first sample, once running

    def _mqtt_options(self, dev_id: str) -> MqttOptions:
        user, password = self._credentials.get(dev_id, (None, None))
        return MqttOptions(
            backoff_max_s=10.0,
            reconnect_spread_s=self.config.reconnect_spread_s,
            username=user,
            password=password,
        )

    def _open(self, source: Source) -> Device:
        cfg = self.config
        dev_id = source.device_id
        dev = Device(
            dev_id,
            tenant=cfg.tenant,
            broker_url=cfg.broker_url,
            data_dir=self._base / dev_id,
            transport=self._transport_factory(dev_id) if self._transport_factory else None,
            batch=cfg.batch,
            mqtt=self._mqtt_options(dev_id),
            heartbeat_s=cfg.heartbeat_s,
            firmware="firmware_sim",
            confirm="puback" if cfg.confirm == "puback" else "stored",
        )
        for s in source.sensors:
            # windows do not overlap in the simulator: every sample is sent once (as in eval)
            dev.add_sensor(
                s.name, rate_hz=s.rate_hz, channels=s.channels, window=s.window, hop=s.window
            )
        return dev

    def run(
        self, *, progress: Progress | None = None, stop: Callable[[], bool] | None = None
    ) -> FleetReport:
        """Stream for ``duration_s`` simulated seconds, flush, close; return the report."""
        cfg = self.config
        start_wall = time.monotonic()
        self.t0_unix = time.time()
        sim_s = 0.0
        while sim_s < self.duration_s and not (stop and stop()):
            step = min(cfg.tick_s * cfg.speed, self.duration_s - sim_s)
            for member in self.members:
                member.step(sim_s, step, self.t0_unix)
            sim_s += step
            if progress:
                progress(sim_s, [m.stats() for m in self.members])
            wait = start_wall + sim_s / cfg.speed - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        return self.close(sim_s, progress)

    def close(self, sim_s: float = 0.0, progress: Progress | None = None) -> FleetReport:
        deadline = time.monotonic() + self.config.flush_timeout_s
        for member in self.members:
            member.finish()
        for member in self.members:
            member.flush(max(0.1, deadline - time.monotonic()))
        stats = [m.stats() for m in self.members]
        if progress:
            progress(sim_s, stats)
        for member in self.members:
            member.close()
        if self._tmp is not None:
            self._tmp.cleanup()
        per = dict(zip(self.ids, stats, strict=True))
        first = {m.source.device_id: m.first_seq for m in self.members}
        return FleetReport(
            devices=len(self.members),
            sim_seconds=sim_s,
            samples_pushed=sum(s["samples_pushed"] for s in stats),
            batches_sent=sum(s["next_seq"] - first[d] for d, s in per.items()),
            batches_acked=sum(s["batches_acked"] for s in stats),
            seq_ranges={d: (first[d], s["next_seq"] - 1) for d, s in per.items()},
            per_device=per,
        )
