"""The virtual-time runner: deterministic, shard-independent, device faults really applied, and
each policy sending what it says."""

from __future__ import annotations

import pytest

from binhai._sim._run import RunResult, RunSpec, run
from firmware_sim import DeviceGroup
from firmware_sim._policies import PolicyParams
from tests.sim.helpers import at, scenario


def _fingerprint(r: RunResult) -> tuple[object, ...]:
    return (
        [(d.device, d.bytes_up, d.windows, d.batches_stored) for d in r.devices],
        [(a.device, a.sensor, a.kind, a.start_s, a.raised_s) for a in r.alerts],
        r.anomalous,
    )


def _small() -> object:
    return scenario(
        DeviceGroup("wrist", 3),
        DeviceGroup("env", 1),
        events=(
            at("events", "fall", "wrist-00000", 60.0, 20.0),
            at("events", "tremor", "wrist-00001", 80.0, 20.0),
        ),
        faults=(at("faults", "dropout", "wrist-00002", 50.0, 10.0, sensor="ppg"),),
        duration_s=180.0,
    )


@pytest.mark.slow
def test_runs_are_deterministic_and_do_not_depend_on_the_shards() -> None:
    sc = _small()
    one = run(RunSpec(sc, PolicyParams("binhai")), workers=1)  # type: ignore[arg-type]
    again = run(RunSpec(sc, PolicyParams("binhai")), workers=1)  # type: ignore[arg-type]
    two = run(RunSpec(sc, PolicyParams("binhai")), workers=2)  # type: ignore[arg-type]
    assert _fingerprint(one) == _fingerprint(again) == _fingerprint(two)
    assert len(one.alerts) == 3


def test_policies_send_what_they_say() -> None:
    sc = _small()
    results = {
        name: run(RunSpec(sc, PolicyParams(name, period=4)))  # type: ignore[arg-type]
        for name in ("all_cloud", "all_edge", "periodic", "oracle")
    }
    total = {k: sum(d.bytes_up for d in r.devices) for k, r in results.items()}
    assert total["oracle"] < total["periodic"] < total["all_edge"] < total["all_cloud"]
    assert total["all_cloud"] / 4 < total["periodic"] < total["all_cloud"] / 2
    # every truly anomalous window reaches the cloud raw with the oracle and all-cloud, none
    # with features only
    assert all(arrived for *_, arrived in results["oracle"].anomalous)
    assert all(arrived for *_, arrived in results["all_cloud"].anomalous)
    assert not any(arrived for *_, arrived in results["all_edge"].anomalous)
    assert len(results["oracle"].alerts) == 3


@pytest.mark.parametrize("name", ["send_on_delta", "swinging_door"])
def test_historians_compress_and_the_cloud_rebuilds(name: str) -> None:
    sc = _small()
    base = sum(d.bytes_up for d in run(RunSpec(sc, PolicyParams("all_cloud"))).devices)  # type: ignore[arg-type]
    tight = run(RunSpec(sc, PolicyParams(name, deviation=0.05)))  # type: ignore[arg-type]
    loose = run(RunSpec(sc, PolicyParams(name, deviation=2.0)))  # type: ignore[arg-type]
    b_tight = sum(d.bytes_up for d in tight.devices)
    b_loose = sum(d.bytes_up for d in loose.devices)
    assert b_loose < b_tight and b_loose < base / 2
    assert tight.undecodable == loose.undecodable == 0
    assert all(arrived for *_, arrived in loose.anomalous)  # rebuilt samples are evidence


def test_device_faults_are_applied() -> None:
    dev = "wrist-00000"
    sc = scenario(
        DeviceGroup("wrist", 2, battery=0.9),
        faults=(
            at("faults", "partition", dev, 30.0, 40.0),
            at("faults", "clock_skew", dev, 80.0, 70.0, magnitude=30.0),
            at("faults", "reboot", dev, 100.0, 10.0),
            at("faults", "battery_drain", dev, 0.0, 150.0, magnitude=30.0),
        ),
        duration_s=150.0,
    )
    r = run(RunSpec(sc, PolicyParams("all_edge")))  # type: ignore[arg-type]
    faulty, other = r.devices
    assert faulty.connects == 3 and other.connects == 1  # boot, after the partition, reboot
    assert faulty.boots == 2
    # nothing lost: what was queued through the partition and the reboot arrived
    assert faulty.batches_created == faulty.batches_stored and faulty.evicted == 0
    # the stream restarted after the reboot on the skewed clock: windows stamped 30 s ahead
    assert faulty.last_t0_s["accel"] > 150.0 + 25.0 > other.last_t0_s["accel"] + 25.0
    # the drain showed in the device's health report
    assert faulty.battery < other.battery - 0.01
