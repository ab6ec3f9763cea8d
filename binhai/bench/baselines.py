"""Baselines of ``binhai bench kernels``, written plainly: NumPy vectorised features, a per-window
SciPy script, a one-pass batched-stats kernel (the memory-bound floor) and a plain Gorilla coder.

They are the comparison points, not product code: nothing in :mod:`kernels` imports them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

#: Numba options of the one baseline kernel (the product kernels take theirs from
#: ``kernels/_config.py``): parallel over rows, cached, same safe defaults otherwise.
_PARALLEL: dict[str, Any] = {"cache": True, "nogil": True, "parallel": True}


def numpy_features(xs: np.ndarray, fs: float) -> np.ndarray:
    """The same features, NumPy vectorised across windows (float64), as well as NumPy can."""
    x = xs.astype(np.float64)
    n = x.shape[1]
    mean = x.mean(1)
    z = x - mean[:, None]
    z2 = z * z
    m2 = z2.mean(1)
    std = np.sqrt(m2)
    safe = np.where(m2 > 0, m2, 1.0)
    skew = np.where(m2 > 0, (z2 * z).mean(1) / safe**1.5, 0.0)
    kurt = np.where(m2 > 0, (z2 * z2).mean(1) / safe**2 - 3.0, 0.0)
    mn, mx = x.min(1), x.max(1)
    rms = np.sqrt((x * x).mean(1))
    neg = x < 0
    zcr = (neg[:, 1:] != neg[:, :-1]).sum(1) / (n - 1)
    zneg = z < 0
    mcr = (zneg[:, 1:] != zneg[:, :-1]).sum(1) / (n - 1)
    mid = x[:, 1:-1]
    peaks = ((mid > x[:, :-2]) & (mid > x[:, 2:]) & (mid > (mean + std)[:, None])).sum(1)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    spec = np.fft.rfft(z * w, axis=1)[:, 1 : n // 2 + 1]
    p = spec.real**2 + spec.imag**2
    k = np.arange(1, n // 2 + 1)
    f = k * fs / n
    total = p.sum(1)
    tot = np.where(total > 0, total, 1.0)[:, None]
    q = p / tot
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(q > 0, q * np.log(q), 0.0).sum(1) / np.log(p.shape[1])
    pe = p + 1e-12 * p.max(1, keepdims=True)
    flat = np.exp(np.log(pe).mean(1)) / pe.mean(1)
    dom = f[np.argmax(p, 1)]
    cen = (p * f).sum(1) / tot[:, 0]
    roll = f[np.argmax(np.cumsum(p, 1) >= 0.85 * total[:, None], 1)]
    band = np.minimum((16 * k) // n, 7)
    bands = np.stack([p[:, band == j].sum(1) for j in range(8)], 1) / tot
    crest = np.maximum(np.abs(mn), np.abs(mx)) / np.where(rms > 0, rms, 1.0)
    mad = np.abs(z).mean(1)
    jerk = np.sqrt((np.diff(x, axis=1) ** 2).mean(1)) * fs
    ac = [(z[:, : n - lag] * z[:, lag:]).sum(1) / (n * safe) for lag in (1, 2, 4, 8)]
    cols = [mean, std, mn, mx, rms, mx - mn, skew, kurt, zcr, mcr, peaks, dom, cen, ent, flat, roll]
    return np.column_stack([*cols, bands, crest, mad, jerk, *ac]).astype(np.float32)


def scipy_window_features(x: np.ndarray, fs: float) -> list[float]:
    """One window with SciPy, the way a per-window script would do it."""
    import scipy.fft
    import scipy.signal
    import scipy.stats

    x = x.astype(np.float64)
    n = x.size
    mean, std = x.mean(), x.std()
    z = x - mean
    out = [mean, std, x.min(), x.max(), math.sqrt(np.mean(x * x)), np.ptp(x)]
    out += [scipy.stats.skew(x), scipy.stats.kurtosis(x)]
    out += [np.count_nonzero(np.diff(np.signbit(x))) / (n - 1)]
    out += [np.count_nonzero(np.diff(np.signbit(z))) / (n - 1)]
    pk, _ = scipy.signal.find_peaks(x, height=mean + std)
    out.append(len(pk))
    p = np.abs(scipy.fft.rfft(z * scipy.signal.get_window("hann", n)))[1 : n // 2 + 1] ** 2
    f = np.arange(1, n // 2 + 1) * fs / n
    tot = p.sum()
    out += [f[np.argmax(p)], (f * p).sum() / tot, scipy.stats.entropy(p) / np.log(p.size)]
    out += [scipy.stats.gmean(p + 1e-12 * p.max()) / np.mean(p + 1e-12 * p.max())]
    out += [f[np.searchsorted(np.cumsum(p), 0.85 * tot)]]
    band = np.minimum((16 * np.arange(1, n // 2 + 1)) // n, 7)
    out += [p[band == j].sum() / tot for j in range(8)]
    out += [np.abs(x).max() / out[4], np.abs(z).mean(), np.sqrt(np.mean(np.diff(x) ** 2)) * fs]
    ac = scipy.signal.correlate(z, z, mode="full")[n - 1 :] / (n * std * std)
    return [*out, ac[1], ac[2], ac[4], ac[8]]


@njit(**_PARALLEL)
def stats_batch(xs, out):  # pragma: no cover - compiled
    """mean, std, min, max, rms of each row in one pass (the memory-bound part of the features)."""
    for i in prange(xs.shape[0]):
        s = 0.0
        sq = 0.0
        mn = np.inf
        mx = -np.inf
        for j in range(xs.shape[1]):
            v = np.float64(xs[i, j])
            s += v
            sq += v * v
            mn = min(mn, v)
            mx = max(mx, v)
        n = xs.shape[1]
        mean = s / n
        out[i, 0] = mean
        out[i, 1] = math.sqrt(max(sq / n - mean * mean, 0.0))
        out[i, 2] = mn
        out[i, 3] = mx
        out[i, 4] = math.sqrt(sq / n)


def gorilla_bytes(x: np.ndarray) -> int:
    """Size of a plain Gorilla XOR coding of float32 values (32-bit variant), in bytes."""
    bits = [int(v) for v in x.view(np.uint32)]
    if not bits:
        return 0
    nbits = 32
    prev, plz, ptz = bits[0], -1, -1
    for cur in bits[1:]:
        xor = cur ^ prev
        prev = cur
        if xor == 0:
            nbits += 1
            continue
        lz = 32 - xor.bit_length()
        tz = (xor & -xor).bit_length() - 1
        if plz >= 0 and lz >= plz and tz >= ptz:
            nbits += 2 + 32 - plz - ptz
        else:
            nbits += 2 + 5 + 5 + 32 - lz - tz
            plz, ptz = lz, tz
    return (nbits + 7) // 8
