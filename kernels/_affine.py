"""Affine grids: floats that are an integer grid ``s * d + b`` rounded (the ENT source
``SRC_AFFINE``, stream version 4).

Readings that were offset and scaled in floating point — z-normalised power readings
``(p - mean) / std`` of a meter counting in fixed steps, an ADC's counts calibrated with a gain
and an offset — lie on a grid ``s * d + b`` (``d`` integer) that neither the decimal nor the
ADC-scale source reproduces (those have no offset), while their float32 bit patterns
(*latents*) count every float32 between two grid points: one step of such a grid is hundreds to
tens of thousands of latents. Coding ``d`` instead costs a few bits a step less for every value
that moves. What the grid does not reproduce to the bit (the value was printed to a few digits
before it became a float32, or rounded twice) is a *fix*: the difference in latents between the
value and ``float32(float64(d) * s + b)``, mostly ±1, listed sparsely.

The decoding formula (one IEEE expression, no contraction: :data:`kernels._config.JIT_EXACT`)::

    x = from_latent(latent(float32(float64(d) * s + b)) + r)

with ``r`` the value's fix (0 for most). Every float32 has a latent, so any value can be coded
this way, NaN payloads, ±inf, -0.0 and denormals included; the encoder gives a non-finite value
the previous ``d`` (its fix carries the rest).

The encoder estimates the grid (:func:`fit`) from the block's differences at one lag (the lag
the latents' ranking chose, or 1): the smallest difference above float32's noise is a first
step, reduced to the approximate greatest common divisor of the small differences (Euclid on
the reals, within the noise), then refined in bands of growing multiples (``s = sum |D| /
sum k`` over the differences of at most ``K`` steps, ``K`` growing as far as the step is
known) so that each band's ``k`` are right; the block is refused when more than one difference
in eight is no multiple of the step. ``s`` and ``b`` then come from weighted least squares on
the values (weights: float32's precision at each value, so values near 0 pin the grid down;
values a quarter step off it left out), again in bands of growing distance from the first
value, the step's own uncertainty holding the slope back: the integers of a cluster of values
far from the others (one channel of an interleaved signal) may come out a few steps off, so
those of the values new in a band are tried up to three steps either way (above and below the
first value on their own) and the shift with the smallest residual kept. Every value is
verified: :func:`to_ints` counts the fixes the decoder's formula needs.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._backend import njit
from kernels._config import JIT_EXACT_INLINE, JIT_EXACT_INNER
from kernels._ent import from_latent, get_varint, put_varint, to_latent

#: At least this many non-zero differences.
MIN_DIFFS = 8
#: A grid step must be at least this many float32 spacings of the block's largest value (else
#: the latents are as good).
MIN_STEP_ULPS = 4.0
#: Integers stay below this magnitude (float64(d) * s is then within a few ulps).
MAX_D = float(2**40)
#: The first band of the least-squares fit (steps from the first value).
_BAND0 = 4096.0
#: Refits once every value is in the fit.
_FINAL = 1
#: A value this far (in steps) from the grid so far is left out of the fit.
_STRAY = 0.25
#: Largest weight of a value in the fit (relative to the first value's).
_MAX_WEIGHT = 2.0**20
#: Integers of the values new in a band are tried this many steps either way.
_SHIFT = 3
#: A band reaches this much farther than the nearest value outside the last one.
_REACH = 1.25
#: Differences of at most this many (first-estimate) steps refine it to their common divisor.
_GCD_STEPS = 8.5
#: Each band of the step refinement is this many times wider than the last, at least / at most.
_GROW_MIN = 2.0
_GROW_MAX = 64.0
#: Differences within this many float32 spacings (of the two values they join) are noise.
_TOL_ULPS = 2.0
#: A difference is a multiple of the step when within this fraction of a step of one ...
_OFF = 0.25
#: ... and the block is refused when more than one in this many is not.
_OFF_SHARE = 8


@njit(**JIT_EXACT_INLINE)
def spacing(bits):  # pragma: no cover - compiled
    """float32's spacing (as float64) at the float32 with bit pattern ``bits`` (uint32, sign
    ignored): ``2**(e - 150)`` for biased exponent ``e``, ``2**-149`` for the denormals."""
    e = np.uint64((bits >> np.uint32(23)) & np.uint32(0xFF))
    e = max(e, np.uint64(1))
    return np.uint64((e + np.uint64(1023 - 150)) << np.uint64(52)).view(np.float64)


@njit(**JIT_EXACT_INNER)
def _band(x, m, lag, s, kmax):  # pragma: no cover - compiled
    """One band of the step refinement over the lag-``lag`` differences of ``x[:m]``: (the step
    from the differences of at most ``kmax`` steps, or 0.0 when there are none; their count and
    steps; differences beyond the band; differences that are no multiple of ``s``)."""
    inv = 1.0 / s
    sd = 0.0
    sk = 0.0
    cnt = 0
    beyond = 0
    off = 0
    for i in range(lag, m):
        dd = abs(np.float64(x[i]) - np.float64(x[i - lag]))
        if not (dd > 0.0 and dd < math.inf):  # equal values (the same step), or not finite
            continue
        q = dd * inv
        k = math.floor(q + 0.5)
        if k > kmax:
            beyond += 1
        elif k == 0 or abs(q - k) > _OFF:
            off += 1
        else:
            cnt += 1
            sd += dd
            sk += k
    return (sd / sk if sk > 0.0 else 0.0), cnt, sk, beyond, off


@njit(**JIT_EXACT_INNER)
def step(x, m, lag):  # pragma: no cover - compiled
    """The grid step of ``x[:m]`` from its lag-``lag`` differences and its uncertainty, or
    (0.0, 0.0) when they are not (mostly) multiples of one step coarser than ``MIN_STEP_ULPS``
    float32 spacings."""
    if m < lag + MIN_DIFFS:
        return 0.0, 0.0
    bits = x.view(np.uint32)
    mag = np.uint32(0x7FFFFFFF)
    top = np.uint32(0)  # the largest finite magnitude, as a bit pattern
    s = math.inf
    for i in range(lag, m):
        dd = abs(np.float64(x[i]) - np.float64(x[i - lag]))
        bu = bits[i] & mag
        big = max(bu, bits[i - lag] & mag)
        if dd > 2.0 * _TOL_ULPS * spacing(big) and dd < s:
            s = dd
        if bu < np.uint32(0x7F800000):
            top = max(top, bu)
    noise = 2.0 * spacing(top)  # the error of one difference: two values within a spacing
    floor = MIN_STEP_ULPS * spacing(top)
    if not (s >= floor and s < math.inf):
        return 0.0, 0.0
    # the smallest difference may be several steps: an approximate greatest common divisor
    # with the other small differences (Euclid's algorithm on the reals, within the noise)
    s_err = noise
    for i in range(lag, m):
        dd = abs(np.float64(x[i]) - np.float64(x[i - lag]))
        if not (dd > 0.0 and dd <= _GCD_STEPS * s):
            continue
        k = math.floor(dd / s + 0.5)
        r = abs(dd - k * s)
        r_err = noise + k * s_err  # what the remainder may be off by
        if r <= r_err:
            continue
        a = s
        a_err = s_err
        while r > r_err:
            q = math.floor(a / r + 0.5)
            a, r = r, abs(a - q * r)
            a_err, r_err = r_err, a_err + q * r_err
        s = a
        s_err = a_err
        if s < floor:
            return 0.0, 0.0
    kmax = 4.0
    while True:
        s2, cnt, sk, beyond, off = _band(x, m, lag, s, kmax)
        if s2 == 0.0 or cnt + off + beyond < MIN_DIFFS:
            return 0.0, 0.0
        if cnt + off >= MIN_DIFFS and _OFF_SHARE * off > cnt + off:
            return 0.0, 0.0
        s = s2
        err = noise * math.sqrt(cnt) / sk
        if beyond == 0:
            return s, err
        if kmax > MAX_D:
            return 0.0, 0.0
        # the next band as wide as the step is now known: its k must round right
        kmax = min(max(_GROW_MIN * kmax, 0.1 * s / err), _GROW_MAX * kmax)


@njit(**JIT_EXACT_INLINE)
def _rss(n, sd, se, sdd, sde, see, ridge):  # pragma: no cover - compiled
    """The least-squares line through ``(d, e)`` from its (weighted) sums, its slope held
    towards 0 with weight ``ridge`` (what the step refinement knew): (the residual sum of
    squares with that penalty, slope, intercept)."""
    cdd = sdd - sd * sd / n + ridge
    cde = sde - sd * se / n
    cee = see - se * se / n
    c = cde / cdd
    return cee - c * cde, c, (se - c * sd) / n


@njit(**JIT_EXACT_INLINE)
def _shifted(n, sd, se, sdd, sde, see, g, s, j):  # pragma: no cover - compiled
    """The sums of :func:`fit` with the integers of group ``g`` (its weight, weighted sum of
    integers and of residuals) moved ``j`` steps: each residual then moves ``-j s``."""
    gn, gd, ge = g
    sd += j * gn
    sdd += 2 * j * gd + j * j * gn
    sde += j * ge - s * j * gd - s * j * j * gn
    see += -2 * s * j * ge + s * s * j * j * gn
    se -= s * j * gn
    return n, sd, se, sdd, sde, see


@njit(**JIT_EXACT_INNER)
def fit(x, m, lag, w):  # pragma: no cover - compiled
    """``(s, b)`` of the grid ``s * d + b`` under the floats ``x[:m]``; ``s`` 0.0 when there is
    none (see the module doc). ``w`` is float64 scratch of ``m`` values."""
    s, err = step(x, m, lag)
    if s == 0.0:
        return 0.0, 0.0
    bits = x.view(np.uint32)
    ref = math.nan
    unit = 1.0
    for i in range(m):
        v = np.float64(x[i])
        if math.isfinite(v):
            if ref != ref:
                ref = v
                unit = spacing(bits[i])
            # weighted by float32's precision there: values near 0 pin the grid down
            r = unit / spacing(bits[i])
            w[i] = min(r * r, _MAX_WEIGHT)
        else:
            w[i] = 0.0
    b = ref
    # the step's uncertainty as a prior on the slope, against the values' own (a quarter of
    # float32's spacing at the first value, at weight 1)
    ridge = (0.25 * unit / err) ** 2
    inner = -1.0
    lim = _BAND0 * s
    final = 0
    while True:
        # weighted least squares of the residuals e of the grid so far against d over the
        # values within lim of the first one, from sums: corrections to s and b
        inv = 1.0 / s
        n = sd = se = sdd = sde = see = 0.0
        # the values new in this band, above and below the first one: their integers may be
        # off by a few steps (s is only known to a few parts in a million)
        nu = su = eu = nl = sl = el = 0.0
        near = math.inf  # the nearest value beyond lim
        for i in range(m):
            if w[i] == 0.0:
                continue
            v = np.float64(x[i])
            dist = abs(v - ref)
            if dist > lim:
                near = min(near, dist)
                continue
            wi = w[i]
            q = math.floor((v - b) * inv + 0.5)
            e = v - (s * q + b)
            if abs(e) > _STRAY * s:  # off the grid (a stray value): would pull it away
                continue
            n += wi
            sd += wi * q
            se += wi * e
            sdd += wi * q * q
            sde += wi * q * e
            see += wi * e * e
            if dist > inner:
                if v > ref:
                    nu += wi
                    su += wi * q
                    eu += wi * e
                else:
                    nl += wi
                    sl += wi * q
                    el += wi * e
        best, c, a = _rss(n, sd, se, sdd, sde, see, ridge)
        if inner >= 0.0:  # the values above, then those below (one search each)
            ju = 0
            for j in range(-_SHIFT, _SHIFT + 1):
                if j == 0 or nu == 0.0:
                    continue
                t0, t1, t2, t3, t4, t5 = _shifted(n, sd, se, sdd, sde, see, (nu, su, eu), s, j)
                rss, c2, a2 = _rss(t0, t1, t2, t3, t4, t5, ridge)
                if rss < best:
                    best, c, a, ju = rss, c2, a2, j
            t0, t1, t2, t3, t4, t5 = _shifted(n, sd, se, sdd, sde, see, (nu, su, eu), s, ju)
            for j in range(-_SHIFT, _SHIFT + 1):
                if j == 0 or nl == 0.0:
                    continue
                u0, u1, u2, u3, u4, u5 = _shifted(t0, t1, t2, t3, t4, t5, (nl, sl, el), s, j)
                rss, c2, a2 = _rss(u0, u1, u2, u3, u4, u5, ridge)
                if rss < best:
                    best, c, a = rss, c2, a2
        s += c
        b += a
        if not (s > 0.0 and math.isfinite(s) and math.isfinite(b)):
            return 0.0, 0.0
        if near < math.inf:  # the next band reaches the nearest values left, or twice as far
            inner = lim
            lim = max(2.0 * lim, _REACH * near)
        elif final < _FINAL:  # every value is in: refit with the integers of the better grid
            final += 1
            inner = lim
        else:
            return s, b


@njit(**JIT_EXACT_INLINE)
def value(d, s, b):  # pragma: no cover - compiled
    """The grid's float32 for integer ``d`` (the decoder's formula before the fix)."""
    return np.float32(np.float64(d) * s + b)


@njit(**JIT_EXACT_INLINE)
def fix_bytes(gap, r):  # pragma: no cover - compiled
    """Bytes of one fix: varint ``4 gap + c`` (c: 0 for r = 1, 1 for -1, 2 for r >= 2 and 3
    for r <= -2, then varint ``|r| - 2``)."""
    n = 1
    v = np.uint64(gap) * np.uint64(4) + np.uint64(3)
    while v >= np.uint64(0x80):
        v >>= np.uint64(7)
        n += 1
    if r > 1 or r < -1:
        v = np.uint64(abs(r) - 2)
        n += 1
        while v >= np.uint64(0x80):
            v >>= np.uint64(7)
            n += 1
    return n


@njit(**JIT_EXACT_INNER)
def to_ints(x, m, s, b, d, r, budget):  # pragma: no cover - compiled
    """The integers ``d[:m]`` and fixes ``r[:m]`` (latents) of the float32 ``x[:m]`` on the grid
    ``(s, b)``: (number of fixes, their bytes in the stream, count included), or (-1, 0) when an
    integer would be out of range or the fixes take more than ``budget`` bytes."""
    bits = x.view(np.uint32)
    prev = np.int64(0)
    n_fix = 0
    nbytes = 0
    last = -1
    for i in range(m):
        v = np.float64(x[i])
        if math.isfinite(v):
            q = math.floor((v - b) / s + 0.5)
            if not abs(q) < MAX_D:
                return -1, 0
            prev = np.int64(q)
        d[i] = prev
        y = value(prev, s, b)
        ri = to_latent(bits[i]) - to_latent(y.view(np.uint32))
        r[i] = ri
        if ri != 0:
            n_fix += 1
            nbytes += fix_bytes(i - last - 1, ri)
            last = i
            if nbytes > budget:
                return -1, 0
    nbytes += 1
    v = np.uint64(n_fix)
    while v >= np.uint64(0x80):
        v >>= np.uint64(7)
        nbytes += 1
    return n_fix, nbytes


@njit(**JIT_EXACT_INNER)
def write_fixes(r, m, buf, pos):  # pragma: no cover - compiled
    """The fixes of ``r[:m]`` (see :func:`fix_bytes`), behind their count (varint)."""
    n_fix = 0
    for i in range(m):
        n_fix += r[i] != 0
    pos = put_varint(buf, pos, n_fix)
    last = -1
    for i in range(m):
        ri = r[i]
        if ri == 0:
            continue
        c = 0 if ri == 1 else 1 if ri == -1 else 2 if ri > 0 else 3
        pos = put_varint(buf, pos, np.uint64(i - last - 1) * np.uint64(4) + np.uint64(c))
        if c >= 2:
            pos = put_varint(buf, pos, abs(ri) - 2)
        last = i
    return pos


@njit(**JIT_EXACT_INNER)
def skip_fixes(buf, pos, end, m):  # pragma: no cover - compiled
    """Check the fixes of a block of ``m`` values at ``buf[pos:end]``: the position after them,
    -1 when truncated, -4 when an index is out of range."""
    n_fix, pos = get_varint(buf, pos, end)
    if pos < 0:
        return -1
    if n_fix > np.uint64(m):
        return -4
    last = np.uint64(0)  # one past the last index
    for _ in range(int(n_fix)):
        u, pos = get_varint(buf, pos, end)
        if pos < 0:
            return -1
        if u >> np.uint64(2) >= np.uint64(m) - last:
            return -4
        last += (u >> np.uint64(2)) + np.uint64(1)
        if u & np.uint64(3) >= np.uint64(2):
            r, pos = get_varint(buf, pos, end)
            if pos < 0:
                return -1
            if r >= np.uint64(1) << np.uint64(32):
                return -4
    return pos


@njit(**JIT_EXACT_INNER)
def restore(v, m, s, b, buf, pos, end, out):  # pragma: no cover - compiled
    """The floats ``out[:m]`` of the grid's integers ``v[:m]`` and the fixes at ``buf[pos:]``
    (checked by :func:`skip_fixes`); False when a fixed latent is out of range."""
    for i in range(m):
        out[i] = value(v[i], s, b)
    bits = out.view(np.uint32)
    n_fix, pos = get_varint(buf, pos, end)
    i = -1
    bad = np.uint64(0)
    for _ in range(int(n_fix)):
        u, pos = get_varint(buf, pos, end)
        i += int(u >> np.uint64(2)) + 1
        c = u & np.uint64(3)
        r = np.int64(1) if c == np.uint64(0) else np.int64(-1)
        if c >= np.uint64(2):
            mag, pos = get_varint(buf, pos, end)
            r = np.int64(mag) + 2
            if c == np.uint64(3):
                r = -r
        lat = to_latent(bits[i]) + r
        bad |= np.uint64(lat + 0x80000000) >> np.uint64(32)
        bits[i] = from_latent(lat)
    return bad == np.uint64(0)
