"""Every event kind shows in the signal, where its label says and nowhere else.

Each test compares the device with the same device of the same scenario without the event (the
physics' noise does not depend on the events), or measures the signal against the docs.
"""

from __future__ import annotations

import numpy as np

from firmware_sim import DeviceGroup, build_fleet
from tests.sim.helpers import (
    G,
    at,
    band_fraction,
    beat_rate,
    between,
    device,
    idle_stretch,
    record,
    scenario,
    spectrum,
)

WRIST = DeviceGroup("wrist", 1)
MACHINE = DeviceGroup("machine", 1)


def test_fall_is_an_impact_above_3g_then_lying_still_on_another_axis() -> None:
    sc = scenario(WRIST, events=(at("events", "fall", "wrist-00000", 100.0, 40.0),))
    dev = device(sc, "wrist-00000")
    (label,) = dev.labels
    assert (label.sensor, label.category, label.t_on, label.t_off) == ("accel", "event", 100, 140)
    t, a = record(dev, "accel", 200)
    g = np.linalg.norm(a, axis=1) / G
    assert g[between(t, 100.0, 101.0)].max() > 3.0
    still = a[between(t, 101.0, 137.5)]
    assert still.std(axis=0).max() < 0.1  # m/s²: sensor noise only
    assert abs(np.linalg.norm(still.mean(axis=0)) / G - 1) < 0.05  # 1 g at rest ...
    before = a[between(t, 95.0, 100.0)].mean(axis=0)
    cos = before @ still.mean(axis=0) / np.linalg.norm(before) / np.linalg.norm(still.mean(axis=0))
    assert cos < np.cos(np.radians(45))  # ... on another axis than before the fall
    assert abs(still.mean(axis=0)[2]) < 0.5 * G
    clean = record(device(scenario(WRIST), "wrist-00000"), "accel", 200)[1]
    outside = ~between(t, 100.0, 140.0)
    np.testing.assert_array_equal(a[outside], clean[outside])


def test_nothing_like_a_fall_outside_falls() -> None:
    sc = scenario(
        DeviceGroup("wrist", 6),
        events=(at("events", "fall", "wrist-00002", 300.0, 30.0),),
        duration_s=900,
    )
    for dev in build_fleet(sc):
        t, a = record(dev, "accel", 900)
        hard = t[np.linalg.norm(a, axis=1) > 3 * G]
        falls = [lab for lab in dev.labels if lab.kind == "fall"]
        for lab in falls:
            hard = hard[~between(hard, lab.t_on, lab.t_on + 1.0)]
        assert len(hard) == 0, (dev.device_id, hard[:5])
        assert len(falls) == (dev.device_id == "wrist-00002")


def test_tremor_puts_4_to_6_hz_on_top() -> None:
    sc = scenario(WRIST, events=(at("events", "tremor", "wrist-00000", 200.0, 30.0),))
    dev = device(sc, "wrist-00000")
    t, a = record(dev, "accel", 300)
    inside = between(t, 203.0, 227.0)
    assert band_fraction(a[inside], 50.0, 4.0, 6.0) > 0.8
    rms = np.sqrt(((a[inside] - a[inside].mean(axis=0)) ** 2).sum(axis=1).mean())
    assert rms > 1.0  # m/s², ≥ 20× the idle noise (0.05)
    clean = record(device(scenario(WRIST), "wrist-00000"), "accel", 300)[1]
    assert band_fraction(clean[inside], 50.0, 4.0, 6.0) < 0.3


def test_arrhythmia_raises_the_beat_rate() -> None:
    clean_dev = device(scenario(WRIST, duration_s=1200), "wrist-00000")
    start, end = idle_stretch(clean_dev, 1200, 70.0)
    sc = scenario(
        WRIST,
        events=(at("events", "arrhythmia", "wrist-00000", start, end - start, magnitude=60.0),),
        duration_s=1200,
    )
    dev = device(sc, "wrist-00000")
    t, p = record(dev, "ppg", end + 1)
    clean = record(clean_dev, "ppg", end + 1)[1]
    inside = between(t, start + 15, end)  # the heart rate of the activity has settled by then
    base = beat_rate(clean[inside, 0], 25.0)
    assert 45 < base < 100  # resting
    assert beat_rate(p[inside, 0], 25.0) - base > 40
    before = t < start
    np.testing.assert_array_equal(p[before], clean[before])


def test_bearing_fault_adds_a_non_integer_harmonic_family() -> None:
    sc = scenario(MACHINE, events=(at("events", "bearing_fault", "machine-00000", 100.0, 300.0),))
    t, v = record(device(sc, "machine-00000"), "vib", 400)
    clean = record(device(scenario(MACHINE), "machine-00000"), "vib", 400)[1]
    late = between(t, 380.0, 396.0)  # near the end: the fault at its strongest
    f, p = spectrum(v[late], 512.0)
    _, p0 = spectrum(clean[late], 512.0)
    shaft = f[np.argmax(np.where((f > 15) & (f < 35), p0, 0))]
    new = f[np.argmax(p - p0)]
    assert 3.0 < new / shaft < 3.7  # BPFO: not a multiple of the shaft
    near = np.abs(f - new) < 1.0
    assert p[near].max() > 100 * p0[near].max()
    twice = np.abs(f - 2 * new) < 1.5
    assert p[twice].max() > 10 * p0[twice].max()
    # before the event the line is not there
    f1, p1 = spectrum(v[between(t, 80.0, 96.0)], 512.0)
    assert p1[np.abs(f1 - new) < 1.0].max() < 10 * np.median(p1)


def test_overheat_raises_machine_and_room_temperature() -> None:
    sc = scenario(
        MACHINE,
        DeviceGroup("env", 1),
        events=(
            at("events", "overheat", "machine-00000", 100.0, 400.0, magnitude=15.0),
            at("events", "overheat", "env-00001", 100.0, 400.0, magnitude=12.0),
        ),
    )
    fleet = {d.device_id: d for d in build_fleet(sc)}
    t, temp = record(fleet["machine-00000"], "temp", 600)
    peak = temp[between(t, 280, 320), 0].mean()
    assert peak - temp[between(t, 80, 100), 0].mean() >= 10.0
    assert abs(temp[between(t, 520, 540), 0].mean() - temp[between(t, 80, 100), 0].mean()) < 4.0
    t, clim = record(fleet["env-00001"], "climate", 600)
    hot, cold = between(t, 280, 320), between(t, 60, 100)
    assert clim[hot, 0].mean() - clim[cold, 0].mean() >= 10.0
    assert clim[hot, 1].mean() < clim[cold, 1].mean() - 10.0  # %RH falls as it warms
