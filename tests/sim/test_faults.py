"""Sensor faults change exactly their interval, as documented; device faults are schedules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from firmware_sim import DeviceGroup, InjectionSpec, Label, build_fleet
from tests.sim.helpers import at, between, device, record, scenario

GROUPS = (DeviceGroup("wrist", 1), DeviceGroup("machine", 1), DeviceGroup("env", 1))
ON, DUR = 200.0, 120.0
# documented per-sensor constants (docs/simulator.md, "Sensor models")
NOISE = {"accel": 0.05, "ppg": 15.0, "vib": None, "temp": 0.03, "climate": (0.02, 0.15)}
SENSORS = [
    ("wrist-00000", "accel"),
    ("wrist-00000", "ppg"),
    ("machine-00001", "vib"),
    ("machine-00001", "temp"),
    ("env-00002", "climate"),
]


def faulty_and_clean(
    kind: str, dev_id: str, sensor: str, **kw: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, with the fault, without) for a fault at ON for DUR seconds."""
    fault = at("faults", kind, dev_id, ON, DUR, sensor=sensor, **kw)
    seconds = 400.0
    t, x = record(device(scenario(*GROUPS, faults=(fault,)), dev_id), sensor, seconds)
    _, clean = record(device(scenario(*GROUPS), dev_id), sensor, seconds)
    outside = ~between(t, ON, ON + DUR)
    np.testing.assert_array_equal(x[outside], clean[outside])  # nothing else changes
    return t, x, clean


@pytest.mark.parametrize(("dev_id", "sensor"), SENSORS)
def test_stuck_repeats_the_last_sample(dev_id: str, sensor: str) -> None:
    t, x, clean = faulty_and_clean("stuck", dev_id, sensor)
    inside = between(t, ON, ON + DUR)
    assert np.all(x[inside] == x[np.flatnonzero(inside)[0] - 1])  # zero variance, last value
    assert clean[inside].std(axis=0).max() > 0


@pytest.mark.parametrize(("dev_id", "sensor"), SENSORS)
def test_dropout_is_nan_for_exactly_the_interval(dev_id: str, sensor: str) -> None:
    t, x, _ = faulty_and_clean("dropout", dev_id, sensor)
    assert np.array_equal(np.isnan(x).all(axis=1), between(t, ON, ON + DUR))
    assert np.isnan(x).any(axis=1).sum() == between(t, ON, ON + DUR).sum()


@pytest.mark.parametrize(("dev_id", "sensor"), SENSORS)
def test_drift_grows_linearly_to_several_spreads(dev_id: str, sensor: str) -> None:
    t, x, clean = faulty_and_clean("drift", dev_id, sensor, magnitude=6.0)
    inside = between(t, ON, ON + DUR)
    offset = np.abs(x[inside] - clean[inside])
    ramp = (t[inside] - ON) / DUR
    for ch in range(x.shape[1]):
        end = offset[ramp > 0.95, ch].mean()
        assert end > 4 * clean[:, ch].std()  # clearly abnormal at the end
        assert offset[ramp < 0.05, ch].mean() < 0.1 * end
        assert np.corrcoef(ramp, offset[:, ch])[0, 1] > 0.99


@pytest.mark.parametrize(("dev_id", "sensor"), SENSORS)
def test_spikes_are_a_few_isolated_large_samples(dev_id: str, sensor: str) -> None:
    _, x, clean = faulty_and_clean("spike", dev_id, sensor, magnitude=10.0)
    diff = np.abs(x - clean)
    rows = np.flatnonzero(diff.max(axis=1) > 0)
    assert 3 <= len(rows) <= 8
    assert np.all(np.diff(rows) > 1)  # isolated: never two in a row
    for r in rows:
        ch = int(np.argmax(diff[r]))
        others = np.delete(clean[:, ch], r)
        assert diff[r, ch] > 5 * others.std()  # far outside the normal spread


@pytest.mark.parametrize(("dev_id", "sensor"), SENSORS)
def test_clipping_pins_samples_at_rails_inside_the_normal_range(dev_id: str, sensor: str) -> None:
    t, x, clean = faulty_and_clean("clipping", dev_id, sensor)
    inside = between(t, ON, ON + DUR)
    pinned_any = False
    for ch in range(x.shape[1]):
        lo, hi = x[inside, ch].min(), x[inside, ch].max()
        pinned = np.mean((x[inside, ch] == lo) | (x[inside, ch] == hi))
        assert hi - lo < np.ptp(clean[:, ch])  # the rails sit inside the normal range
        pinned_any |= pinned > 0.2
    assert pinned_any


@pytest.mark.parametrize(("dev_id", "sensor"), [s for s in SENSORS if s[1] != "vib"])
def test_noise_burst_multiplies_the_noise(dev_id: str, sensor: str) -> None:
    t, x, clean = faulty_and_clean("noise_burst", dev_id, sensor, magnitude=20.0)
    inside = between(t, ON, ON + DUR)
    extra = (x - clean)[inside].std(axis=0)
    noise = np.atleast_1d(NOISE[sensor])
    assert np.all(extra > 15 * noise) and np.all(extra < 25 * noise)


def test_noise_burst_on_vibration_dwarfs_its_broadband_noise() -> None:
    t, x, clean = faulty_and_clean("noise_burst", "machine-00001", "vib", magnitude=20.0)
    inside = between(t, ON, ON + DUR)
    high = (x - clean)[inside].std(axis=0)
    assert np.all(high > 2.5)  # 20 × 0.15-0.35 m/s²
    assert x[inside].std(axis=0).min() > 2 * clean[inside].std(axis=0).max()


def test_partition_reboot_and_storm_take_the_device_offline() -> None:
    sc = scenario(
        DeviceGroup("wrist", 3),
        faults=(
            at("faults", "partition", "wrist-00000", 100.0, 60.0),
            at("faults", "reboot", "wrist-00001", 50.0, 10.0),
            at("faults", "reconnect_storm", None, 300.0, 4.0),
        ),
    )
    a, b, c = build_fleet(sc)
    assert a.online_at(99.9) and not a.online_at(100.0) and not a.online_at(159.9)
    assert a.online_at(160.0) and a.reboots() == ()
    assert b.reboots() == (50.0,) and not b.online_at(55.0) and b.online_at(60.0)
    for dev in (a, b, c):
        storm = [lab for lab in dev.labels if lab.kind == "reconnect_storm"]
        assert len(storm) == 1 and storm[0].t_on == 300.0 and storm[0].t_off <= 304.0
        assert storm[0].sensor == "" and storm[0].category == "device_fault"
        assert not dev.online_at(300.1) and dev.online_at(304.0)


def test_clock_skew_from_at_s_on() -> None:
    sc = scenario(
        DeviceGroup("env", 1),
        faults=(at("faults", "clock_skew", "env-00000", 100.0, 1000.0, magnitude=-42.0),),
    )
    (dev,) = build_fleet(sc)
    assert dev.clock_skew_s(99.0) == 0.0 and dev.clock_skew_s(100.0) == -42.0
    assert dev.clock_skew_s(599.0) == -42.0
    (lab,) = dev.labels
    assert lab.t_off == 600.0  # clipped to the scenario


def test_battery_drains_faster_during_a_drain_fault() -> None:
    group = DeviceGroup("wrist", 1, battery=0.9)
    sc = scenario(
        group, faults=(at("faults", "battery_drain", "wrist-00000", 100.0, 200.0, magnitude=20.0),)
    )
    (dev,) = build_fleet(sc)
    (plain,) = build_fleet(scenario(group))
    assert dev.battery_at(0) == plain.battery_at(0) == 0.9
    normal = plain.battery_at(0) - plain.battery_at(100)
    assert normal > 0
    assert dev.battery_at(100) == pytest.approx(plain.battery_at(100))
    during = dev.battery_at(100) - dev.battery_at(200)
    assert during == pytest.approx(20 * normal)
    assert dev.battery_at(400) - dev.battery_at(500) == pytest.approx(normal)
    assert 0.0 <= dev.battery_at(1e6) <= 1.0


def test_rate_faults_pick_sensors_and_never_overlap_on_one_sensor() -> None:
    kinds = ("stuck", "drift", "spike", "dropout", "clipping", "noise_burst")
    faults = tuple(
        InjectionSpec("faults", i, k, rate_per_device_hour=20.0) for i, k in enumerate(kinds)
    )
    for dev in build_fleet(scenario(*GROUPS, faults=faults, duration_s=3600)):
        by_sensor: dict[str, list[Label]] = {}
        for lab in dev.labels:
            by_sensor.setdefault(lab.sensor, []).append(lab)
        assert set(by_sensor) == {s.name for s in dev.sensors}
        for labs in by_sensor.values():
            assert all(b.t_on >= a.t_off for a, b in itertools.pairwise(labs))
