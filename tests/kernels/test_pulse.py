"""The pulse check: the rate under the arm's swing, and the bound the activity explains."""

from __future__ import annotations

import numpy as np

from kernels._pulse import PulseWatch, pulse_bpm

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


def run(watch: PulseWatch, bpms: list[float], stds: float, cadence: float, t0: int = 0):
    out = []
    for i, bpm in enumerate(bpms):
        a = t0 + i * W_NS
        for k in range(2):
            watch.activity(a + k * ACC_NS, a + (k + 1) * ACC_NS, np.full(3, stds), cadence, False)
        out.append(watch.check(a, a + W_NS, ppg(bpm, a / 1e9), FS))
    return out


def test_a_jump_at_rest_is_flagged_from_its_second_window_and_a_run_is_not() -> None:
    watch = PulseWatch()
    settled = run(watch, [62.0] * 30, 0.1, 0.0)
    assert not any(settled) and abs(watch.rest - 62.0) < 4
    jump = run(watch, [120.0] * 3, 0.1, 0.0, t0=30 * W_NS)
    assert jump == [False, True, True]
    other = PulseWatch()
    run(other, [62.0] * 30, 0.1, 0.0)
    running = run(other, [140.0] * 10, 5.0, 2.8, t0=30 * W_NS)  # running explains 140 bpm
    assert not any(running)


def test_no_judgement_without_the_accelerometer_or_after_a_fall() -> None:
    watch = PulseWatch()
    assert watch.check(0, W_NS, ppg(150.0, 0.0), FS) is None
    watch.activity(0, ACC_NS, np.full(3, 0.1), 0.0, True)  # a fall's impact
    later = run(watch, [150.0] * 6, 0.1, 0.0, t0=ACC_NS)  # still, pulse high: the fall's
    assert not any(later)
