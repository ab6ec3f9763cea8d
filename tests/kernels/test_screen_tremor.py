"""A tremor near the top of its band is a tremor: the check sums the feature bands the tremor
band touches at the stream's rate, not one fixed band."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from kernels import _screen as scr

RATE = 50.0
N = 128


def _wrist(rng: np.random.Generator, k: int, hz: float | None) -> np.ndarray:
    """Window ``k`` of a resting wrist (1 g, sensor noise), with a tremor of ``hz`` whose
    frequency wanders ±0.15 Hz, as a tremor does."""
    t = (k * N + np.arange(N)) / RATE
    x = 0.05 * rng.standard_normal((3, N))
    x[2] += scr.G
    if hz is not None:
        phase = 2 * np.pi * hz * t + 0.15 / 0.1 * np.sin(2 * np.pi * 0.1 * t)
        x += 2.0 * np.sin(phase) * np.array([0.7, 0.6, 0.2])[:, None]
    return x.astype(np.float32)


def _tremor_flags(hz: float | None, rate_hz: float) -> list[bool]:
    rng = np.random.default_rng(2)
    screen = scr.Screen(3, scr.PROFILES["accel"], rate_hz=rate_hz)
    out = []
    for k in range(30):
        x = _wrist(rng, k, hz)
        f = np.concatenate([kernels.window_features(ch, RATE) for ch in x])
        out.append(bool(screen.flags(f, x) & scr.TREMOR))
    return out


@pytest.mark.parametrize("hz", [4.2, 5.0, 5.9, 6.6])
def test_a_tremor_anywhere_in_its_band_is_flagged_in_every_window(hz: float) -> None:
    assert all(_tremor_flags(hz, RATE))


def test_a_tremor_at_the_edge_of_one_feature_band_was_missed_by_that_band_alone() -> None:
    # rate unknown: band 1 (3.1-6.25 Hz) alone; the tremor's wander leaks into band 2
    assert sum(_tremor_flags(5.9, 0.0)) < 10
    assert not any(_tremor_flags(6.1, 0.0))


def test_a_resting_wrist_has_no_tremor() -> None:
    assert not any(_tremor_flags(None, RATE))
