"""Streams: deterministic in (scenario, seed), independent of how they are taken, quantised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import firmware_sim as fs
from firmware_sim import DeviceGroup, InjectionSpec, build_fleet
from tests.sim.helpers import scenario

KINDS = (*fs.EVENT_KINDS, *fs.SENSOR_FAULT_KINDS)
SECONDS = 300.0


def dense(seed: int = 5, replay: np.ndarray | None = None) -> fs.Scenario:
    """Every device kind, every event and sensor fault many times within SECONDS."""
    groups = [DeviceGroup("wrist", 2), DeviceGroup("machine", 2), DeviceGroup("env", 2)]
    if replay is not None:
        groups.append(DeviceGroup("replay", 1, rate_hz=20.0, speed=2.0, data=replay))
    events = tuple(
        InjectionSpec("events", i, k, rate_per_device_hour=24.0, duration_s=40.0)
        for i, k in enumerate(fs.EVENT_KINDS)
    )
    faults = tuple(
        InjectionSpec("faults", i, k, rate_per_device_hour=36.0, duration_s=8.0)
        for i, k in enumerate(fs.SENSOR_FAULT_KINDS)
    )
    return scenario(*groups, events=events, faults=faults, seed=seed, duration_s=SECONDS)


def everything(sc: fs.Scenario) -> dict[tuple[str, str], np.ndarray]:
    return {
        (d.device_id, s.name): d.take(s.name, round(SECONDS * s.rate_hz))
        for d in build_fleet(sc)
        for s in d.sensors
    }


@pytest.fixture(scope="module")
def recording() -> np.ndarray:
    t = np.arange(5000) / 50
    return np.column_stack([np.sin(t), np.cos(3 * t) + 0.01 * t]).astype(np.float32)


def test_the_dense_scenario_has_every_kind() -> None:
    labels = [lab for d in build_fleet(dense()) for lab in d.labels]
    assert {lab.kind for lab in labels} == set(KINDS)


def test_same_seed_same_samples_and_labels(recording: np.ndarray) -> None:
    a, b = everything(dense(replay=recording)), everything(dense(replay=recording))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])  # bit-identical, NaN included
    labels = [[d.labels for d in build_fleet(dense())] for _ in range(2)]
    assert labels[0] == labels[1]


def test_another_seed_other_samples_and_labels() -> None:
    a, b = everything(dense(5)), everything(dense(6))
    for key in a:
        assert not np.array_equal(a[key], b[key], equal_nan=True), key
    assert [d.labels for d in build_fleet(dense(5))] != [d.labels for d in build_fleet(dense(6))]


@pytest.mark.parametrize("split_seed", [0, 1, 2])
def test_take_is_chunk_independent(split_seed: int, recording: np.ndarray) -> None:
    whole = everything(dense(replay=recording))
    rng = np.random.default_rng(split_seed)
    for dev in build_fleet(dense(replay=recording)):
        for s in dev.sensors:
            n = round(SECONDS * s.rate_hz)
            parts, done = [], 0
            while done < n:
                k = min(n - done, int(rng.choice([0, 1, 2, 7, 64, 333, 4095, 4097, 10_000])))
                parts.append(dev.take(s.name, k))
                done += k
            got = np.concatenate(parts)
            assert got.dtype == np.float32 and got.shape == (n, s.channels)
            np.testing.assert_array_equal(got, whole[(dev.device_id, s.name)])


def test_every_sample_is_a_multiple_of_the_adc_step_within_the_range() -> None:
    for (dev_id, sensor), x in everything(dense()).items():
        info = next(s for s in fs.DEVICE_SENSORS[dev_id.split("-")[0]] if s.name == sensor)
        finite = x[np.isfinite(x)].astype(np.float64)
        assert len(finite) > 0.5 * x.size
        steps = finite / info.adc_step
        assert np.abs(steps - np.round(steps)).max() < 0.01, (dev_id, sensor)
        if info.unit == "m/s^2":
            assert np.abs(finite).max() <= 16 * 9.80665
        if sensor == "ppg":
            assert finite.min() >= 0 and finite.max() <= 65535
        if sensor == "climate":
            rh = x[:, 1][np.isfinite(x[:, 1])]
            assert rh.min() >= 0 and rh.max() <= 100


def test_sensor_defaults_are_the_documented_ones() -> None:
    table = {
        (k, s.name): (s.rate_hz, s.channels, s.window, s.unit, s.adc_step)
        for k, ss in fs.DEVICE_SENSORS.items()
        for s in ss
    }
    step = 16 * 9.80665 / 32768
    assert table[("wrist", "accel")] == (50.0, 3, 128, "m/s^2", step)
    assert table[("wrist", "ppg")] == (25.0, 1, 128, "counts", 1.0)
    assert table[("machine", "vib")] == (512.0, 3, 256, "m/s^2", step)
    assert table[("machine", "temp")] == (1.0, 1, 64, "degC", 0.0625)
    assert table[("env", "climate")] == (1.0, 2, 60, "degC,%RH", 0.01)
    assert set(fs.NETWORK_PROFILES) >= {"wifi", "lte", "nbiot", "ethernet"}


def test_a_group_rate_sets_the_primary_sensor(tmp_path: Path) -> None:
    (dev,) = build_fleet(scenario(DeviceGroup("machine", 1, rate_hz=1024.0)))
    assert [(s.name, s.rate_hz) for s in dev.sensors] == [("vib", 1024.0), ("temp", 1.0)]
    assert dev.take("vib", 3000).shape == (3000, 3)
    with pytest.raises(KeyError, match="no sensor 'accel'"):
        dev.take("accel", 1)
