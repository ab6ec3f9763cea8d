"""A simulated fleet: N devices, each its own MQTT client and outbox, driven in simulated time.

One driver thread feeds every device a chunk per tick; ``speed`` > 1 runs simulated time faster
than the wall clock (timestamps follow simulated time). Device ids are
``{prefix}{offset + i:05d}`` so several simulator processes can own disjoint ranges.

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


class Fleet:
    def __init__(
        self,
        config: FleetConfig,
        *,
        transport_factory: Callable[[str], Transport] | None = None,
    ) -> None:
        self.config = config
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if config.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="binhai-sim-")
            base = Path(self._tmp.name)
        else:
            base = Path(config.data_dir)
        self.ids = [f"{config.id_prefix}{config.id_offset + i:05d}" for i in range(config.devices)]
        self.models = [
            AccelModel(config.seed * 1_000_003 + config.id_offset + i, config.rate_hz)
            for i in range(config.devices)
        ]
        self.devices: list[Device] = []
        self._first_seq: dict[str, int] = {}
        for dev_id in self.ids:
            transport = transport_factory(dev_id) if transport_factory else None
            dev = Device(
                dev_id,
                tenant=config.tenant,
                broker_url=config.broker_url,
                data_dir=base / dev_id,
                transport=transport,
                batch=config.batch,
                mqtt=MqttOptions(backoff_max_s=10.0, reconnect_spread_s=config.reconnect_spread_s),
                heartbeat_s=config.heartbeat_s,
                firmware="firmware_sim",
            )
            dev.add_sensor(SENSOR, rate_hz=config.rate_hz, channels=3, window=config.window)
            self._first_seq[dev_id] = dev.stats()["first_seq_at_open"]
            self.devices.append(dev)

    def run(
        self, *, progress: Progress | None = None, stop: Callable[[], bool] | None = None
    ) -> FleetReport:
        """Stream for ``duration_s`` simulated seconds, flush, close; return the report."""
        cfg = self.config
        start_wall = time.monotonic()
        sim_t0 = time.time()
        sim_s = 0.0
        carry = [0.0] * len(self.devices)
        while sim_s < cfg.duration_s and not (stop and stop()):
            step = min(cfg.tick_s * cfg.speed, cfg.duration_s - sim_s)
            for i, (dev, model) in enumerate(zip(self.devices, self.models, strict=True)):
                exact = step * cfg.rate_hz + carry[i]
                n = int(exact)
                carry[i] = exact - n
                if n:
                    # The first chunk fixes the stream's time; later ones continue it exactly.
                    dev.push(SENSOR, model.take(n), sim_t0 if sim_s == 0 else None)
            sim_s += step
            if progress:
                progress(sim_s, [d.stats() for d in self.devices])
            wait = start_wall + sim_s / cfg.speed - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        return self.close(sim_s, progress)

    def close(self, sim_s: float = 0.0, progress: Progress | None = None) -> FleetReport:
        deadline = time.monotonic() + self.config.flush_timeout_s
        for dev in self.devices:
            dev.flush(max(0.1, deadline - time.monotonic()))
        stats = [d.stats() for d in self.devices]
        if progress:
            progress(sim_s, stats)
        for dev in self.devices:
            dev.close(timeout=0.1)
        if self._tmp is not None:
            self._tmp.cleanup()
        per = dict(zip(self.ids, stats, strict=True))
        return FleetReport(
            devices=len(self.devices),
            sim_seconds=sim_s,
            samples_pushed=sum(s["samples_pushed"] for s in stats),
            batches_sent=sum(s["next_seq"] - self._first_seq[d] for d, s in per.items()),
            batches_acked=sum(s["batches_acked"] for s in stats),
            seq_ranges={d: (self._first_seq[d], s["next_seq"] - 1) for d, s in per.items()},
            per_device=per,
        )
