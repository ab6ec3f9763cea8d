"""Sensor detectors with state carried across windows: step counter and heart rate.

Both are small state machines: a compiled kernel takes one window plus a float64 state array and
updates the state in place, and a Python class holds the state and exposes ``state()`` /
``from_state()`` so that a device can persist it across reboots.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._backend import njit
from kernels._config import JIT
from kernels._errors import KernelInputError, StateError
from kernels._rfft import rfft
from kernels._validate import as_float_array, check_fs

# step counter state layout
_S_INIT, _S_BASE, _S_LP, _S_ENV, _S_ARMED, _S_SINCE = range(6)
STEP_STATE_LEN = 6


@njit(**JIT)
def step_kernel(acc, fs, min_amplitude, min_interval, state):  # pragma: no cover - compiled
    """Count steps in one window of 3-axis acceleration; update ``state`` in place.

    Parameters
    ----------
    acc : float32/float64 (n, 3)
        Acceleration, m/s² (any unit works if ``min_amplitude`` uses it).
    fs : float
        Sample rate, Hz.
    min_amplitude : float
        Smallest step amplitude (same unit as ``acc``).
    min_interval : float
        Shortest time between two steps, s.
    state : float64 (STEP_STATE_LEN,)

    Returns
    -------
    int
        Steps detected in this window. Samples with a non-finite axis are skipped.
    """
    a_base = 1.0 - math.exp(-1.0 / fs)  # 1 s baseline (gravity + posture)
    a_lp = 1.0 - math.exp(-2.0 * math.pi * 3.0 / fs)  # 3 Hz low-pass
    a_env = 1.0 - math.exp(-1.0 / (2.0 * fs))  # 2 s envelope
    refractory = min_interval * fs
    steps = 0
    for i in range(acc.shape[0]):
        ax = np.float64(acc[i, 0])
        ay = np.float64(acc[i, 1])
        az = np.float64(acc[i, 2])
        mag = math.sqrt(ax * ax + ay * ay + az * az)
        if not math.isfinite(mag):
            continue
        if state[_S_INIT] == 0.0:
            state[_S_INIT] = 1.0
            state[_S_BASE] = mag
            state[_S_SINCE] = refractory
        state[_S_BASE] += a_base * (mag - state[_S_BASE])
        state[_S_LP] += a_lp * (mag - state[_S_BASE] - state[_S_LP])
        lp = state[_S_LP]
        state[_S_ENV] += a_env * (abs(lp) - state[_S_ENV])
        thr = max(0.5 * min_amplitude, 0.6 * state[_S_ENV])
        state[_S_SINCE] += 1.0
        if state[_S_ARMED] != 0.0 and lp > thr and state[_S_SINCE] >= refractory:
            steps += 1
            state[_S_ARMED] = 0.0
            state[_S_SINCE] = 0.0
        elif lp < 0.0:
            state[_S_ARMED] = 1.0
    return steps


class StepCounter:
    """Step counter on 3-axis acceleration, fed window by window.

    Magnitude, minus a 1 s moving baseline (gravity), low-passed at 3 Hz; a step is an upward
    crossing of an adaptive threshold (60 % of the 2 s envelope, at least ``min_amplitude / 2``),
    re-armed when the signal goes below zero, at most one per ``min_interval``.

    Parameters
    ----------
    fs : float
        Sample rate, Hz.
    min_amplitude : float, optional
        Smallest step amplitude, m/s². Default 1.0.
    min_interval : float, optional
        Shortest time between steps, s. Default 0.25 (240 steps/min).
    """

    def __init__(
        self, fs: float, *, min_amplitude: float = 1.0, min_interval: float = 0.25
    ) -> None:
        self.fs = check_fs(fs)
        if not (math.isfinite(min_amplitude) and min_amplitude > 0.0):
            raise KernelInputError("min_amplitude", "must be finite and > 0")
        if not (math.isfinite(min_interval) and min_interval >= 0.0):
            raise KernelInputError("min_interval", "must be finite and >= 0")
        self.min_amplitude = float(min_amplitude)
        self.min_interval = float(min_interval)
        self.total = 0
        self._state = np.zeros(STEP_STATE_LEN, dtype=np.float64)

    def update(self, acc: np.ndarray) -> int:
        """Feed one window, float32/float64 shape (n, 3) in m/s²; return the steps found in it."""
        a = as_float_array(acc, "acc", 2)
        if a.shape[1] != 3:
            raise KernelInputError("acc", f"expected shape (n, 3), got {a.shape}")
        steps = int(step_kernel(a, self.fs, self.min_amplitude, self.min_interval, self._state))
        self.total += steps
        return steps

    def state(self) -> np.ndarray:
        """State for persistence: float64 [fs, min_amplitude, min_interval, total, kernel state]."""
        head = [self.fs, self.min_amplitude, self.min_interval, float(self.total)]
        return np.concatenate([head, self._state])

    @classmethod
    def from_state(cls, arr: np.ndarray) -> StepCounter:
        """Rebuild from :meth:`state`; raises :class:`StateError` if it does not fit."""
        a = np.asarray(arr, dtype=np.float64)
        if a.shape != (4 + STEP_STATE_LEN,) or not np.isfinite(a).all():
            raise StateError("not a StepCounter state")
        try:
            obj = cls(a[0], min_amplitude=a[1], min_interval=a[2])
        except KernelInputError as exc:
            raise StateError(f"invalid parameters in state: {exc}") from exc
        obj.total = int(a[3])
        obj._state = a[4:].copy()
        return obj


@njit(**JIT)
def hr_kernel(x, fs, ring, meta, lo_hz, hi_hz, min_fill):  # pragma: no cover - compiled
    """Append a PPG/ECG-like window to the ring buffer and estimate the heart rate.

    Parameters
    ----------
    x : float32/float64 (n,)
        New samples (non-finite samples are replaced by the previous sample).
    fs : float
        Sample rate, Hz.
    ring : float64 (L,)
        Ring buffer of the last L samples (updated in place).
    meta : float64 (2,)
        [write position, number of valid samples] (updated in place).
    lo_hz, hi_hz : float
        Search band, Hz.
    min_fill : int
        Samples needed before an estimate is made.

    Returns
    -------
    float
        Heart rate, beats per minute: the strongest spectral peak of the Hann-windowed,
        zero-padded buffer inside [lo_hz, hi_hz], refined by parabolic interpolation; NaN before
        ``min_fill`` samples or when the buffer is flat.
    """
    size = ring.shape[0]
    pos = int(meta[0])
    fill = int(meta[1])
    last = ring[(pos - 1) % size] if fill > 0 else 0.0
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        if not math.isfinite(v):
            v = last
        ring[pos] = v
        last = v
        pos = (pos + 1) % size
        fill = min(fill + 1, size)
    meta[0] = pos
    meta[1] = fill
    if fill < min_fill:
        return np.nan
    nfft = 1
    while nfft < 4 * fill:
        nfft *= 2
    buf = np.zeros(nfft, dtype=np.float64)
    start = (pos - fill) % size
    mean = 0.0
    for i in range(fill):
        mean += ring[(start + i) % size]
    mean /= fill
    for i in range(fill):
        w = 0.5 - 0.5 * math.cos(2.0 * math.pi * i / fill)
        buf[i] = (ring[(start + i) % size] - mean) * w
    sre, sim = rfft(buf)
    k0 = max(1, int(lo_hz * nfft / fs) + 1)
    k1 = min(nfft // 2 - 1, int(hi_hz * nfft / fs))
    best = 0.0
    kb = -1
    for k in range(k0, k1 + 1):
        p = sre[k] ** 2 + sim[k] ** 2
        if p > best:
            best = p
            kb = k
    if kb < 0 or not best > 0.0:
        return np.nan
    pm = sre[kb - 1] ** 2 + sim[kb - 1] ** 2
    pp = sre[kb + 1] ** 2 + sim[kb + 1] ** 2
    den = pm - 2.0 * best + pp
    shift = 0.5 * (pm - pp) / den if den != 0.0 else 0.0
    return 60.0 * (kb + shift) * fs / nfft


class HeartRateEstimator:
    """Heart rate (bpm) from a PPG- or ECG-like signal, fed window by window.

    Keeps the last ``span`` seconds in a ring buffer (bounded memory) and returns the dominant
    frequency in 40–210 bpm of that buffer.

    Parameters
    ----------
    fs : float
        Sample rate, Hz.
    span : float, optional
        Seconds of signal analysed, default 8.0.
    min_span : float, optional
        Seconds needed before the first estimate (NaN before), default 4.0.
    """

    LO_HZ = 40.0 / 60.0
    HI_HZ = 210.0 / 60.0

    def __init__(self, fs: float, *, span: float = 8.0, min_span: float = 4.0) -> None:
        self.fs = check_fs(fs)
        if not (math.isfinite(span) and span * self.fs >= 8):
            raise KernelInputError("span", "must be finite and hold at least 8 samples")
        if not (math.isfinite(min_span) and 0.0 < min_span <= span):
            raise KernelInputError("min_span", "must be in (0, span]")
        self.span = float(span)
        self.min_span = float(min_span)
        self._ring = np.zeros(round(span * self.fs), dtype=np.float64)
        self._meta = np.zeros(2, dtype=np.float64)

    def update(self, x: np.ndarray) -> float:
        """Feed one window, float32/float64 shape (n,); return the current bpm (NaN if unknown)."""
        xa = as_float_array(x, "x", 1)
        min_fill = max(8, round(self.min_span * self.fs))
        bpm = hr_kernel(xa, self.fs, self._ring, self._meta, self.LO_HZ, self.HI_HZ, min_fill)
        return float(bpm)

    def state(self) -> np.ndarray:
        """State for persistence: float64 [fs, span, min_span, pos, fill, ring...]."""
        return np.concatenate([[self.fs, self.span, self.min_span], self._meta, self._ring])

    @classmethod
    def from_state(cls, arr: np.ndarray) -> HeartRateEstimator:
        """Rebuild from :meth:`state`; raises :class:`StateError` if it does not fit."""
        a = np.asarray(arr, dtype=np.float64)
        if a.ndim != 1 or a.shape[0] < 5 or not np.isfinite(a).all():
            raise StateError("not a HeartRateEstimator state")
        try:
            obj = cls(a[0], span=a[1], min_span=a[2])
        except KernelInputError as exc:
            raise StateError(f"invalid parameters in state: {exc}") from exc
        if a.shape[0] != 5 + obj._ring.shape[0]:
            raise StateError("ring buffer length does not match the state's parameters")
        meta = a[3:5]
        if not (0 <= meta[0] < obj._ring.shape[0] and 0 <= meta[1] <= obj._ring.shape[0]):
            raise StateError("ring buffer position out of range")
        obj._meta = meta.copy()
        obj._ring = a[5:].copy()
        return obj
