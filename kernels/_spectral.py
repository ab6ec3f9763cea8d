"""Spectral features of one window (compiled inner functions).

The spectrum follows the feature definitions of issue 3 exactly:

* ``w[k] = 0.5 - 0.5 cos(2 pi k / n)`` (periodic Hann), ``X = rfft((x - mean) * w)``
  (:func:`kernels._rfft.rfft`);
* ``P[k] = |X[k]|**2`` for ``k = 1 .. n // 2`` (DC excluded, no one-sided doubling);
* ``f[k] = k * fs / n`` (Hz).

If ``n < 2`` or ``sum(P) == 0`` every spectral feature is 0.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from kernels._backend import njit
from kernels._config import JIT
from kernels._rfft import rfft

#: Number of equal-width bands between 0 and fs/2.
N_BANDS = 8
#: Spectral roll-off fraction (``spectral_rolloff`` is where cumulative power reaches it).
ROLLOFF_FRACTION = 0.85
#: Relative floor added to every bin before the geometric mean (``spectral_flatness``).
FLATNESS_FLOOR = 1e-12

#: Names of the spectral block, in output order.
SPECTRAL_NAMES: tuple[str, ...] = (
    "dominant_freq",
    "spectral_centroid",
    "spectral_entropy",
    "spectral_flatness",
    "spectral_rolloff",
    *(f"band_power_{j}" for j in range(N_BANDS)),
)
N_SPECTRAL = len(SPECTRAL_NAMES)


@lru_cache(maxsize=64)
def hann(n: int) -> np.ndarray:
    """Periodic Hann window ``0.5 - 0.5 cos(2 pi k / n)``, float64 (n,), read-only, cached per n."""
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n, dtype=np.float64) / n)
    w.flags.writeable = False
    return w


@njit(**JIT)
def spectral_into(zw, fs, out, o):  # pragma: no cover - compiled
    """Write the spectral block of a window into ``out[o : o + N_SPECTRAL]``.

    Parameters
    ----------
    zw : float64 (n,)
        The window minus its mean, times the periodic Hann window.
    fs : float
        Sample rate, Hz.
    out : float32 (F,)
        Feature row being filled.
    o : int
        Offset of the spectral block in ``out``.
    """
    n = zw.shape[0]
    for j in range(N_SPECTRAL):
        out[o + j] = 0.0
    if n < 2:
        return
    sre, sim = rfft(zw)
    m = n // 2
    p = np.empty(m, dtype=np.float64)
    total = 0.0
    pmax = 0.0
    kmax = 0
    ksum = 0.0
    bands = np.zeros(N_BANDS, dtype=np.float64)
    for k in range(1, m + 1):
        pk = sre[k] * sre[k] + sim[k] * sim[k]
        p[k - 1] = pk
        total += pk
        ksum += k * pk
        if pk > pmax:
            pmax = pk
            kmax = k
        b = (2 * N_BANDS * k) // n
        if b > N_BANDS - 1:
            b = N_BANDS - 1
        bands[b] += pk
    if not total > 0.0:
        if total != total:  # NaN spectrum: propagate
            for j in range(N_SPECTRAL):
                out[o + j] = np.nan
        return
    df = fs / n
    out[o + 0] = kmax * df
    out[o + 1] = df * (ksum / total)
    # entropy: -sum(p ln p) with p = P / total, rewritten as ln(total) - sum(P ln P) / total
    if m > 1:
        plogp = 0.0
        for i in range(m):
            pk = p[i]
            if pk > 0.0:
                plogp += pk * math.log(pk)
        out[o + 2] = (math.log(total) - plogp / total) / math.log(m)
    # flatness: geometric mean / arithmetic mean of P + floor * max(P)
    floor = FLATNESS_FLOOR * pmax
    lsum = 0.0
    for i in range(m):
        lsum += math.log(p[i] + floor)
    out[o + 3] = math.exp(lsum / m) / (total / m + floor)
    # roll-off: lowest f[k] where the cumulative power reaches ROLLOFF_FRACTION of the total
    target = ROLLOFF_FRACTION * total
    acc = 0.0
    for i in range(m):
        acc += p[i]
        if acc >= target:
            out[o + 4] = (i + 1) * df
            break
    for j in range(N_BANDS):
        out[o + 5 + j] = bands[j] / total
