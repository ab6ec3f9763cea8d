"""A small real FFT in the kernels' own code (compiled inner functions).

The spectral features, the line watch and the heart-rate estimator need ``rfft`` of one window.
It is written here rather than taken from ``np.fft`` (rocket-fft) because ahead-of-time
compiled kernels cannot call into rocket-fft's native library (it allocates through Numba's
runtime and is bound when Numba is imported), and a device runs those kernels without Numba.
One piece of code for both paths keeps the JIT and AOT results bit-identical.

* ``n`` a power of two: an iterative radix-2 transform (bit reversal, then butterflies) with
  twiddles computed once per call from ``cos``/``sin`` of ``2 pi k / n`` for the first eighth of
  the circle and exact symmetries for the rest (no recurrence, so no error growth);
* any other ``n``: Bluestein's algorithm (a chirp-z transform as a circular convolution of
  length ``M = 2**ceil(log2(2 n - 1))``, done with three power-of-two transforms).

The result agrees with ``np.fft.rfft`` to a few ulps of the largest bin (the error of any
O(n log n) transform), well inside the feature tolerances of the golden vectors.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._backend import njit
from kernels._config import JIT


@njit(**JIT)
def _twiddles(n):  # pragma: no cover - compiled
    """``exp(-2 pi i k / n)`` for ``k < n / 2`` (n a power of two) as (real, imag) float64 arrays.

    Only the first eighth of the circle is computed (``cos``/``sin`` are most of an FFT's cost
    at these sizes); the rest follows exactly from the symmetries ``w[n/4 - k] = -i conj(w[k])``
    and ``w[k + n/4] = -i w[k]``.
    """
    half = n // 2
    wr = np.empty(half, dtype=np.float64)
    wi = np.empty(half, dtype=np.float64)
    if n < 8:
        for k in range(half):
            a = -2.0 * math.pi * k / n
            wr[k] = math.cos(a)
            wi[k] = math.sin(a)
        return wr, wi
    q = n // 4
    e = n // 8
    for k in range(e):
        a = -2.0 * math.pi * k / n
        c = math.cos(a)
        s = math.sin(a)
        wr[k] = c
        wi[k] = s
        wr[q - k] = -s
        wi[q - k] = -c
    a = -2.0 * math.pi * e / n
    wr[e] = math.cos(a)
    wi[e] = math.sin(a)
    for k in range(q):
        wr[k + q] = wi[k]
        wi[k + q] = -wr[k]
    return wr, wi


@njit(**JIT)
def _fft_pow2(re, im, wr, wi):  # pragma: no cover - compiled
    """In-place forward complex FFT (``exp(-2 pi i jk / n)``) of ``re + i im``.

    Parameters
    ----------
    re, im : float64 (n,), n a power of two
        Real and imaginary parts; overwritten by the transform.
    wr, wi : float64 (n // 2,)
        The twiddles of :func:`_twiddles` for ``n``.
    """
    n = re.shape[0]
    if n < 2:
        return
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            t = re[i]
            re[i] = re[j]
            re[j] = t
            t = im[i]
            im[i] = im[j]
            im[j] = t
    size = 2
    while size <= n:
        half = size // 2
        stride = n // size
        for k in range(half):
            c = wr[k * stride]
            s = wi[k * stride]
            for start in range(0, n, size):
                a = start + k
                b = a + half
                tr = c * re[b] - s * im[b]
                ti = c * im[b] + s * re[b]
                re[b] = re[a] - tr
                im[b] = im[a] - ti
                re[a] = re[a] + tr
                im[a] = im[a] + ti
        size *= 2


@njit(**JIT)
def rfft(x):  # pragma: no cover - compiled
    """Bins ``0 .. n // 2`` of the DFT of a real signal.

    Parameters
    ----------
    x : float64 (n,), n >= 1

    Returns
    -------
    (re, im) : float64 (n // 2 + 1,) each
        Real and imaginary parts of ``sum_j x[j] exp(-2 pi i j k / n)``.
    """
    n = x.shape[0]
    m = n // 2 + 1
    if n & (n - 1) == 0:
        re = np.empty(n, dtype=np.float64)
        im = np.zeros(n, dtype=np.float64)
        for i in range(n):
            re[i] = x[i]
        wr, wi = _twiddles(n)
        _fft_pow2(re, im, wr, wi)
        return re[:m].copy(), im[:m].copy()
    # Bluestein: X[k] = conj(c[k]) * sum_j (x[j] conj(c[j])) c[k - j], c[j] = exp(i pi j^2 / n)
    big = 1
    while big < 2 * n - 1:
        big *= 2
    cr = np.empty(n, dtype=np.float64)
    ci = np.empty(n, dtype=np.float64)
    # (n - j)^2 = j^2 + n^2 (mod 2n): c[n - j] = (-1)^n c[j], so half the circle is enough
    sign = -1.0 if n % 2 else 1.0
    for j in range(n // 2 + 1):
        a = math.pi * ((j * j) % (2 * n)) / n  # j^2 mod 2n keeps the angle small and exact
        cr[j] = math.cos(a)
        ci[j] = math.sin(a)
    for j in range(n // 2 + 1, n):
        cr[j] = sign * cr[n - j]
        ci[j] = sign * ci[n - j]
    ar = np.zeros(big, dtype=np.float64)
    ai = np.zeros(big, dtype=np.float64)
    br = np.zeros(big, dtype=np.float64)
    bi = np.zeros(big, dtype=np.float64)
    for j in range(n):
        ar[j] = x[j] * cr[j]
        ai[j] = -x[j] * ci[j]
        br[j] = cr[j]
        bi[j] = ci[j]
    for j in range(1, n):
        br[big - j] = cr[j]
        bi[big - j] = ci[j]
    wr, wi = _twiddles(big)
    _fft_pow2(ar, ai, wr, wi)
    _fft_pow2(br, bi, wr, wi)
    # product, conjugated: the inverse transform is conj(fft(conj(z))) / big
    for k in range(big):
        pr = ar[k] * br[k] - ai[k] * bi[k]
        pi = ar[k] * bi[k] + ai[k] * br[k]
        ar[k] = pr
        ai[k] = -pi
    _fft_pow2(ar, ai, wr, wi)
    re = np.empty(m, dtype=np.float64)
    im = np.empty(m, dtype=np.float64)
    for k in range(m):
        vr = ar[k] / big
        vi = -ai[k] / big
        re[k] = vr * cr[k] + vi * ci[k]
        im[k] = vi * cr[k] - vr * ci[k]
    return re, im
