"""Integer coding of float32 blocks: decimal (ALP-style) and ADC-scale schemes, with exceptions.

A value ``x`` is coded as an integer ``d`` when one of these *exact* decodings gives ``x`` back
bit for bit (lossless mode) or within ``tol`` (lossy mode):

* kind ``DECIMAL``: ``x == float32(float64(d) / 10**e)``, ``0 <= e <= MAX_EXP`` — values
  logged with a fixed number of decimals (the idea of ALP, Afroozeh et al., SIGMOD 2024);
* kind ``SCALE``: ``x == float32(float64(d) * s)`` — ADC counts times a scale factor
  ``s`` > 0, which is estimated from the block (least squares on a sample) and stored as a float64.

Stream version 2 entropy-codes the integers (:mod:`kernels._ent`); values that no integer
decodes to (NaN, ±inf, -0.0, denormals, noise beyond float32 precision) are *exceptions* (index +
raw bits). Version 1 streams bit-packed them relative to a base (offsets from the block minimum,
FOR, or zig-zag deltas), one width per group of ``GROUP`` values, wider values *patched*
(index + 64-bit offset): :func:`int_restore` still decodes those.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._backend import njit
from kernels._bitio import bit_length
from kernels._config import JIT_EXACT_INLINE, JIT_EXACT_INNER

DECIMAL = 0
SCALE = 1
FOR = 0
DELTA = 1
MAX_EXP = 10
#: Integers are kept below 2**MAX_INT_BITS in magnitude so that float64(d) is exact.
MAX_INT_BITS = 50
#: Widest bit-packed field.
MAX_WIDTH = 56
#: Approximate cost (bits) of one exception, used to compare codings on a sample.
EXCEPTION_BITS = 48
SAMPLE = 32
#: A decimal coding without misses and at most this wide is kept without trying a scale.
_SCALE_WORTH_BITS = 16
#: Values per bit-packing group (one width byte per group).
GROUP = 64

P10 = np.array([10.0**e for e in range(MAX_EXP + 1)], dtype=np.float64)
#: 1 / 10**e as float64 quotients: stream version 2 decodes decimals with a multiplication.
INV10 = 1.0 / P10
_LIMIT = float(2**MAX_INT_BITS)


@njit(**JIT_EXACT_INLINE)
def decode_value(d, kind, e, s):  # pragma: no cover - compiled
    """The one decoding formula, used by the encoder to verify and by the decoder to decode."""
    if kind == DECIMAL:
        return np.float32(np.float64(d) / P10[e])
    return np.float32(np.float64(d) * s)


@njit(**JIT_EXACT_INLINE)
def to_int(x, kind, e, s, tol):  # pragma: no cover - compiled
    """Integer coding ``d`` of float32 ``x`` and whether it round-trips (exactly / within tol)."""
    v = np.float64(x)
    y = v * P10[e] if kind == DECIMAL else v / s
    if not abs(y) < _LIMIT:  # also rejects NaN and inf
        return 0, False
    d = int(np.rint(y))
    back = decode_value(d, kind, e, s)
    if tol > 0.0:
        return d, abs(np.float64(back) - v) <= tol
    if back != x:
        return d, False
    if x == 0.0 and math.copysign(1.0, x) < 0.0:  # -0.0 decodes as +0.0
        return d, False
    return d, True


@njit(**JIT_EXACT_INLINE)
def to_int_mul(x, e):  # pragma: no cover - compiled
    """Decimal coding of stream version 2: ``d`` with ``x == float32(float64(d) * INV10[e])``.

    A multiplication decodes several times faster than the division of version 1; the rare
    values where the two round differently become exceptions, so the coding stays exact.
    """
    v = np.float64(x)
    y = v * P10[e]
    if not abs(y) < _LIMIT:  # also rejects NaN and inf
        return 0, False
    d = int(np.rint(y))
    if np.float32(np.float64(d) * INV10[e]) != x:
        return d, False
    if x == 0.0 and math.copysign(1.0, x) < 0.0:  # -0.0 decodes as +0.0
        return d, False
    return d, True


@njit(**JIT_EXACT_INLINE)
def sample_eval(x, kind, e, s, stop):  # pragma: no cover - compiled
    """Evaluate a coding on a sample of the block: ``(misses, estimated bits a value)``.

    The estimate is the width of the integer range on the sample plus the exception cost (inf when
    nothing fits). Counting stops early, with bits = inf, as soon as ``misses > stop``.
    """
    n = x.shape[0]
    step = max(1, n // SAMPLE)
    lo = 1 << 62
    hi = -(1 << 62)
    misses = 0
    total = 0
    for i in range(0, n, step):
        total += 1
        d, good = to_int(x[i], kind, e, s, 0.0)
        if good:
            lo = min(lo, d)
            hi = max(hi, d)
        else:
            misses += 1
            if misses > stop:
                return misses, np.inf
    if misses == total:
        return misses, np.inf
    return misses, bit_length(np.uint64(hi - lo)) + EXCEPTION_BITS * misses / total


@njit(**JIT_EXACT_INLINE)
def choose_decimal(x):  # pragma: no cover - compiled
    """Cheapest decimal exponent on a sample of the block: (e, misses, bits).

    The cost is the sample's integer width plus the exceptions' (``sample_eval``): a higher
    exponent that makes a few small values exact but widens every integer by 3.3 bits loses.
    The lowest e wins ties; the search stops at the first e without misses.
    """
    best_e = 0
    best = 1 << 30
    best_bits = np.inf
    for e in range(MAX_EXP + 1):
        # stop counting once the misses alone cost more than the best so far
        stop = SAMPLE if best_bits == np.inf else int(best_bits * SAMPLE / EXCEPTION_BITS)
        m, bits = sample_eval(x, DECIMAL, e, 1.0, stop)
        if bits < best_bits:
            best = m
            best_e = e
            best_bits = bits
        if m == 0:
            break
    return best_e, best, best_bits


@njit(**JIT_EXACT_INLINE)
def choose_scale(x, vals):  # pragma: no cover - compiled
    """Estimate an ADC scale from a sample of the block: (s, misses, bits); s = 0 if none.

    ``vals`` is float64 scratch of at least SAMPLE + 1 values.
    """
    n = x.shape[0]
    step = max(1, n // SAMPLE)
    m = 0
    for i in range(0, n, step):
        v = np.float64(x[i])
        if math.isfinite(v) and m < SAMPLE + 1:
            vals[m] = v
            m += 1
    dmin = np.inf
    for i in range(m):
        for j in range(i + 1, m):
            dd = abs(vals[i] - vals[j])
            if 0.0 < dd < dmin:
                dmin = dd
    if not math.isfinite(dmin):
        return 0.0, 1 << 30, np.inf
    best_s = 0.0
    best = 1 << 30
    best_bits = np.inf
    for div in range(1, 9):
        c = dmin / div
        # refine on differences (small counts first, whose rounding error matters least), then
        # on the values themselves: each stage must be accurate to half a count of the next
        for limit in (16.0, 256.0, 4096.0, 65536.0, 4194304.0):
            num = 0.0
            den = 0.0
            for i in range(1, m):
                dv = vals[i] - vals[0]
                k = np.rint(dv / c)
                if abs(k) <= limit:
                    num += k * dv
                    den += k * k
            if den > 0.0:
                c = num / den
        num = 0.0
        den = 0.0
        for i in range(m):
            k = np.rint(vals[i] / c)
            num += k * vals[i]
            den += k * k
        if den == 0.0:
            continue
        s64 = num / den
        for cand in (np.float64(np.float32(s64)), s64):
            if cand > 0.0:
                miss, bits = sample_eval(x, SCALE, 0, cand, best - 1)
                if miss < best:
                    best = miss
                    best_s = cand
                    best_bits = bits
        if best * 4 <= m:
            break
    return best_s, best, best_bits


@njit(**JIT_EXACT_INNER)
def choose_int(x, vals, try_scale):  # pragma: no cover - compiled
    """Search the integer coding for a lossless block: (ok, kind, e, s).

    ``vals`` is float64 scratch of at least SAMPLE + 1 values. The (costly) scale search runs
    only with ``try_scale``.
    """
    e, miss, dbits = choose_decimal(x)
    if miss == 0 and (e == 0 or dbits <= _SCALE_WORTH_BITS):
        return True, DECIMAL, e, 1.0
    best = dbits if miss * 4 <= SAMPLE else np.inf
    if not try_scale:
        return best < 32.0, DECIMAL, e, 1.0
    s, smiss, sbits = choose_scale(x, vals)
    if s > 0.0 and smiss * 4 <= SAMPLE and sbits < best:
        return True, SCALE, 0, s
    return best < 32.0, DECIMAL, e, 1.0


@njit(**JIT_EXACT_INLINE)
def reuse_int(x, kind, e, s):  # pragma: no cover - compiled
    """Whether a coding chosen for an earlier block still fits this one (checked on the sample).

    It must decode every sampled value exactly, with an integer range under 32 bits; a decimal
    exponent must also be the lowest that does (e - 1 misses), as the search would pick.
    """
    m, bits = sample_eval(x, kind, e, s, 0)
    if m != 0 or not bits < 32.0:
        return False
    if kind == DECIMAL and e > 0:
        return sample_eval(x, DECIMAL, e - 1, 1.0, 0)[0] != 0
    return True


@njit(**JIT_EXACT_INLINE)
def int_restore(u, transform, base, kind, e, s, out):  # pragma: no cover - compiled
    """Inverse of the FOR / DELTA offsets followed by :func:`decode_value`, into float32 ``out``."""
    prev = base
    for i in range(u.shape[0]):
        if transform == FOR:
            di = base + np.int64(u[i])
        else:
            z = u[i]
            prev = prev + (np.int64(z >> np.uint64(1)) ^ -np.int64(z & np.uint64(1)))
            di = prev
        out[i] = decode_value(di, kind, e, s)
