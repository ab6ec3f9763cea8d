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

Cost: the non-zero differences are gathered once and each band of the step refinement runs over
them without branches; the values are kept partitioned (those within the band first), so each
least-squares band runs over its own values and classifies only the new ones. A grid fitted on
one block and reused on the next drifts off the values far from those it was fitted on long
before their integers round wrong: :func:`refine` corrects it with one least-squares pass over
the new block (the encoder tries that before a new fit).
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
def _diffs(x, m, lag, dw):  # pragma: no cover - compiled
    """The non-zero finite lag-``lag`` differences of ``x[:m]`` (absolute, float64) into
    ``dw``, in order: (their count, the smallest above float32's noise or inf, the largest
    finite magnitude of ``x[:m]`` as a bit pattern)."""
    bits = x.view(np.uint32)
    mag = np.uint32(0x7FFFFFFF)
    top = np.uint32(0)
    s = math.inf
    nd = 0
    for i in range(lag, m):
        dd = abs(np.float64(x[i]) - np.float64(x[i - lag]))
        bu = bits[i] & mag
        big = max(bu, bits[i - lag] & mag)
        if dd > 2.0 * _TOL_ULPS * spacing(big) and dd < s:
            s = dd
        if bu < np.uint32(0x7F800000):
            top = max(top, bu)
        dw[nd] = dd
        nd += (dd > 0.0) & (dd < math.inf)
    return nd, s, top


@njit(**JIT_EXACT_INNER)
def _band(dw, nd, s, kmax):  # pragma: no cover - compiled
    """One band of the step refinement over the differences ``dw[:nd]`` (see :func:`_diffs`):
    (the step from the differences of at most ``kmax`` steps, or 0.0 when there are none; their
    count and steps; differences beyond the band; differences that are no multiple of ``s``)."""
    inv = 1.0 / s
    sd = 0.0
    sk = 0.0
    cnt = 0
    beyond = 0
    off = 0
    for i in range(nd):  # branch-free: the classes are unpredictable
        dd = dw[i]
        q = dd * inv
        k = math.floor(q + 0.5)
        inside = k <= kmax
        bad = inside & ((k == 0.0) | (abs(q - k) > _OFF))
        good = inside ^ bad  # bad implies inside
        beyond += not inside
        off += bad
        cnt += good
        sd += dd if good else 0.0
        sk += k if good else 0.0
    return (sd / sk if sk > 0.0 else 0.0), cnt, sk, beyond, off


@njit(**JIT_EXACT_INNER)
def step(x, m, lag, dw):  # pragma: no cover - compiled
    """The grid step of ``x[:m]`` from its lag-``lag`` differences and its uncertainty, or
    (0.0, 0.0) when they are not (mostly) multiples of one step coarser than ``MIN_STEP_ULPS``
    float32 spacings. ``dw`` is float64 scratch of ``m`` values."""
    if m < lag + MIN_DIFFS:
        return 0.0, 0.0
    nd, s, top = _diffs(x, m, lag, dw)
    noise = 2.0 * spacing(top)  # the error of one difference: two values within a spacing
    floor = MIN_STEP_ULPS * spacing(top)
    if not (s >= floor and s < math.inf):
        return 0.0, 0.0
    # the smallest difference may be several steps: an approximate greatest common divisor
    # with the other small differences (Euclid's algorithm on the reals, within the noise)
    s_err = noise
    for i in range(nd):
        dd = dw[i]
        if not dd <= _GCD_STEPS * s:
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
        s2, cnt, sk, beyond, off = _band(dw, nd, s, kmax)
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


@njit(**JIT_EXACT_INLINE)
def _sums(vs, ws, i0, i1, s, b, acc):  # pragma: no cover - compiled
    """Add the values ``vs[i0:i1]`` (weights ``ws``) within a quarter step of the grid ``(s,
    b)`` to the least-squares sums ``acc`` (weight, d, e, d², d·e, e²); the same sums of those
    above and below ``vs[0]`` to ``acc[6:9]`` and ``acc[9:12]`` (weight, d, e) where ``i0 > 0``."""
    inv = 1.0 / s
    ref = vs[0]
    n = sd = se = sdd = sde = see = 0.0
    nu = su = eu = nl = sl = el = 0.0
    for i in range(i0, i1):
        v = vs[i]
        wi = ws[i]
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
        if i0 > 0:
            up = v > ref
            nu += wi if up else 0.0
            su += wi * q if up else 0.0
            eu += wi * e if up else 0.0
            nl += 0.0 if up else wi
            sl += 0.0 if up else wi * q
            el += 0.0 if up else wi * e
    acc[0] += n
    acc[1] += sd
    acc[2] += se
    acc[3] += sdd
    acc[4] += sde
    acc[5] += see
    acc[6] += nu
    acc[7] += su
    acc[8] += eu
    acc[9] += nl
    acc[10] += sl
    acc[11] += el


@njit(**JIT_EXACT_INLINE)
def _weighted(x, m, vs, ws):  # pragma: no cover - compiled
    """The finite values of ``x[:m]`` into ``vs`` and their weights into ``ws``, each weighted by
    float32's precision there relative to the first (values near 0 pin the grid down); returns
    (how many, the first one's spacing)."""
    bits = x.view(np.uint32)
    nv = 0
    unit = 1.0
    for i in range(m):
        v = np.float64(x[i])
        if math.isfinite(v):
            if nv == 0:
                unit = spacing(bits[i])
            r = unit / spacing(bits[i])
            vs[nv] = v
            ws[nv] = min(r * r, _MAX_WEIGHT)
            nv += 1
    return nv, unit


@njit(**JIT_EXACT_INNER)
def fit(x, m, lag, w):  # pragma: no cover - compiled
    """``(s, b)`` of the grid ``s * d + b`` under the floats ``x[:m]``; ``s`` 0.0 when there is
    none (see the module doc). ``w`` is float64 scratch of shape (3, ``m``) or wider."""
    s, err = step(x, m, lag, w[0])
    if s == 0.0:
        return 0.0, 0.0
    # the finite values and their weights, those in the current band first
    vs = w[0]
    ws = w[1]
    acc = w[2]
    nv, unit = _weighted(x, m, vs, ws)
    ref = vs[0]
    b = ref
    # the step's uncertainty as a prior on the slope, against the values' own (a quarter of
    # float32's spacing at the first value, at weight 1)
    ridge = (0.25 * unit / err) ** 2
    lim = _BAND0 * s
    n_in = 0  # vs[:n_in] are within lim of the first value
    final = 0
    while True:
        # the values new in this band to vs[new:n_in]
        new = n_in
        near = math.inf  # the nearest value beyond lim
        for i in range(n_in, nv):
            dist = abs(vs[i] - ref)
            if dist <= lim:
                vs[i], vs[n_in] = vs[n_in], vs[i]
                ws[i], ws[n_in] = ws[n_in], ws[i]
                n_in += 1
            else:
                near = min(near, dist)
        # weighted least squares of the residuals e of the grid so far against d over the
        # values within lim of the first one, from sums: corrections to s and b
        acc[:12] = 0.0
        _sums(vs, ws, 0, new, s, b, acc)
        # the values new in this band, above and below the first one: their integers may be
        # off by a few steps (s is only known to a few parts in a million)
        _sums(vs, ws, new, n_in, s, b, acc)
        n, sd, se, sdd, sde, see = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5]
        best, c, a = _rss(n, sd, se, sdd, sde, see, ridge)
        if new > 0:  # the values above, then those below (one search each)
            up = (acc[6], acc[7], acc[8])
            lo = (acc[9], acc[10], acc[11])
            ju = 0
            for j in range(-_SHIFT, _SHIFT + 1):
                if j == 0 or up[0] == 0.0:
                    continue
                t0, t1, t2, t3, t4, t5 = _shifted(n, sd, se, sdd, sde, see, up, s, j)
                rss, c2, a2 = _rss(t0, t1, t2, t3, t4, t5, ridge)
                if rss < best:
                    best, c, a, ju = rss, c2, a2, j
            t0, t1, t2, t3, t4, t5 = _shifted(n, sd, se, sdd, sde, see, up, s, ju)
            for j in range(-_SHIFT, _SHIFT + 1):
                if j == 0 or lo[0] == 0.0:
                    continue
                u0, u1, u2, u3, u4, u5 = _shifted(t0, t1, t2, t3, t4, t5, lo, s, j)
                rss, c2, a2 = _rss(u0, u1, u2, u3, u4, u5, ridge)
                if rss < best:
                    best, c, a = rss, c2, a2
        s += c
        b += a
        if not (s > 0.0 and math.isfinite(s) and math.isfinite(b)):
            return 0.0, 0.0
        if near < math.inf:  # the next band reaches the nearest values left, or twice as far
            lim = max(2.0 * lim, _REACH * near)
        elif final < _FINAL:  # every value is in: refit with the integers of the better grid
            final += 1
        else:
            return s, b


@njit(**JIT_EXACT_INNER)
def refine(x, m, s, b, w):  # pragma: no cover - compiled
    """The grid ``(s, b)`` corrected by one weighted least-squares pass over ``x[:m]`` with the
    integers it gives (a grid fitted on another block drifts off the values far from those it
    was fitted on long before their integers round wrong); ``(s, b)`` unchanged when the pass
    cannot tell. ``w`` is float64 scratch of shape (3, ``m``) or wider."""
    vs = w[0]
    ws = w[1]
    acc = w[2]
    nv, _ = _weighted(x, m, vs, ws)
    if nv < MIN_DIFFS:
        return s, b
    acc[:12] = 0.0
    _sums(vs, ws, 0, nv, s, b, acc)
    _, c, a = _rss(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], 0.0)
    s2 = s + c
    b2 = b + a
    if not (s2 > 0.0 and math.isfinite(s2) and math.isfinite(b2)):
        return s, b
    return s2, b2


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


@njit(**JIT_EXACT_INLINE)
def _latent(bits):  # pragma: no cover - compiled
    """:func:`kernels._ent.to_latent` without a branch (the signs of a block's values mix)."""
    sign = -np.int64(bits >> np.uint32(31))  # 0 or all ones
    return np.int64(bits & np.uint32(0x7FFFFFFF)) ^ sign


@njit(**JIT_EXACT_INNER)
def to_ints(x, m, s, b, d, r, budget):  # pragma: no cover - compiled
    """The integers ``d[:m]`` and fixes ``r[:m]`` (latents) of the float32 ``x[:m]`` on the grid
    ``(s, b)``: (number of fixes, their bytes in the stream, count included), or (-1, 0) when an
    integer would be out of range or the fixes take more than ``budget`` bytes."""
    bits = x.view(np.uint32)
    inv = 1.0 / s  # only a guess of each integer: the fix makes up for it
    prev = np.int64(0)
    n_fix = 0
    nbytes = 0
    last = -1
    for i in range(m):
        v = np.float64(x[i])
        if math.isfinite(v):
            q = math.floor((v - b) * inv + 0.5)
            if not abs(q) < MAX_D:
                return -1, 0
            prev = np.int64(q)
        d[i] = prev
        y = value(prev, s, b)
        ri = _latent(bits[i]) - _latent(y.view(np.uint32))
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
