"""Window features: the device path (one window) and the cloud path (many windows, ``prange``).

Both paths call the same compiled inner function, :func:`features_into`, so a window gets the same
float32 feature vector whichever path computes it.

NaN policy (applies to every feature)
-------------------------------------
NaN propagates: a window that contains any NaN or ±inf sample (or whose float64 sum of squares
overflows) gets NaN for *every* feature. Features of a window with a non-finite sample are not
defined by the formulas below, and a partial answer would hide a sensor fault.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._backend import njit, prange
from kernels._config import JIT, JIT_PARALLEL
from kernels._spectral import N_SPECTRAL, SPECTRAL_NAMES, hann, spectral_into
from kernels._validate import as_float_array, check_fs, check_nonempty

#: Lags (samples) of the ``autocorr_lag{k}`` features.
AUTOCORR_LAGS: tuple[int, ...] = (1, 2, 4, 8)

_TIME_NAMES: tuple[str, ...] = (
    "mean",
    "std",
    "min",
    "max",
    "rms",
    "ptp",
    "skew",
    "kurtosis",
    "zero_crossing_rate",
    "mean_crossing_rate",
    "peak_count",
)
_EXTRA_NAMES: tuple[str, ...] = (
    "crest_factor",
    "mean_abs_deviation",
    "jerk_rms",
    *(f"autocorr_lag{k}" for k in AUTOCORR_LAGS),
)

#: Order of the feature vector returned by :func:`window_features`.
FEATURE_NAMES: tuple[str, ...] = _TIME_NAMES + SPECTRAL_NAMES + _EXTRA_NAMES
#: Version of the feature definitions; bumped whenever any definition or the order changes.
ALGO_VERSION: int = 1

N_FEATURES = len(FEATURE_NAMES)
_SPEC0 = len(_TIME_NAMES)
_EXTRA0 = _SPEC0 + N_SPECTRAL
_LAGS = np.array(AUTOCORR_LAGS, dtype=np.int64)


@njit(**JIT)
def features_into(x, fs, win, lags, out):  # pragma: no cover - compiled
    """Compute every feature of one window into ``out`` (the shared inner kernel).

    Parameters
    ----------
    x : float32 or float64 (n,), n >= 1
        Samples of one window.
    fs : float
        Sample rate, Hz (finite, > 0; checked by the wrapper).
    win : float64 (n,)
        Periodic Hann window of length n.
    lags : int64 (L,)
        Autocorrelation lags.
    out : float32 (F,)
        Output row, in ``FEATURE_NAMES`` order.
    """
    n = x.shape[0]
    # pass 1: sum, sum of squares, extremes, zero crossings, squared first differences
    s = 0.0
    sq = 0.0
    mn = np.inf
    mx = -np.inf
    zc = 0
    jerk = 0.0
    prev = np.float64(x[0])
    for i in range(n):
        v = np.float64(x[i])
        s += v
        sq += v * v
        mn = min(mn, v)
        mx = max(mx, v)
        if i > 0:
            zc += (prev < 0.0) != (v < 0.0)
            d = v - prev
            jerk += d * d
        prev = v
    if not (math.isfinite(s) and math.isfinite(sq) and math.isfinite(jerk)):
        for j in range(out.shape[0]):
            out[j] = np.nan
        return
    # a constant window's mean is the constant itself (exact), so every centred value is 0
    mean = mn if mn == mx else s / n
    # pass 2: centred moments, mean crossings, centred values and the Hann-windowed copy
    z = np.empty(n, dtype=np.float64)
    zw = np.empty(n, dtype=np.float64)
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    mad = 0.0
    for i in range(n):
        zi = np.float64(x[i]) - mean
        z[i] = zi
        zw[i] = zi * win[i]
        z2 = zi * zi
        m2 += z2
        m3 += z2 * zi
        m4 += z2 * z2
        mad += abs(zi)
    mc = 0
    for i in range(1, n):
        mc += (z[i - 1] < 0.0) != (z[i] < 0.0)
    var = m2 / n
    std = math.sqrt(var)
    # pass 3: local maxima above mean + std
    thr = mean + std
    pk = 0
    for i in range(1, n - 1):
        v = np.float64(x[i])
        if v > np.float64(x[i - 1]) and v > np.float64(x[i + 1]) and v > thr:
            pk += 1
    rms = math.sqrt(sq / n)
    out[0] = mean
    out[1] = std
    out[2] = mn
    out[3] = mx
    out[4] = rms
    out[5] = mx - mn
    if m2 > 0.0:
        out[6] = (m3 / n) / (var * std)
        out[7] = (m4 / n) / (var * var) - 3.0
    else:
        out[6] = 0.0
        out[7] = 0.0
    rate = 1.0 / (n - 1) if n > 1 else 0.0
    out[8] = zc * rate
    out[9] = mc * rate
    out[10] = pk
    spectral_into(zw, fs, out, _SPEC0)
    e = _EXTRA0
    peak_abs = max(abs(mn), abs(mx))
    out[e] = peak_abs / rms if rms > 0.0 else 0.0
    out[e + 1] = mad / n
    out[e + 2] = math.sqrt(jerk / (n - 1)) * fs if n > 1 else 0.0
    for j in range(lags.shape[0]):
        k = lags[j]
        acc = 0.0
        if m2 > 0.0 and k < n:
            for i in range(n - k):
                acc += z[i] * z[i + k]
            acc /= m2
        out[e + 3 + j] = acc


@njit(**JIT_PARALLEL)
def _features_many(xs, fs, win, lags, out):  # pragma: no cover - compiled
    for i in prange(xs.shape[0]):
        features_into(xs[i], fs, win, lags, out[i])


def window_features(x: np.ndarray, fs: float) -> np.ndarray:
    """Features of one window (the device path).

    Parameters
    ----------
    x : ndarray, float32 or float64, shape (n,), n >= 1
        Samples of one window, in the sensor's unit.
    fs : float
        Sample rate in Hz, finite and > 0.

    Returns
    -------
    ndarray, float32, shape (F,)
        Features in :data:`FEATURE_NAMES` order, computed in float64 and rounded to float32.
        Every feature is NaN if the window holds a NaN or ±inf (see docs/kernels.md for the
        definition, unit and constant-input value of each feature).

    Raises
    ------
    KernelInputError
        ``x`` is not a 1-D float32/float64 array with at least one sample, or ``fs`` is not
        finite and > 0.
    """
    xa = as_float_array(x, "x", 1)
    check_nonempty(xa, "x")
    rate = check_fs(fs)
    out = np.empty(N_FEATURES, dtype=np.float32)
    features_into(xa, rate, hann(xa.shape[0]), _LAGS, out)
    return out


def window_features_batch(xs: np.ndarray, fs: float) -> np.ndarray:
    """Features of many windows of one length (the cloud path, parallel over windows).

    Gives bit-for-bit the same rows as :func:`window_features` on each window: both call the
    same compiled inner function.

    Parameters
    ----------
    xs : ndarray, float32 or float64, shape (m, n), n >= 1
        One window per row.
    fs : float
        Sample rate in Hz, finite and > 0.

    Returns
    -------
    ndarray, float32, shape (m, F)
        One feature row per window, in :data:`FEATURE_NAMES` order.

    Raises
    ------
    KernelInputError
        ``xs`` is not a 2-D float32/float64 array with n >= 1, or ``fs`` is invalid.
    """
    xa = as_float_array(xs, "X", 2)
    check_nonempty(xa, "X")
    rate = check_fs(fs)
    out = np.empty((xa.shape[0], N_FEATURES), dtype=np.float32)
    if xa.shape[0]:
        _features_many(xa, rate, hann(xa.shape[1]), _LAGS, out)
    return out
