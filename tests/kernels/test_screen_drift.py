"""Sensor drifts seen early: a pulse wave's baseline moving faster than its own swing, and an
accelerometer axis drifting while the wrist is still."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

import kernels
from kernels import _screen as scr

G = 9.80665
PPG_RATE, ACC_RATE, N = 25.0, 50.0, 128


def _ppg(k: int, rng: np.random.Generator, drift: float = 0.0) -> np.ndarray:
    """Window ``k`` of a PPG at 66 bpm (1,000 counts), a breathing baseline, a slow wander
    (300 and 200 counts over 120 and 75 s) and ``drift`` counts more over the window."""
    t = (k * N + np.arange(N)) / PPG_RATE
    phase = (66 / 60 * t) % 1.0 - 0.5
    x = 24_000 + 1_000 * np.exp(-0.5 * (phase / 0.055) ** 2)
    x += 150 * np.sin(2 * np.pi * 0.25 * t) + 300 * np.sin(2 * np.pi * t / 120)
    x += 200 * np.sin(2 * np.pi * t / 75 + 1.0)
    x += drift * np.arange(N) / N  # the drift's ramp within the window
    return (x + 15 * rng.standard_normal(N)).reshape(1, -1)


def _first_level(
    profile: scr.SensorProfile,
    make: object,
    channels: int,
    rate: float,
    start: int,
    windows: int = 60,
) -> int | None:
    """The first window from ``start`` the screen flags LEVEL (None: none of ``windows``);
    ``make(k, rng, drifting)`` gives window ``k``, drifting from ``start`` on."""
    rng = np.random.default_rng(5)
    screen = scr.Screen(channels, profile, rate_hz=rate)
    for k in range(windows):
        x = make(k, rng, k >= start)  # type: ignore[operator]
        f = np.concatenate([kernels.window_features(c, rate) for c in x])
        if screen.flags(f, x) & scr.LEVEL:
            return k
    return None


def test_a_pulse_waves_baseline_drifting_is_flagged_at_its_first_window() -> None:
    ppg = scr.PROFILES["ppg"]
    offset = {"at": 0.0}

    def make(k: int, rng: np.random.Generator, drifting: bool) -> np.ndarray:
        step = 450.0 if drifting else 0.0  # ~1.5x the wave's std a window
        x = _ppg(k, rng, drift=step) + offset["at"]
        offset["at"] += step
        return x

    # the wander alone, over ten minutes: no flag
    assert _first_level(ppg, make, 1, PPG_RATE, start=10**6, windows=120) is None
    offset["at"] = 0.0
    assert _first_level(ppg, make, 1, PPG_RATE, start=40, windows=120) in (40, 41)
    offset["at"] = 0.0
    # without the check, the reference check waits until the drift is 10 usual distances off
    late = _first_level(replace(ppg, slope_std=0.0), make, 1, PPG_RATE, start=40, windows=120)
    assert late is None or late >= 43, late


def _wrist(
    k: int, rng: np.random.Generator, drifting: bool, *, start: int, run: bool
) -> np.ndarray:
    """A wrist at rest (gravity on z, fidgeting) or running (a 2.8 Hz swing of ~5 m/s² std and
    a mean left 0.14 g off gravity by the motion); from ``start`` the x axis drifts
    0.5 m/s² a window."""
    t = (k * N + np.arange(N)) / ACC_RATE
    x = np.zeros((3, N))
    x[2] = G
    x += 0.05 * rng.standard_normal((3, N)) + 0.1 * np.sin(2 * np.pi * 0.7 * t)
    if run:
        x[2] += 7.0 * np.sin(2 * np.pi * 2.8 * t) + 0.14 * G
    if drifting:
        x[0] += 0.5 * (k - start + 1)
    return x.astype(np.float32)


def test_an_accelerometer_drifting_while_the_wrist_is_still_is_flagged_early() -> None:
    acc = scr.PROFILES["accel"]

    def still(k: int, rng: np.random.Generator, drifting: bool) -> np.ndarray:
        return _wrist(k, rng, drifting, start=30, run=False)

    assert _first_level(acc, still, 3, ACC_RATE, start=10**6) is None
    # 0.5 m/s² on x moves the norm by only ~0.013 g at first (x is across gravity): the
    # tolerance at rest (0.04 g) is crossed after a few windows, 0.2 g much later
    early = _first_level(acc, still, 3, ACC_RATE, start=30)
    flat = _first_level(replace(acc, gravity_rest=0.0), still, 3, ACC_RATE, start=30)
    assert early is not None and early <= 36, early
    assert flat is None or flat >= early + 4, (early, flat)


def test_a_running_wrists_mean_off_gravity_is_not_a_level_move() -> None:
    acc = scr.PROFILES["accel"]

    def running(k: int, rng: np.random.Generator, drifting: bool) -> np.ndarray:
        return _wrist(k, rng, False, start=0, run=True)

    assert _first_level(acc, running, 3, ACC_RATE, start=0) is None
