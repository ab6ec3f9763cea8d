"""The pulse check: the rate under the arm's swing, and the bound the activity explains."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from kernels._pulse import PulseWatch, pulse_bpm, subharmonic_share

FS = 25.0
N = 128
W_NS = round(N / FS * 1e9)
ACC_NS = W_NS // 2


def ppg(bpm: float, t0: float, *, swing_hz: float = 0.0, swing: float = 0.0) -> np.ndarray:
    t = t0 + np.arange(N) / FS
    phase = (bpm / 60.0 * t) % 1.0 - 0.5
    x = 20_000 + 1_000 * np.exp(-0.5 * (phase / 0.055) ** 2)
    x += swing * np.sin(2 * np.pi * swing_hz * t + 0.3)
    return x + np.random.default_rng(int(t0)).normal(0, 15, N)


def test_the_rate_is_read_under_a_stronger_swing() -> None:
    x = ppg(140.0, 0.0, swing_hz=2.8, swing=700.0)  # the swing at 168 "bpm", above the pulse
    assert abs(pulse_bpm(x, FS) - 168.0) < 4  # without the accelerometer: the swing
    assert abs(pulse_bpm(x, FS, 2.8) - 140.0) < 4


def halves(first_bpm: float, second_bpm: float, t0: float) -> np.ndarray:
    """A window whose rate changes halfway through."""
    return np.concatenate([ppg(first_bpm, t0)[: N // 2], ppg(second_bpm, t0)[N // 2 :]])


def third_harmonic(bpm: float, t0: float) -> np.ndarray:
    """A pulse whose third harmonic outgrows its fundamental: the peak is at 3 x ``bpm``."""
    t = t0 + np.arange(N) / FS
    w = 2 * np.pi * bpm / 60.0 * t
    x = 20_000 + 800 * np.sin(w) + 1_000 * np.sin(3 * w + 0.4)
    return x + np.random.default_rng(int(t0)).normal(0, 15, N)


Window = float | Callable[[float], np.ndarray]


def run(watch: PulseWatch, bpms: list[Window], stds: float, cadence: float, t0: int = 0):
    """Check a window of each of ``bpms`` (a rate, or the window's samples from its start in
    seconds), with two accelerometer windows of ``stds`` and ``cadence`` over each."""
    out = []
    for i, bpm in enumerate(bpms):
        a = t0 + i * W_NS
        for k in range(2):
            watch.activity(a + k * ACC_NS, a + (k + 1) * ACC_NS, stds, cadence, False)
        x = bpm(a / 1e9) if callable(bpm) else ppg(bpm, a / 1e9)
        out.append(watch.check(a, a + W_NS, x, FS))
    return out


def settled_at_rest() -> PulseWatch:
    watch = PulseWatch()
    settled = run(watch, [62.0] * 30, 0.1, 0.0)
    assert not any(settled) and abs(watch.rest - 62.0) < 4
    return watch


def test_a_jump_at_rest_is_flagged_at_once_when_one_window_is_sure_and_a_run_is_not() -> None:
    # the rate high in the whole window, its halves agreeing: flagged at its first window
    assert run(settled_at_rest(), [120.0] * 3, 0.1, 0.0, t0=30 * W_NS) == [True, True, True]
    # a window high only in its second half is not sure: the next window confirms
    jump = [partial(halves, 62.0, 120.0), 120.0, 120.0]
    assert run(settled_at_rest(), jump, 0.1, 0.0, t0=30 * W_NS) == [False, True, True]
    other = PulseWatch()
    run(other, [62.0] * 30, 0.1, 0.0)
    running = run(other, [140.0] * 10, 5.0, 2.8, t0=30 * W_NS)  # running explains 140 bpm
    assert not any(running)


def test_no_judgement_without_the_accelerometer_or_after_a_fall() -> None:
    watch = PulseWatch()
    assert watch.check(0, W_NS, ppg(150.0, 0.0), FS) is None
    watch.activity(0, ACC_NS, 0.1, 0.0, True)  # a fall's impact
    later = run(watch, [150.0] * 6, 0.1, 0.0, t0=ACC_NS)  # still, pulse high: the fall's
    assert not any(later)


def test_a_harmonic_taken_for_the_rate_needs_a_second_window() -> None:
    """At rest, a window whose third harmonic outgrows the fundamental reads as 3x the rate:
    high in both halves, but with a third of the rate's power at a third of it, it is not sure
    of itself; the next such window confirms (as an arrhythmia would)."""
    x = third_harmonic(66.0, 0.0)
    assert abs(pulse_bpm(x, FS) - 198.0) < 4
    assert subharmonic_share(x, FS) > 0.35
    assert subharmonic_share(ppg(120.0, 0.0), FS) < 0.35
    windows: list[Window] = [partial(third_harmonic, 66.0)] * 2
    assert run(settled_at_rest(), windows, 0.1, 0.0, t0=30 * W_NS) == [False, True]
