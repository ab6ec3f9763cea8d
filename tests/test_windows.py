"""Windower: continuity across chunks, gap handling, hop/overlap, times of the windows."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from device_sdk import ConfigError, SensorSpec, Windower

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def ramp(start: int, n: int, channels: int = 1) -> np.ndarray:
    """(channels, n) float32 whose values are the sample index (channel c adds 1000*c)."""
    idx = np.arange(start, start + n, dtype=np.float32)
    return np.stack([idx + 1000.0 * c for c in range(channels)]).astype(np.float32)


def collect(w: Windower, samples: np.ndarray, t0_ns: int | None) -> list[tuple[int, np.ndarray]]:
    return [(t, data.copy()) for t, data in w.push(samples, t0_ns)]


def test_hop_overlap_window_starts_and_contents() -> None:
    spec = SensorSpec("acc", rate_hz=100.0, channels=1, window=8, hop=2)
    out = collect(Windower(spec), ramp(0, 20), T0)
    # windows start at sample 0, 2, ..., 12: (20 - 8) // 2 + 1 of them
    assert len(out) == 7
    for k, (t, data) in enumerate(out):
        assert t == T0 + k * 2 * NS // 100
        np.testing.assert_array_equal(data, ramp(2 * k, 8))
        assert data.shape == (1, 8)
        assert data.dtype == np.float32


def test_default_hop_is_half_window_and_hop_equal_window_does_not_overlap() -> None:
    half = Windower(SensorSpec("a", rate_hz=10.0, window=6))
    starts = [int(d[0, 0]) for _, d in half.push(ramp(0, 18), T0)]
    assert starts == [0, 3, 6, 9, 12]
    tiled = Windower(SensorSpec("a", rate_hz=10.0, window=6, hop=6))
    starts = [int(d[0, 0]) for _, d in tiled.push(ramp(0, 18), T0)]
    assert starts == [0, 6, 12]


@pytest.mark.parametrize("sizes", [[100], [1] * 100, [7, 13, 1, 50, 29], [63, 1, 36]])
def test_chunking_does_not_change_windows(sizes: list[int]) -> None:
    spec = SensorSpec("acc", rate_hz=50.0, channels=3, window=16, hop=5)
    whole = collect(Windower(spec), ramp(0, 100, 3), T0)
    w = Windower(spec)
    parts: list[tuple[int, np.ndarray]] = []
    start = 0
    for i, n in enumerate(sizes):
        # first chunk gives the time; later ones continue (None) or give the exact time
        t = T0 if i == 0 else (None if i % 2 else T0 + round(start * NS / 50.0))
        parts += collect(w, ramp(start, n, 3), t)
        start += n
    assert [t for t, _ in parts] == [t for t, _ in whole]
    for (_, a), (_, b) in zip(parts, whole, strict=True):
        np.testing.assert_array_equal(a, b)
    assert w.discarded == 0


def test_t0_does_not_drift_with_fractional_period() -> None:
    # 3 Hz: the period is not a whole number of ns; window k starts at T0 + k * hop / rate
    spec = SensorSpec("slow", rate_hz=3.0, window=4, hop=1)
    w = Windower(spec)
    times = [t for t, _ in w.push(ramp(0, 20), T0)]
    for _ in range(999):
        times += [t for t, _ in w.push(ramp(0, 20), None)]
    assert len(times) == 19997
    worst = max(abs(t - (T0 + round(Fraction(k * NS, 3)))) for k, t in enumerate(times))
    assert worst <= 1000  # ns


def test_first_chunk_needs_a_time() -> None:
    w = Windower(SensorSpec("a", rate_hz=10.0, window=4))
    with pytest.raises(ValueError):
        list(w.push(ramp(0, 4), None))


def test_gap_discards_partial_window_and_counts_it() -> None:
    spec = SensorSpec("a", rate_hz=100.0, window=8, hop=4)
    w = Windower(spec)
    first = collect(w, ramp(0, 10), T0)  # one window [0..8), samples 4..9 pending
    assert len(first) == 1
    period = NS // 100
    gap_t0 = T0 + 10 * period + 2 * period  # two periods late: > 1.5
    after = collect(w, ramp(100, 8), gap_t0)
    assert w.discarded == 6
    assert len(after) == 1
    t, data = after[0]
    assert t == gap_t0  # a new stream starts at the given time
    np.testing.assert_array_equal(data, ramp(100, 8))  # nothing from before the gap


def test_time_going_backwards_is_a_gap_too() -> None:
    w = Windower(SensorSpec("a", rate_hz=100.0, window=8, hop=8))
    collect(w, ramp(0, 5), T0)
    out = collect(w, ramp(50, 8), T0 - NS)
    assert w.discarded == 5
    assert [t for t, _ in out] == [T0 - NS]


def test_jitter_below_one_and_a_half_periods_is_not_a_gap() -> None:
    w = Windower(SensorSpec("a", rate_hz=100.0, window=8, hop=8))
    period = NS // 100
    collect(w, ramp(0, 5), T0)
    out = collect(w, ramp(5, 3), T0 + 5 * period + int(1.4 * period))
    assert w.discarded == 0
    assert len(out) == 1
    assert out[0][0] == T0  # the stream keeps its own clock
    np.testing.assert_array_equal(out[0][1], ramp(0, 8))


def test_gap_with_nothing_pending_discards_nothing() -> None:
    w = Windower(SensorSpec("a", rate_hz=10.0, window=4, hop=4))
    collect(w, ramp(0, 8), T0)  # exactly two windows, nothing left over
    collect(w, ramp(0, 4), T0 + 100 * NS)
    assert w.discarded == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_hz": 0.0},
        {"rate_hz": float("nan")},
        {"rate_hz": 10.0, "channels": 0},
        {"rate_hz": 10.0, "window": 1},
        {"rate_hz": 10.0, "window": 8, "hop": 9},
    ],
)
def test_bad_sensor_spec_is_a_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        SensorSpec("a", **kwargs)  # type: ignore[arg-type]
    assert issubclass(ConfigError, ValueError)
