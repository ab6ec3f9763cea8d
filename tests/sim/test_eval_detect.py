"""The cloud's judgement on the simulator's physics: each event and sensor-fault kind, sent
all-cloud through the real device engine, raises one alert of its kind, and nothing else does."""

from __future__ import annotations

import pytest

from binhai._sim._run import RunSpec, run
from firmware_sim import DeviceGroup
from firmware_sim._policies import PolicyParams
from tests.sim.helpers import at, scenario

# (device kind, section, kind, sensor, start s, duration s, the alert kinds that count)
CASES = [
    ("wrist", "events", "fall", "accel", 200.0, 30.0, {"fall"}),
    ("wrist", "events", "tremor", "accel", 200.0, 30.0, {"tremor"}),
    # a pulse the activity does not explain, whatever the wearer is doing at the time
    ("wrist", "events", "arrhythmia", "ppg", 300.0, 60.0, {"arrhythmia"}),
    ("wrist", "events", "arrhythmia", "ppg", 560.0, 60.0, {"arrhythmia"}),
    ("wrist", "events", "arrhythmia", "ppg", 900.0, 60.0, {"arrhythmia"}),
    ("machine", "events", "bearing_fault", "vib", 120.0, 200.0, {"bearing_fault"}),
    ("env", "events", "overheat", "climate", 700.0, 600.0, {"overheat"}),
    # five windows into the stream: its level reference is far from settled (24 windows)
    ("machine", "events", "overheat", "temp", 320.0, 400.0, {"overheat"}),
    ("wrist", "faults", "dropout", "accel", 200.0, 15.0, {"dropout"}),
    ("wrist", "faults", "stuck", "ppg", 200.0, 30.0, {"stuck"}),
    ("wrist", "faults", "spike", "ppg", 200.0, 15.0, {"spike"}),
    ("wrist", "faults", "clipping", "ppg", 200.0, 30.0, {"clipping"}),
    ("wrist", "faults", "drift", "ppg", 200.0, 60.0, {"drift"}),
    ("env", "faults", "noise_burst", "climate", 700.0, 300.0, {"noise_burst", "drift"}),
    ("machine", "faults", "clipping", "vib", 120.0, 10.0, {"clipping"}),
    ("machine", "faults", "noise_burst", "vib", 120.0, 10.0, {"noise_burst"}),
    # roughness: white noise on smooth signals (a wearer's motion, a machine's heat)
    ("wrist", "faults", "noise_burst", "accel", 200.0, 15.0, {"noise_burst"}),
    ("machine", "faults", "noise_burst", "temp", 900.0, 200.0, {"noise_burst"}),
    # ... from a stream's third window, before its other baselines are warm
    ("env", "faults", "noise_burst", "climate", 150.0, 240.0, {"noise_burst"}),
]


@pytest.mark.parametrize(
    ("kind", "section", "what", "sensor", "t", "duration", "expect"),
    CASES,
    ids=[f"{c[2]}-{c[3]}" for c in CASES],
)
def test_each_kind_raises_one_alert_of_its_kind(
    kind: str, section: str, what: str, sensor: str, t: float, duration: float, expect: set[str]
) -> None:
    dev = f"{kind}-00000"
    end = t + duration + 120.0
    sc = scenario(
        DeviceGroup(kind, 1),
        **{section: (at(section, what, dev, t, duration, sensor=sensor),)},  # type: ignore[arg-type]
        duration_s=end,
    )
    result = run(RunSpec(sc, PolicyParams("all_cloud")))
    (label,) = [lb for lb in sc_labels(sc) if lb.kind == what]
    window = result.devices[0].window_s[sensor]
    hits = [
        a
        for a in result.alerts
        if a.sensor == sensor and a.start_s <= label.t_off + 2 * window and a.end_s >= label.t_on
    ]
    assert hits, f"no alert for {what}: {result.alerts}"
    assert hits[0].kind in expect
    assert len(result.alerts) == len(hits), f"false alerts: {result.alerts}"


def sc_labels(sc):  # type: ignore[no-untyped-def]
    from firmware_sim import build_fleet

    return [lb for d in build_fleet(sc) for lb in d.labels]


def test_ordinary_signals_raise_no_alert() -> None:
    sc = scenario(DeviceGroup("wrist", 2), DeviceGroup("env", 1), duration_s=900.0)
    result = run(RunSpec(sc, PolicyParams("all_cloud")))
    assert result.device_windows > 1000
    assert result.alerts == []
