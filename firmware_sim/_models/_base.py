"""What every sensor model provides, and small helpers on sample-time arrays."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from firmware_sim._catalog import SensorInfo
from firmware_sim._schedule import Injection


class SensorModel:
    """The physics of one sensor of one device, events included.

    ``render(i0, t, rng)`` returns the noiseless-plus-noise physical signal, (len(t), channels)
    float64 in the sensor's unit, for samples ``i0 …`` at times ``t`` (seconds from the scenario
    start); it is called once per block, in order, and draws its noise from ``rng``. The stream
    then applies sensor faults and the ADC. Per-channel constants the faults use: ``center``
    (the nominal level), ``spread`` (the signal's normal spread), ``noise_sd`` (its white noise);
    ``lo``/``hi`` are the ADC's rails.
    """

    info: SensorInfo
    center: np.ndarray
    spread: np.ndarray
    noise_sd: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def __init__(
        self,
        info: SensorInfo,
        *,
        center: Iterable[float],
        spread: Iterable[float],
        noise_sd: Iterable[float],
        lo: Iterable[float],
        hi: Iterable[float],
    ) -> None:
        self.info = info
        self.center = np.asarray(list(center), dtype=np.float64)
        self.spread = np.asarray(list(spread), dtype=np.float64)
        self.noise_sd = np.asarray(list(noise_sd), dtype=np.float64)
        self.lo = np.asarray(list(lo), dtype=np.float64)
        self.hi = np.asarray(list(hi), dtype=np.float64)

    def render(self, i0: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def activity_at(self, t_s: float) -> str:
        """What the wearer does at ``t_s`` (``""``: the device has no wearer)."""
        return ""


def during(
    t: np.ndarray, injections: Iterable[Injection], kind: str
) -> Iterator[tuple[slice, Injection]]:
    """``(slice of t inside the label, injection)`` for each ``kind`` injection overlapping t."""
    if not len(t):
        return
    for inj in injections:
        lab = inj.label
        if lab.kind != kind or lab.t_off <= t[0] or lab.t_on > t[-1]:
            continue
        a, b = np.searchsorted(t, (lab.t_on, lab.t_off), side="left")
        if b > a:
            yield slice(int(a), int(b)), inj


def trapezoid(t: np.ndarray, t_on: float, t_off: float, ramp: float) -> np.ndarray:
    """0 outside [t_on, t_off); rising linearly over ``ramp`` s, 1, falling over the last ``ramp``
    s."""
    ramp = max(min(ramp, (t_off - t_on) / 2), 1e-9)
    return np.clip(np.minimum(t - t_on, t_off - t) / ramp, 0.0, 1.0)


def unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` scaled to length 1."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


TWO_PI = 2 * np.pi


def fsin(phase: np.ndarray) -> np.ndarray:
    """sin(phase) as float32: the phase is reduced to [0, 2π) in float64 first, so the result is
    exact to float32 precision however large the phase (and ~10× faster than float64 sin)."""
    reduced = phase - TWO_PI * np.floor(phase * (1 / TWO_PI))
    return np.sin(reduced.astype(np.float32))


def sines(t: np.ndarray, amp: np.ndarray, freq: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Σ amp_j sin(2π freq_j t + phase_j) over j, a (len(t),) array (a few terms)."""
    out = np.zeros_like(t)
    for a, f, p in zip(amp, freq, phase, strict=True):
        out += a * fsin(TWO_PI * f * t + p)
    return out
