"""Linear prediction of a block's floats (the ENT transforms ``PRED + k``, stream version 3).

Smooth full-precision signals defeat integer deltas of the float bit patterns: a sine's third
difference is still hundreds of ulps. A linear predictor of order ``k`` (1..MAX_PRED) fitted to
the block by least squares does not: a sinusoid satisfies ``x[i] = 2 cos(w) x[i-1] - x[i-2]``
exactly, so its residual is an ulp or two. The block's values are split into the
:data:`kernels._ent.LANES` lanes of the entropy coder (lane ``j`` holds values ``j q`` up to
``min(m, (j + 1) q)``, ``q = ceil(m / LANES)``), and each lane is predicted on its own: the
first ``k`` values of a lane by the order-1 delta of latents (``v[i-1]``, 0 for the lane's first
value), the others by::

    s = c[k-1] * y[i-k] + c[k-2] * y[i-k+1] + ... + c[0] * y[i-1]

evaluated in float64 in exactly that order (the newest value last), with the coefficients
``c`` float32 (as stored in the block) widened to float64 and ``y`` the already decoded values
as float64. The predicted latent is ``latent(float32(s))``, or ``v[i-1]`` when ``s`` is not
finite, and the residual ``v[i] - prediction`` is zig-zag mapped and coded like every other ENT
transform. Encoder and decoder evaluate the same IEEE expression (no fast-math, no contraction:
:data:`kernels._config.JIT_EXACT`), so the predictions agree to the bit. Each step waits for the
one before it (a multiply-add and three conversions, ~10 ns): the four lanes are four
independent chains that the decoder runs interleaved.

The encoder fits by the covariance method: the normal equations over ``i = MAX_PRED .. m-1``
(the whole block, lanes ignored), solved by a Cholesky factorisation whose leading parts give
every order at once, with the residual energy of each. The order comes from those energies (half
a bit per value per halving of the energy, against 32 bits per coefficient) and is compared
with the energies of delta orders 1-3 and lags 2-4 from the same sums: the expected saving, in
bits a value, decides in the codec whether that order's residuals are computed at all, and
whether the other transforms are still ranked against it.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._backend import njit
from kernels._config import JIT_EXACT_INLINE, JIT_EXACT_INNER
from kernels._ent import LANES, from_latent, to_latent, unzigzag, zigzag

#: Transform codes PRED + k, 1 <= k <= MAX_PRED (stream version 3).
PRED = 8
MAX_PRED = 4
#: Energies are floored at this fraction of the signal's (float32 keeps 24 bits).
_FLOOR = 2.0**-50
#: A Cholesky pivot below this fraction of its diagonal ends the orders (collinear lags).
_PIVOT = 1e-10
#: Coded bits of one coefficient (float32).
COEF_BITS = 32


@njit(**JIT_EXACT_INLINE)
def order(tr):  # pragma: no cover - compiled
    """The predictor order of ENT transform ``tr`` (0: not a predictor transform)."""
    return tr - PRED if PRED < tr <= PRED + MAX_PRED else 0


@njit(**JIT_EXACT_INLINE)
def combine(c, y, i, k, newest):  # pragma: no cover - compiled
    """The float64 prediction ``s`` of ``y[i]`` (see the module doc for the order of terms);
    ``newest`` is ``float64(y[i - 1])``, which a decoder holds in a register. Written out per
    order: a loop over a run-time ``k`` keeps the compiler from unrolling the callers."""
    if k == 1:
        return c[0] * newest
    if k == 2:
        return c[1] * np.float64(y[i - 2]) + c[0] * newest
    if k == 3:
        return c[2] * np.float64(y[i - 3]) + c[1] * np.float64(y[i - 2]) + c[0] * newest
    s = c[3] * np.float64(y[i - 4]) + c[2] * np.float64(y[i - 3]) + c[1] * np.float64(y[i - 2])
    return s + c[0] * newest


@njit(**JIT_EXACT_INLINE)
def latent_guess(s, prev):  # pragma: no cover - compiled
    """The latent predicted by ``s``; ``prev`` when ``s`` is not finite."""
    if math.isfinite(s):
        return to_latent(np.float32(s).view(np.uint32))
    return prev


@njit(**JIT_EXACT_INNER)
def _normal_equations(y, m, cov):  # pragma: no cover - compiled
    """``cov[a, b] = sum(y[i-a] * y[i-b] for i in MAX_PRED..m-1)``, a, b in 0..MAX_PRED: one
    pass for the first row, the rest by sliding the window; False when not all finite."""
    q = MAX_PRED
    s0 = s1 = s2 = s3 = s4 = 0.0
    y1 = np.float64(y[q - 1])
    y2 = np.float64(y[q - 2])
    y3 = np.float64(y[q - 3])
    y4 = np.float64(y[q - 4])
    for i in range(q, m):  # the lags in registers
        y0 = np.float64(y[i])
        s0 += y0 * y0
        s1 += y0 * y1
        s2 += y0 * y2
        s3 += y0 * y3
        s4 += y0 * y4
        y4, y3, y2, y1 = y3, y2, y1, y0
    cov[0, 0], cov[0, 1], cov[0, 2], cov[0, 3], cov[0, 4] = s0, s1, s2, s3, s4
    for a in range(q):
        ya = np.float64(y[q - 1 - a])
        za = np.float64(y[m - 1 - a])
        for b in range(a, q):
            yb = np.float64(y[q - 1 - b])
            zb = np.float64(y[m - 1 - b])
            cov[a + 1, b + 1] = cov[a, b] + ya * yb - za * zb
    ok = True
    for a in range(q + 1):
        for b in range(a, q + 1):
            cov[b, a] = cov[a, b]
            ok = ok and math.isfinite(cov[a, b])
    return ok


@njit(**JIT_EXACT_INLINE)
def _delta_energy(cov, d):  # pragma: no cover - compiled
    """Energy of the order-``d`` (2 or 3) difference (binomial weights) from the sums ``cov``."""
    w0, w1, w2, w3 = 1.0, -2.0, 1.0, 0.0
    if d == 3:
        w0, w1, w2, w3 = 1.0, -3.0, 3.0, -1.0
    e = 0.0
    w = (w0, w1, w2, w3)
    for a in range(4):
        for b in range(4):
            e += w[a] * w[b] * cov[a, b]
    return e


@njit(**JIT_EXACT_INNER)
def fit(y, m, c, cov, chol):  # pragma: no cover - compiled
    """Least-squares predictor of ``y[:m]`` (any real dtype): ``(k, gain)``, its order with
    ``c[:k]`` the float32-rounded coefficients (as float64) and the bits a value it is expected
    to save over the best delta order or lag up to MAX_PRED; ``k`` 0 when no order beats them
    or the block is too short, -1 when the sums are not finite (NaN or inf in ``y``).

    ``cov`` and ``chol`` are float64 (MAX_PRED + 1, MAX_PRED + 1) scratch (``chol[0]`` holds
    the forward solution).
    """
    q = MAX_PRED
    n = m - q
    if n <= 2 * q:
        return 0, 0.0
    if not _normal_equations(y, m, cov):
        return -1, 0.0
    floor = max(cov[0, 0] * _FLOOR, 1e-300)
    delta = min(_delta_energy(cov, 2), _delta_energy(cov, 3))
    for lag in range(1, q + 1):  # order 1 and lags 2-4: periodic signals code exactly by lag
        delta = min(delta, cov[0, 0] - 2.0 * cov[0, lag] + cov[lag, lag])
    delta_bits = 0.5 * n * math.log2(max(delta, floor))
    best_bits = delta_bits
    best = 0
    # Cholesky of cov[1:, 1:] = L L^T, row by row; w = L^-1 cov[1:, 0]; E_k = cov00 - |w[:k]|^2
    w = chol[0]
    energy = cov[0, 0]
    for j in range(q):
        for t in range(j):
            acc = cov[j + 1, t + 1]
            for u in range(t):
                acc -= chol[j + 1, u] * chol[t + 1, u]
            chol[j + 1, t] = acc / chol[t + 1, t]
        acc = cov[j + 1, j + 1]
        for u in range(j):
            acc -= chol[j + 1, u] * chol[j + 1, u]
        if not (acc > _PIVOT * cov[j + 1, j + 1] and acc > 0.0):
            break  # collinear lags: no higher order
        chol[j + 1, j] = math.sqrt(acc)
        acc = cov[j + 1, 0]
        for u in range(j):
            acc -= chol[j + 1, u] * w[u]
        w[j] = acc / chol[j + 1, j]
        energy -= w[j] * w[j]
        bits = 0.5 * n * math.log2(max(energy, floor)) + COEF_BITS * (j + 1)
        if bits < best_bits:
            best_bits = bits
            best = j + 1
    if best == 0:
        return 0, 0.0
    # back substitution L[:k, :k]^T c = w[:k]
    for j in range(best - 1, -1, -1):
        acc = w[j]
        for u in range(j + 1, best):
            acc -= chol[u + 1, j] * c[u]
        c[j] = acc / chol[j + 1, j]
    for j in range(best):
        c[j] = np.float64(np.float32(c[j]))
        if not math.isfinite(c[j]):
            return 0, 0.0
    return best, (delta_bits - best_bits) / n


@njit(**JIT_EXACT_INLINE)
def lane_bounds(m, j):  # pragma: no cover - compiled
    """Start and stop of lane ``j`` of ``m`` values (the lanes of :mod:`kernels._ent`)."""
    q = (m + LANES - 1) // LANES
    return min(m, j * q), min(m, (j + 1) * q)


@njit(**JIT_EXACT_INNER)
def residuals(x, v, m, k, c, z):  # pragma: no cover - compiled
    """Coded residuals (uint64, into ``z``) of the latents ``v[:m]`` of the float32 block ``x``
    under the order-``k`` predictor ``c``, each lane on its own."""
    for j in range(LANES):
        a, b = lane_bounds(m, j)
        if a == b:
            continue
        z[a] = zigzag(v[a])
        for i in range(a + 1, min(a + k, b)):
            z[i] = zigzag(v[i] - v[i - 1])
        for i in range(a + k, b):
            s = combine(c, x, i, k, np.float64(x[i - 1]))
            z[i] = zigzag(v[i] - latent_guess(s, v[i - 1]))


@njit(**JIT_EXACT_INLINE)
def _step(z, i, k, c, v, x, bits, prev, newest):  # pragma: no cover - compiled
    """Restore value ``i`` of a lane: (its latent, its float64 value, the out-of-range bit)."""
    prev = latent_guess(combine(c, x, i, k, newest), prev) + unzigzag(z[i])
    v[i] = prev
    b = from_latent(prev)
    bits[i] = b
    return prev, np.float64(b.view(np.float32)), np.uint64(prev + 0x80000000) >> np.uint64(32)


@njit(**JIT_EXACT_INLINE)
def _interleaved(z, q, both, k, c, v, x, bits):  # pragma: no cover - compiled
    """Steps ``k .. both-1`` of the four lanes (of ``q`` values), interleaved; the out-of-range
    bits."""
    p0, p1, p2, p3 = v[k - 1], v[q + k - 1], v[2 * q + k - 1], v[3 * q + k - 1]
    n0 = np.float64(x[k - 1])
    n1 = np.float64(x[q + k - 1])
    n2 = np.float64(x[2 * q + k - 1])
    n3 = np.float64(x[3 * q + k - 1])
    bad = np.uint64(0)
    for t in range(k, both):
        p0, n0, e0 = _step(z, t, k, c, v, x, bits, p0, n0)
        p1, n1, e1 = _step(z, q + t, k, c, v, x, bits, p1, n1)
        p2, n2, e2 = _step(z, 2 * q + t, k, c, v, x, bits, p2, n2)
        p3, n3, e3 = _step(z, 3 * q + t, k, c, v, x, bits, p3, n3)
        bad |= e0 | e1 | e2 | e3
    return bad


@njit(**JIT_EXACT_INNER)
def restore(z, m, k, c, v, x):  # pragma: no cover - compiled
    """Inverse of :func:`residuals`: latents ``v[:m]`` and float32 values ``x[:m]``; False when a
    latent is out of range (corrupt stream). The four lanes are restored interleaved: each step
    waits for the one before in its lane (a float multiply-add, two conversions), so four
    independent chains keep the core busy."""
    bits = x.view(np.uint32)
    bad = np.uint64(0)
    for j in range(LANES):  # the first k values of each lane: order-1 delta
        a, b = lane_bounds(m, j)
        prev = np.int64(0)
        for i in range(a, min(a + k, b)):
            prev += unzigzag(z[i])
            v[i] = prev
            bad |= np.uint64(prev + 0x80000000) >> np.uint64(32)
            bits[i] = from_latent(prev)
    q = (m + LANES - 1) // LANES
    a3, b3 = lane_bounds(m, LANES - 1)
    both = max(k, b3 - a3)  # steps every lane has
    if both > k:  # one copy per order: the compiler then unrolls each
        if k == 1:
            bad |= _interleaved(z, q, both, 1, c, v, x, bits)
        elif k == 2:
            bad |= _interleaved(z, q, both, 2, c, v, x, bits)
        elif k == 3:
            bad |= _interleaved(z, q, both, 3, c, v, x, bits)
        else:
            bad |= _interleaved(z, q, both, 4, c, v, x, bits)
    for j in range(LANES):  # what is left of the longer lanes
        a, b = lane_bounds(m, j)
        if a + both >= b:
            continue
        prev = v[a + both - 1]
        newest = np.float64(x[a + both - 1])
        for i in range(a + both, b):
            prev, newest, e = _step(z, i, k, c, v, x, bits, prev, newest)
            bad |= e
    return bad == np.uint64(0)
