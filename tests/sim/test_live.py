"""The live fleet streams a scenario through the real SDK: sensors, battery, reboots."""

from __future__ import annotations

from pathlib import Path

import protos
from device_sdk import FakeTransport
from firmware_sim import DeviceGroup, Fleet, FleetConfig
from tests.sim.helpers import at, scenario


def run(tmp_path: Path, sc: object, **cfg: object) -> tuple[Fleet, dict[str, list[FakeTransport]]]:
    transports: dict[str, list[FakeTransport]] = {}

    def factory(dev_id: str) -> FakeTransport:
        transports.setdefault(dev_id, []).append(FakeTransport())
        return transports[dev_id][-1]

    config = FleetConfig(tenant="t", data_dir=tmp_path, speed=5.0, **cfg)  # type: ignore[arg-type]
    fleet = Fleet(config, scenario=sc, transport_factory=factory)  # type: ignore[arg-type]
    fleet.report = fleet.run()  # type: ignore[attr-defined]
    return fleet, transports


def batches(ts: list[FakeTransport]) -> list[protos.TelemetryBatch]:
    out = []
    for t in ts:
        for p in t.published:
            if p.topic.endswith("/up"):
                out.append(protos.TelemetryBatch.FromString(p.payload))
    return out


def test_every_sensor_streams_with_its_rate_and_window(tmp_path: Path) -> None:
    sc = scenario(DeviceGroup("wrist", 1), DeviceGroup("machine", 1), duration_s=8.0)
    fleet, transports = run(tmp_path, sc)
    seen = {
        (b.device_id, w.sensor): (w.rate_hz, w.channels, w.n_samples)
        for b in batches([t for ts in transports.values() for t in ts])
        for w in b.windows
    }
    assert seen == {
        ("wrist-00000", "accel"): (50.0, 3, 128),
        ("wrist-00000", "ppg"): (25.0, 1, 128),
        ("machine-00001", "vib"): (512.0, 3, 256),
    }  # temp: 8 s at 1 Hz fills no 64-sample window
    report = fleet.report  # type: ignore[attr-defined]
    assert report.samples_pushed == 8 * (50 + 25 + 512 + 1)
    assert report.batches_acked == report.batches_sent > 0


def test_a_reboot_reopens_the_device_on_its_outbox_and_continues_in_time(tmp_path: Path) -> None:
    sc = scenario(
        DeviceGroup("wrist", 1),
        faults=(at("faults", "reboot", "wrist-00000", 3.0, 2.0),),
        duration_s=10.0,
    )
    fleet, transports = run(tmp_path, sc, heartbeat_s=60.0)
    assert len(transports["wrist-00000"]) == 2  # a second Device on the same data dir
    sent = batches(transports["wrist-00000"])
    seqs = sorted({b.seq for b in sent})
    assert seqs == list(range(1, len(seqs) + 1))  # the seq continues across the restart
    report = fleet.report  # type: ignore[attr-defined]
    assert report.per_device["wrist-00000"]["reboots"] == 1
    assert report.seq_ranges["wrist-00000"] == (1, seqs[-1])
    assert report.batches_acked == report.batches_sent == len(seqs)
    t0 = fleet.t0_unix
    assert t0 is not None
    starts = sorted({w.t0_ns / 1e9 - t0 for b in sent for w in b.windows if w.sensor == "accel"})
    length = 128 / 50
    assert all(s + length <= 3.0 + 1e-6 or s >= 5.0 - 1e-6 for s in starts)  # none in the downtime
    assert abs(min(s for s in starts if s >= 5.0 - 1e-6) - 5.0) < 1e-3  # the stream resumes at 5 s
    assert min(starts) < 1e-3


def test_battery_levels_reach_the_device(tmp_path: Path) -> None:
    sc = scenario(
        DeviceGroup("wrist", 1, battery=0.5),
        faults=(at("faults", "battery_drain", "wrist-00000", 0.0, 10.0, magnitude=30.0),),
        duration_s=10.0,
    )
    _, transports = run(tmp_path, sc, heartbeat_s=0.2)
    levels = [b.health.battery for b in batches(transports["wrist-00000"]) if b.HasField("health")]
    assert len(levels) >= 3
    assert all(0.49 <= v <= 0.5 for v in levels)
    assert levels[-1] < levels[0]  # 1.5 %/min while the drain fault lasts
