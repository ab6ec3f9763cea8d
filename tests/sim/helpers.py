"""Scenarios built in code and small signal measures for the simulator's tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from firmware_sim import DeviceGroup, InjectionSpec, Scenario, SimDevice, build_fleet

G = 9.80665


def scenario(
    *groups: DeviceGroup,
    events: tuple[InjectionSpec, ...] = (),
    faults: tuple[InjectionSpec, ...] = (),
    seed: int = 5,
    duration_s: float = 600.0,
) -> Scenario:
    return Scenario("test", seed, duration_s, groups, events=events, faults=faults)


def at(section: str, kind: str, device: str, t: float, duration: float, **kw: Any) -> InjectionSpec:
    """An explicit event (``section="events"``) or fault at ``t`` on ``device``."""
    return InjectionSpec(section, 0, kind, at_s=t, device=device, duration_s=duration, **kw)


def device(sc: Scenario, device_id: str) -> SimDevice:
    (dev,) = [d for d in build_fleet(sc) if d.device_id == device_id]
    return dev


def record(dev: SimDevice, sensor: str, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(t, samples as float64) of the first ``seconds`` of ``sensor``."""
    info = dev.sensor(sensor)
    x = dev.take(sensor, round(seconds * info.rate_hz)).astype(np.float64)
    return np.arange(len(x)) / info.rate_hz, x


def between(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return (t >= a) & (t < b)


def band_fraction(x: np.ndarray, rate: float, lo: float, hi: float) -> float:
    """Share of the (mean-removed, all-channel) power in [lo, hi] Hz."""
    x = x - x.mean(axis=0)
    f = np.fft.rfftfreq(len(x), 1 / rate)
    p = (np.abs(np.fft.rfft(x, axis=0)) ** 2).reshape(len(f), -1).sum(axis=1)
    return float(p[(f >= lo) & (f <= hi)].sum() / p[1:].sum())


def spectrum(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, Hann-windowed power summed over channels)."""
    x = x - x.mean(axis=0)
    w = np.hanning(len(x))[:, None]
    return np.fft.rfftfreq(len(x), 1 / rate), (np.abs(np.fft.rfft(x * w, axis=0)) ** 2).sum(axis=1)


def beat_rate(ppg: np.ndarray, rate: float) -> float:
    """Beats per minute: peaks of the 0.5-4 Hz band, at most one per 0.3 s."""
    x = ppg - ppg.mean()
    f = np.fft.rfftfreq(len(x), 1 / rate)
    spec = np.fft.rfft(x)
    spec[(f < 0.5) | (f > 4.0)] = 0
    y = np.fft.irfft(spec, len(x))
    threshold = 0.5 * np.percentile(y, 95)
    peaks = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > threshold)) + 1
    beats = [int(peaks[0])]
    for i in peaks[1:]:
        if i - beats[-1] >= 0.3 * rate:
            beats.append(int(i))
    return (len(beats) - 1) / ((beats[-1] - beats[0]) / rate) * 60


def idle_stretch(dev: SimDevice, horizon: float, length: float) -> tuple[float, float]:
    """The first [start, end) of at least ``length`` s in which the wearer is idle."""
    start = None
    for t in np.arange(0.0, horizon, 0.5):
        if dev.activity_at(float(t)) == "idle":
            start = float(t) if start is None else start
            if t - start >= length:
                return start, float(t)
        else:
            start = None
    raise AssertionError("no idle stretch; pick another seed")
