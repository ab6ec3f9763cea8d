"""The cloud judges a window against the one before it only when it saw that one.

The roughness half of NOISE and the slope half of LEVEL compare a window with its predecessor.
The cloud gets the samples of some windows only: when a window's predecessor did not reach it,
its last ordinary window may be minutes old (another activity, another level), and the device,
which saw every window, knows better. Pure: no database.
"""

from __future__ import annotations

import numpy as np

import kernels
from cloud_core import Evidence, Judge
from kernels import _screen as scr

S = 10**9
RATE = 50.0
N = 128
WINDOW_NS = round(N / RATE * 1e9)


def _accel(rng: np.random.Generator, rough: float) -> np.ndarray:
    """A wrist at rest (1 g on z, a slow sway) with white noise of ``rough`` m/s²."""
    t = np.arange(N) / RATE
    x = np.zeros((3, N))
    x[2] = scr.G
    x += 0.3 * np.sin(2 * np.pi * 0.4 * t + np.arange(3)[:, None])
    x += rough * rng.standard_normal((3, N))
    return x.astype(np.float32)


def _evidence(k: int, x: np.ndarray, device_flags: int) -> Evidence:
    f = np.concatenate([kernels.window_features(ch, RATE) for ch in x]).astype(np.float32)
    return Evidence(("acme", "w1", "accel"), k * WINDOW_NS, RATE, N, f, x, flags=device_flags)


def _cloud_after(rng: np.random.Generator, windows: int) -> Judge:
    """A cloud that has seen ``windows`` ordinary windows in a row, 0 .. windows - 1."""
    judge = Judge()
    for k in range(windows):
        assert not judge.judge(_evidence(k, _accel(rng, 0.02), 0)).anomalous
    return judge


def test_a_device_noise_flag_on_a_window_after_a_gap_is_taken() -> None:
    rng = np.random.default_rng(5)
    quiet = _accel(rng, 0.02)
    # the window right after the last one the cloud saw: it checks, finds nothing, overrules
    judge = _cloud_after(rng, 40)
    seen = judge.judge(_evidence(40, quiet, scr.NOISE))
    assert not seen.anomalous
    # the same window two minutes later: the windows between did not reach the cloud
    judge = _cloud_after(np.random.default_rng(5), 40)
    blind = judge.judge(_evidence(90, quiet, scr.NOISE))
    assert blind.anomalous and blind.kind == "noise_burst"


def test_flags_the_cloud_can_check_are_not_taken_after_a_gap() -> None:
    rng = np.random.default_rng(6)
    judge = _cloud_after(rng, 40)
    # a spike is seen in the window itself: the cloud's own check decides, gap or not
    verdict = judge.judge(_evidence(90, _accel(rng, 0.02), scr.SPIKE))
    assert not verdict.anomalous


def test_a_noise_burst_is_confirmed_by_the_cloud_when_it_saw_the_window_before() -> None:
    rng = np.random.default_rng(7)
    judge = _cloud_after(rng, 40)
    verdict = judge.judge(_evidence(40, _accel(rng, 1.5), 0))  # no device flag needed
    assert verdict.anomalous and verdict.kind == "noise_burst"
