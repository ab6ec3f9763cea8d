"""Lossless (and optional lossy) codec for float32 sensor windows.

Stream format, version 4 (all integers little-endian; varint = LEB128)::

    header   magic 0xB7 0x5A | version u8 = 4 | flags u8 (bit 0: lossy) | n u32 | block u16
             [lossy only: resolution f64]
    blocks   ceil(n / block) blocks of `block` samples (the last one may be shorter), each
             scheme u8, then
      RAW  0 nb * u32 raw bit patterns
      ENT  3 src u8 (0 decimal: x = f32(d * (1 / 10**e)), 1 scale: x = f32(d * s), 2 latent,
             3 affine: x = from_latent(latent(f32(d * s + b)) + r))
             | [e u8 | s f64 | s f64, b f64] | transform u8
             | [FOR only: base, zig-zag varint]
             | [predictor PRED + k only (src 2): k coefficients f32, c[0] first]
             | [src 0/1: exceptions u16 | (index u16, bits u32) each, indices increasing]
             | [src 3: fixes varint | varint 4 * gap + c each (c 0: r = 1, 1: r = -1,
             |  2: r = 2 + varint, 3: r = -(2 + varint)), gap = values skipped since the last]
             | cmin u8 | cmax u8 | ceil((cmax - cmin + 1) / 2) bytes of 4-bit code lengths
             | 4 varint lane sizes | 4 lanes of Huffman-coded residuals (see kernels._ent)

Transforms (:mod:`kernels._ent`): 0 FOR, 1-3 delta orders, ``LAG + L`` lags, and since version 3
``PRED + k`` (9-12), a linear predictor of order ``k`` fitted to the block's floats
(:mod:`kernels._pred`), for latents only. Version 4 adds source 3, an affine grid ``s * d + b``
under the floats with sparse fixes in latents (:mod:`kernels._affine`). Version 3 streams (no
source 3), version 2 streams (no ``PRED + k`` either) and version 1 streams (schemes RAW 0, INT 1
bit-packed, XOR 2 Gorilla; docs/kernels.md) still decode; the encoder writes version 4 only.

Per block the encoder takes the integer coding of :mod:`kernels._alp` (decimal exponent or ADC
scale; searched, or reused from one of the last few blocks) and/or the float bit patterns as
order-preserving integers (*latents*, exact for every float32), ranks the transforms (FOR, delta
orders 1-3, the best lag 2-8) of each by the entropy of their residual classes, codes the best,
and falls back to RAW whenever that is smaller. Latents are tried only where the integer coding
fails, has exceptions, or its grid is finer than float32's own spacing; in the first two cases
a linear predictor is fitted to the block's floats (:mod:`kernels._pred`) and ranked too where its
fit expects to save ``_PRED_GAIN`` bits a value over the delta orders and short lags (smooth
full-precision signals, whose deltas stay hundreds of ulps wide), or coded without ranking the
others where it expects ``_PRED_SURE``. Where the latents are ranked (lossless mode) it also
looks for an affine grid under the floats where the latents beat the integers and ranks its
integers the same way (after a block where none was found, it lost or won narrowly, the next 1,
2, ... 8 blocks do not look). The last block's grid is tried before a new fit (and corrected by
one least-squares pass where it drifted); where a grid won by far, the next blocks it still fits
go straight to it, without the latents and the predictor. Every value is verified with the
decoder's formula. A
stream of at most ``_WHOLE`` samples is also encoded as one block and the smaller stream kept (a
window of a few channels then pays one header and one warm-up).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from kernels import _affine, _alp, _ent, _pred
from kernels._alp import MAX_WIDTH, choose_int, int_restore, to_int
from kernels._backend import MODE, compiled_in_python, njit
from kernels._bitio import bit_length, get_uint, put_uint, unpack_bits
from kernels._config import JIT_EXACT, JIT_EXACT_INLINE, JIT_EXACT_INNER
from kernels._errors import CodecError, KernelInputError
from kernels._validate import as_float_array
from kernels._xor import xor_decode

MAGIC0 = 0xB7
MAGIC1 = 0x5A
VERSION = 4
#: Stream versions the decoder reads (version 1 streams have no ENT blocks, version 2 streams
#: no predictor transforms, version 3 streams no affine grids).
VERSIONS = (1, 2, 3, 4)
BLOCK = 256
RAW = 0
INT = 1
XOR = 2
ENT = 3
_FLAG_LOSSY = 1
_MAX_N = 0xFFFFFFFF
#: After k failed decimal/scale searches in a row the next min(k, _SKIP_MAX) blocks go straight
#: to the latent coding (the search costs more than the coding on plain float signals).
_SKIP_MAX = 4
#: After k searches in a row where no ADC scale won, the next min(k, _SCALE_SKIP_MAX) searches
#: try decimals only.
_SCALE_SKIP_MAX = 8
#: Streams up to this many samples are also tried as one block (the smaller stream is kept).
_WHOLE = 1024
#: Largest block a decoder accepts (the encoder writes BLOCK): bounds its scratch allocation.
_MAX_BLOCK = 4096
#: Recent block codings tried before a search.
_MRU = 4
#: A fitted predictor is ranked against the other transforms where its fit expects to save at
#: least this many bits a value over the best delta order or lag 2-4 (else it seldom wins, and
#: its residual pass costs ~1.5 ns a value), and replaces the ranking where it expects this many.
_PRED_GAIN = 1.0
_PRED_SURE = 4.0
#: After k affine grids in a row that were not found or lost, the next min(k, _AFFINE_SKIP_MAX)
#: blocks do not look for one (plain floats have none, and the look costs ~1.5 us a block).
_AFFINE_SKIP_MAX = 8
#: The last block's grid is tried first, and kept without a new fit where its fixes take at most
#: this many times the bytes a value they took where it was fitted, plus ``_REUSE_BYTES``.
_REUSE_SLACK = 1.125
_REUSE_BYTES = 4.0
#: ... and tried against a new fit where they take at most this many bytes a value.
_REUSE_LOOSE = 0.5
#: Where a grid won by at least this share of its own size, the next up to ``_SURE_RUN`` blocks
#: that it still fits (within ``_SURE_MARGIN / 2`` of that block's bytes a value) are coded on it
#: without ranking the latents or fitting a predictor.
_SURE_MARGIN = 0.125
_SURE_RUN = 32
#: A grid's integers are ranked by all transforms only where the latents' transform brings them
#: within this factor of the best coding so far.
_PLAN_NEAR = 1.25

#: The kernels run as plain Python (``NUMBA_DISABLE_JIT``): NumPy scalars then warn where the
#: predictor meets inf and NaN on purpose (it falls back to the previous value).
_PLAIN = MODE != "aot" and compiled_in_python()

_ERRORS = {
    -1: "truncated stream",
    -2: "unknown block scheme",
    -3: "invalid INT block parameters",
    -4: "index out of range in a block",
    -5: "corrupt XOR block",
    -6: "trailing bytes after the last block",
}


def _quiet() -> contextlib.AbstractContextManager[object]:
    """Silence NumPy's floating-point warnings when the kernels run as plain Python."""
    return np.errstate(invalid="ignore", over="ignore") if _PLAIN else contextlib.nullcontext()


@njit(**JIT_EXACT_INLINE)
def _varint_len(v):  # pragma: no cover - compiled
    n = 1
    v = np.uint64(v)
    while v >= np.uint64(0x80):
        v >>= np.uint64(7)
        n += 1
    return n


@njit(**JIT_EXACT_INNER)
def _ent_plan(v, m, es):  # pragma: no cover - compiled
    """Cheapest transform of ``v[:m]``: (bytes of the residual part, transform, base).

    The residual part is the code-length table, the varint byte count and the bit stream (plus
    the varint base for FOR). Leaves that transform's histogram and code lengths in ``es``.
    """
    hist, best_cnt = es[0], es[3]
    base, lag = _ent.histograms(v, m, hist)
    best = np.inf
    best_row = 1
    for row in range(_ent.NROWS):
        if row == _ent.NROWS - 1 and lag < 2:
            break
        size = _ent.estimate_bits(hist[row], m) / 8 + _ent.table_bytes(hist[row])
        if row == 0:
            size += _varint_len(_ent.zigzag(base))
        if size < best:
            best = size
            best_row = row
    best_tr = best_row if best_row < _ent.NROWS - 1 else _ent.LAG + lag
    best_cnt[:] = hist[best_row]
    return _ent_size(best_cnt, best_tr, base, es), best_tr, base


@njit(**JIT_EXACT_INNER)
def _ent_plan_one(v, m, tr, es):  # pragma: no cover - compiled
    """Like :func:`_ent_plan` for one given transform ``tr`` only."""
    base = v[0]
    for i in range(1, m):
        base = min(base, v[i])
    _ent.residuals_into(v, m, tr, base, es[7])
    return _z_size(m, tr, base, es), tr, base


@njit(**JIT_EXACT_INNER)
def _pred_fit(x, m, pc):  # pragma: no cover - compiled
    """:func:`kernels._pred.fit` of the floats ``x[:m]`` (NaN and inf read as 0: the fit then
    serves the finite values around them); the coefficients go to ``pc[2]``."""
    cov, chol, c, yf = pc
    k, gain = _pred.fit(x, m, c, cov, chol)
    if k < 0:
        for i in range(m):
            yf[i] = x[i] if math.isfinite(x[i]) else 0.0
        k, gain = _pred.fit(yf, m, c, cov, chol)
    return max(k, 0), gain


@njit(**JIT_EXACT_INNER)
def _pred_plan(x, v, m, k, c, es):  # pragma: no cover - compiled
    """Bytes of the residual part and the coefficients of the order-``k`` predictor ``c`` on
    the floats ``x[:m]`` (latents ``v``); leaves the residuals in ``es[7]``."""
    _pred.residuals(x, v, m, k, c, es[7])
    return _z_size(m, _pred.PRED + k, 0, es) + 4 * k


@njit(**JIT_EXACT_INLINE)
def _z_size(m, tr, base, es):  # pragma: no cover - compiled
    """:func:`_ent_size` of the residuals ``es[7][:m]`` (their class histogram into ``es[3]``)."""
    z, best_cnt = es[7], es[3]
    best_cnt[:] = 0
    for i in range(m):
        best_cnt[bit_length(z[i])] += 1
    return _ent_size(best_cnt, tr, base, es)


@njit(**JIT_EXACT_INLINE)
def _ent_size(best_cnt, best_tr, base, es):  # pragma: no cover - compiled
    """Bytes of an ENT block's residual part for the class histogram ``best_cnt`` (its Huffman
    code lengths go to ``es[4]``)."""
    best_lens, work = es[4], es[2]
    _ent.huffman_lengths(best_cnt, best_lens, work)
    nbytes = (_ent.cost_bits(best_cnt, best_lens) + 7) // 8
    # each lane ends on a byte and has a varint byte count
    size = _ent.table_bytes(best_cnt) + nbytes + _ent.LANES * (_varint_len(nbytes) + 1)
    if best_tr == 0:
        size += _varint_len(_ent.zigzag(base))
    return size


@njit(**JIT_EXACT_INNER)
def _write_ent(
    buf, pos, src, e, s, tr, base, v, m, xb, ok, n_exc, es, f64, u64, coef, b, fix
):  # pragma: no cover
    """One ENT block (format in the module doc); return the new position. A predictor
    transform's residuals must already be in ``es[7]``; an affine grid ``(s, b)`` has its fixes
    in ``fix`` (latents, 0 where none)."""
    best_cnt = es[3]
    best_lens = es[4]
    buf[pos] = ENT
    buf[pos + 1] = src
    pos += 2
    if src == _ent.SRC_DECIMAL:
        buf[pos] = e
        pos += 1
    elif src == _ent.SRC_SCALE or src == _ent.SRC_AFFINE:
        f64[0] = s
        pos = put_uint(buf, pos, u64[0], 8)
        if src == _ent.SRC_AFFINE:
            f64[0] = b
            pos = put_uint(buf, pos, u64[0], 8)
    buf[pos] = tr
    pos += 1
    if tr == 0:
        pos = _ent.put_varint(buf, pos, _ent.zigzag(base))
    k = _pred.order(tr)
    for j in range(k):
        pos = put_uint(buf, pos, np.float32(coef[j]).view(np.uint32), 4)
    if src == _ent.SRC_AFFINE:
        pos = _affine.write_fixes(fix, m, buf, pos)
    elif src != _ent.SRC_LATENT:
        pos = put_uint(buf, pos, n_exc, 2)
        if n_exc:
            bits = xb.view(np.uint32)
            for i in range(xb.shape[0]):
                if not ok[i]:
                    pos = put_uint(buf, pos, i, 2)
                    pos = put_uint(buf, pos, bits[i], 4)
    pos = _ent.write_table(best_cnt, best_lens, buf, pos)
    z = es[7]
    if k == 0:
        _ent.residuals_into(v, m, tr, base, z)
    return _ent.write_lanes(z, m, best_lens, es[2][: _ent.CODES], buf, pos)


@njit(**JIT_EXACT_INLINE)
def _keep(es):  # pragma: no cover - compiled
    """Save the last plan's tables as the best so far."""
    es[5][:] = es[3]
    es[6][:] = es[4]


@njit(**JIT_EXACT_INNER)
def _grid(xb, nb, lag, ga, va, fix, wa, best):  # pragma: no cover - compiled
    """An affine grid under the block ``xb`` and its integers and fixes in ``va``, ``fix``: the
    last grid that won (``ga``) where its fixes take no more bytes a value than where it was
    fitted (with ``_REUSE_SLACK``), else a new fit at ``lag`` or the last grid, whichever needs
    fewer fix bytes: (number of fixes or -1 when there is no grid, their bytes, s, b)."""
    s_r, b_r = ga[0], ga[1]
    n_r, bytes_r = -1, 0
    if s_r > 0.0:
        n_r, bytes_r = _affine.to_ints(xb, nb, s_r, b_r, va, fix, min(_REUSE_LOOSE * nb, best))
        if n_r >= 0 and bytes_r <= ga[2] * nb + _REUSE_BYTES:
            return n_r, bytes_r, s_r, b_r
        if n_r >= 0:  # near: corrected by this block's values
            s_c, b_c = _affine.refine(xb, nb, s_r, b_r, wa)
            n_c, bytes_c = _affine.to_ints(xb, nb, s_c, b_c, va, fix, bytes_r - 1)
            if n_c >= 0 and bytes_c <= ga[2] * nb + _REUSE_BYTES:
                return n_c, bytes_c, s_c, b_c
    s_g, b_g = _affine.fit(xb, nb, lag, wa)
    if s_g > 0.0:
        budget = best if n_r < 0 else bytes_r - 1
        n_g, bytes_g = _affine.to_ints(xb, nb, s_g, b_g, va, fix, budget)
        if n_g >= 0:
            return n_g, bytes_g, s_g, b_g
    if n_r >= 0:  # the fit lost: the last grid's integers again
        n_r, bytes_r = _affine.to_ints(xb, nb, s_r, b_r, va, fix, best)
        return n_r, bytes_r, s_r, b_r
    return -1, 0, 0.0, 0.0


@njit(**JIT_EXACT_INLINE)
def _keep_grid(ga, s, b, fix_bytes, nb):  # pragma: no cover - compiled
    """Remember the grid ``(s, b)`` that won a block (see :func:`_grid`)."""
    if s != ga[0] or b != ga[1]:
        ga[0], ga[1] = s, b
        ga[2] = _REUSE_SLACK * fix_bytes / nb


@njit(**JIT_EXACT_INNER)
def _encode_ent_block(
    xb, good, kind, e, s, tol, affine, exc_ok, sc, es, vi, vl, buf, pos
):  # pragma: no cover
    """The smallest ENT coding of a block (integers, latents or an affine grid's integers, each
    by the transforms of :mod:`kernels._ent`, or a fitted predictor; the grid only looked for
    where ``affine``): (new position, or -1 when RAW is smaller; whether the integer coding was
    used; -1 when no grid was looked for, 0 when none was found or it lost, 1 when it won
    narrowly, 2 when it won by ``_SURE_MARGIN`` or more)."""
    ok, f64, u64, pc, ac = sc
    va, fix, wa, ga = ac
    nb = xb.shape[0]
    bits = xb.view(np.uint32)
    best = 4 * nb  # RAW's payload
    src = -1
    tr = 0
    base = np.int64(0)
    tr_i = 0
    m = 0
    n_exc = nb
    coarse = False
    s_a = 0.0
    b_a = 0.0
    aff = -1
    if good:
        top = 0.0
        for i in range(nb):
            if kind == _alp.DECIMAL:
                di, g = _alp.to_int_mul(xb[i], e)
            else:
                di, g = to_int(xb[i], kind, e, s, tol)
            ok[i] = g
            if g:
                vi[m] = di
                m += 1
                top = max(top, abs(np.float64(xb[i])))
        # an integer grid coarser than float32's own spacing at the block's largest value
        # always beats the latents (which count every float32 in between)
        step = 1.0 / _alp.P10[e] if kind == _alp.DECIMAL else s
        coarse = step >= 2.0 * math.ldexp(1.0, math.frexp(top)[1] - 24)
        n_exc = nb - m
        if m > 0 and n_exc * 2 <= nb:
            src_i = _ent.SRC_DECIMAL if kind == _alp.DECIMAL else _ent.SRC_SCALE
            head = 2 + (1 if kind == _alp.DECIMAL else 8) + 1 + 2 + 6 * n_exc
            size, tr_i, base_i = _ent_plan(vi, m, es)
            size += head
            if size < best:
                best, src, tr, base = size, src_i, tr_i, base_i
                _keep(es)
    if src < 0 or n_exc > 0 or not coarse:
        # while a grid wins by far (ga[4] blocks), it is coded without ranking the others
        n_fix = -2  # no grid looked for yet
        fix_bytes = 0
        s_g = b_g = 0.0
        if affine and ga[4] > 0.0:
            aff = 0
            ga[4] -= 1.0
            n_fix, fix_bytes, s_g, b_g = _grid(xb, nb, int(ga[5]), ga, va, fix, wa, best)
            if n_fix >= 0:  # the transform that won the last block first
                size, tr_a, base_a = _ent_plan_one(va, nb, int(ga[6]), es)
                size += 2 + 16 + 1 + fix_bytes
                if size > ga[3] * nb:
                    size, tr_a, base_a = _ent_plan(va, nb, es)
                    size += 2 + 16 + 1 + fix_bytes
                if size < best and size <= ga[3] * nb:  # its tables are in es[3], es[4]
                    _keep_grid(ga, s_g, b_g, fix_bytes, nb)
                    ga[6] = tr_a
                    src = _ent.SRC_AFFINE
                    end = _write_ent(
                        buf, pos, src, 0, s_g, tr_a, base_a, va, nb, xb, ok, 0, es, f64, u64,
                        pc[2], b_g, fix,
                    )  # fmt: skip
                    return end, False, 2
            ga[4] = 0.0
        for i in range(nb):
            vl[i] = _ent.to_latent(bits[i])
        k, gain = 0, 0.0
        if src < 0 or n_exc > 0:  # not on decimal text finer than float32 (PLAID): no gain
            k, gain = _pred_fit(xb, nb, pc)
        other = best  # the best coding but the grid's
        if gain < _PRED_SURE:  # else the predictor wins by far: the deltas are not ranked
            if src < 0:
                size, tr_l, base_l = _ent_plan(vl, nb, es)
            else:  # rank only the integers' best transform: the structure is the same
                size, tr_l, base_l = _ent_plan_one(vl, nb, tr_i, es)
            size += 2 + 1
            if size < best:
                best, src, tr, base = size, _ent.SRC_LATENT, tr_l, base_l
                _keep(es)
            other = best
            # a grid under the floats, at the lag the latents found (or 1), where they beat the
            # integers (a grid under decimals that win adds an offset that seldom pays: PLAID),
            # or where the integers have exceptions (a binary ADC step that the scale misses on
            # some values, as a vibration sensor's: the grid codes them all); only a grid that
            # lost to the latents backs the search off
            if affine and (src == _ent.SRC_LATENT or (n_exc > 0 and exc_ok)):
                aff = 0 if src == _ent.SRC_LATENT else -2
                lag = tr_l - _ent.LAG if tr_l >= _ent.LAG else 1
                if n_fix == -2:
                    n_fix, fix_bytes, s_g, b_g = _grid(xb, nb, lag, ga, va, fix, wa, best)
                head = 2 + 16 + 1 + fix_bytes
                if n_fix >= 0 and head < best:
                    # the latents' transform first: all of them only where that comes near
                    size, tr_a, base_a = _ent_plan_one(va, nb, tr_l, es)
                    size += head
                    if size < _PLAN_NEAR * best:
                        size, tr_a, base_a = _ent_plan(va, nb, es)
                        size += head
                    if size < best:
                        best, src, tr, base = size, _ent.SRC_AFFINE, tr_a, base_a
                        s_a, b_a = s_g, b_g
                        aff = 1
                        _keep(es)
                        _keep_grid(ga, s_g, b_g, fix_bytes, nb)
                        ga[5] = lag
                        ga[6] = tr_a
        if k > 0 and gain >= _PRED_GAIN:
            size = _pred_plan(xb, vl, nb, k, pc[2], es) + 3
            other = min(other, size)
            if size < best:
                # its residuals are in es[7] and its tables in es[3], es[4]
                ga[4] = 0.0
                lat = _ent.SRC_LATENT
                tr_p = _pred.PRED + k
                end = _write_ent(
                    buf, pos, lat, 0, 1.0, tr_p, 0, vl, nb, xb, ok, 0, es, f64, u64, pc[2], 0.0,
                    fix,
                )  # fmt: skip
                return end, False, min(aff, 0)
        if aff == 1 and best * (1.0 + _SURE_MARGIN) <= other:
            # the grid won by far: the next blocks it still fits take it without the others
            ga[3] = (1.0 + _SURE_MARGIN / 2) * best / nb
            ga[4] = _SURE_RUN
            aff = 2
        else:
            ga[4] = 0.0
    if src < 0:
        return -1, False, min(aff, 0)
    es[3][:] = es[5]
    es[4][:] = es[6]
    if src == _ent.SRC_AFFINE:
        end = _write_ent(
            buf, pos, src, 0, s_a, tr, base, va, nb, xb, ok, 0, es, f64, u64, pc[2], b_a, fix
        )  # fmt: skip
        return end, False, aff
    lat = src == _ent.SRC_LATENT
    v = vl if lat else vi
    mv = nb if lat else m
    end = _write_ent(
        buf, pos, src, e, s, tr, base, v, mv, xb, ok, n_exc, es, f64, u64, pc[2], 0.0, fix
    )  # fmt: skip
    return end, not lat, aff


@njit(**JIT_EXACT)
def _encode(x, resolution, block, buf):  # pragma: no cover - compiled
    n = x.shape[0]
    buf[0] = MAGIC0
    buf[1] = MAGIC1
    buf[2] = VERSION
    buf[3] = _FLAG_LOSSY if resolution > 0.0 else 0
    pos = put_uint(buf, 4, n, 4)
    pos = put_uint(buf, pos, block, 2)
    f64 = np.empty(1, dtype=np.float64)
    u64 = f64.view(np.uint64)
    if resolution > 0.0:
        f64[0] = resolution
        pos = put_uint(buf, pos, u64[0], 8)
    pc = (
        np.zeros((_pred.MAX_PRED + 1, _pred.MAX_PRED + 1), dtype=np.float64),
        np.zeros((_pred.MAX_PRED + 1, _pred.MAX_PRED + 1), dtype=np.float64),
        np.zeros(_pred.MAX_PRED, dtype=np.float64),
        np.empty(block, dtype=np.float64),
    )
    ac = (
        np.empty(block, dtype=np.int64),
        np.zeros(block, dtype=np.int64),
        np.empty((3, max(block, 16)), dtype=np.float64),
        # the last grid that won: [0] s, [1] b, [2] its fixes' bytes a value (times
        # _REUSE_SLACK), [3] while it wins by far the bytes a value a block may take on it and
        # [4] the blocks left to code on it without the others, [5] its lag, [6] its transform
        np.zeros(7, dtype=np.float64),
    )
    sc = (np.empty(block, dtype=np.bool_), f64, u64, pc, ac)
    vals = np.empty(_alp.SAMPLE + 1, dtype=np.float64)
    es = (
        np.zeros((_ent.NROWS, _ent.NCLASS), dtype=np.int64),
        np.zeros(_ent.NCLASS, dtype=np.int64),
        np.zeros(_ent.WORK, dtype=np.int64),
        np.zeros(_ent.NCLASS, dtype=np.int64),
        np.zeros(_ent.NCLASS, dtype=np.int64),
        np.zeros(_ent.NCLASS, dtype=np.int64),
        np.zeros(_ent.NCLASS, dtype=np.int64),
        np.empty(block, dtype=np.uint64),
    )
    vi = np.empty(block, dtype=np.int64)
    vl = np.empty(block, dtype=np.int64)
    # the codings of recent blocks, most recent first: a block that one of them still fits
    # skips the search (channel-major data cycles through a few channels' codings)
    mru_kind = np.zeros(_MRU, dtype=np.int64)
    mru_e = np.zeros(_MRU, dtype=np.int64)
    mru_s = np.zeros(_MRU, dtype=np.float64)
    n_mru = 0
    # consecutive failed searches, and blocks left to skip before the next one
    misses = 0
    skip = 0
    # the same for the ADC-scale part of the search, which costs the most and finds nothing on
    # data without a scale (decimals, plain floats)
    scale_misses = 0
    scale_skip = 0
    # the same for the affine grids (lossless only)
    aff_misses = 0
    aff_skip = 0
    exc_misses = 0  # the same for grids looked for where the integers had exceptions
    exc_skip = 0
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        xb = x[b0:b1]
        nb = b1 - b0
        good = True
        kind = _alp.SCALE
        e = 0
        s = resolution
        tol = resolution / 2
        if resolution <= 0.0:
            tol = 0.0
            hit = -1
            if skip == 0:
                for c in range(n_mru):
                    if _alp.reuse_int(xb, mru_kind[c], mru_e[c], mru_s[c]):
                        hit = c
                        break
            if skip > 0:  # integers failed or lost to latents lately: latents only
                skip -= 1
                good = False
            elif hit >= 0:
                kind = mru_kind[hit]
                e = mru_e[hit]
                s = mru_s[hit]
            else:
                good, kind, e, s = choose_int(xb, vals, scale_skip == 0)
                if scale_skip > 0:
                    scale_skip -= 1
                elif not (good and kind == _alp.SCALE):
                    scale_misses = min(scale_misses + 1, _SCALE_SKIP_MAX)
                    scale_skip = scale_misses
                else:
                    scale_misses = 0
                if not good:
                    misses = min(misses + 1, _SKIP_MAX)
                    skip = misses
                else:
                    misses = 0
                if good:
                    hit = min(n_mru, _MRU - 1)  # a new entry, or the oldest one, moves to front
                    for c in range(n_mru):
                        if mru_kind[c] == kind and mru_e[c] == e and mru_s[c] == s:
                            hit = c
                            break
                    n_mru = max(n_mru, hit + 1)
            if good:
                for c in range(hit, 0, -1):
                    mru_kind[c] = mru_kind[c - 1]
                    mru_e[c] = mru_e[c - 1]
                    mru_s[c] = mru_s[c - 1]
                mru_kind[0] = kind
                mru_e[0] = e
                mru_s[0] = s
        affine = resolution <= 0.0 and aff_skip == 0
        if aff_skip > 0:
            aff_skip -= 1
        exc_ok = exc_skip == 0
        if exc_skip > 0:
            exc_skip -= 1
        newpos, used_int, aff = _encode_ent_block(
            xb, good, kind, e, s, tol, affine, exc_ok, sc, es, vi, vl, buf, pos
        )
        if aff == -2:  # looked for where the integers had exceptions, and lost
            exc_misses = min(exc_misses + 1, _AFFINE_SKIP_MAX)
            exc_skip = exc_misses
        elif aff >= 1:
            exc_misses = 0
        if aff == 0:
            aff_misses = min(aff_misses + 1, _AFFINE_SKIP_MAX)
            aff_skip = aff_misses
        elif aff == 1:  # a narrow win (PLAID's decimal text): keep backing off
            aff_skip = aff_misses
        elif aff == 2:
            aff_misses = 0
        if good and not used_int:
            # the sample fitted, the block did not (or latents won): count it as a failed search
            # (the next blocks go to the latents without the reuse check or the search)
            misses = min(misses + 1, _SKIP_MAX)
            skip = misses
        if newpos >= 0:
            pos = newpos
            continue
        bits = xb.view(np.uint32)
        buf[pos] = RAW
        for i in range(nb):
            put_uint(buf, pos + 1 + 4 * i, bits[i], 4)
        pos += 1 + 4 * nb
    return pos


@njit(**JIT_EXACT_INNER)
def _decode_int_block(buf, pos, end, nb, out, u, f64, u64):  # pragma: no cover - compiled
    if pos + 2 > end:
        return -1
    kind = buf[pos]
    pos += 1
    e = 0
    s = 1.0
    if kind == _alp.DECIMAL:
        e = int(buf[pos])
        pos += 1
        if e > _alp.MAX_EXP:
            return -3
    elif kind == _alp.SCALE:
        if pos + 8 > end:
            return -1
        u64[0] = get_uint(buf, pos, 8)
        s = f64[0]
        pos += 8
        if not (s > 0.0 and math.isfinite(s)):
            return -3
    else:
        return -3
    ngroups = (nb + _alp.GROUP - 1) // _alp.GROUP
    if pos + 13 + ngroups > end:
        return -1
    transform = int(buf[pos])
    base = np.int64(get_uint(buf, pos + 1, 8))
    n_patch = int(get_uint(buf, pos + 9, 2))
    n_exc = int(get_uint(buf, pos + 11, 2))
    pos += 13
    if transform > 1 or n_patch > nb or n_exc > nb:
        return -3
    nbytes = 0
    for g in range(ngroups):
        w = int(buf[pos + g])
        if w > MAX_WIDTH:
            return -3
        nbytes += ((min(nb, (g + 1) * _alp.GROUP) - g * _alp.GROUP) * w + 7) // 8
    if pos + ngroups + nbytes + 10 * n_patch + 6 * n_exc > end:
        return -1
    wpos = pos
    pos += ngroups
    for g in range(ngroups):
        g0 = g * _alp.GROUP
        g1 = min(nb, g0 + _alp.GROUP)
        pos = unpack_bits(buf, pos, u[g0:g1], g1 - g0, int(buf[wpos + g]))
    for _ in range(n_patch):
        i = int(get_uint(buf, pos, 2))
        if i >= nb:
            return -4
        u[i] = get_uint(buf, pos + 2, 8)
        pos += 10
    int_restore(u[:nb], transform, base, kind, e, s, out)
    bits = out.view(np.uint32)
    for _ in range(n_exc):
        i = int(get_uint(buf, pos, 2))
        if i >= nb:
            return -4
        bits[i] = np.uint32(get_uint(buf, pos + 2, 4))
        pos += 6
    return pos


@njit(**JIT_EXACT_INNER)
def _decode_ent_block(buf, pos, end, nb, out, v, ts, f64, u64, ver):  # pragma: no cover
    """Decode one ENT block of a stream of version ``ver`` (2 and up) into ``out``; return the
    new position or a negative error code."""
    pred = ver >= 3  # predictor transforms
    b = 0.0
    if pos + 2 > end:
        return -1
    src = int(buf[pos])
    pos += 1
    e = 0
    s = 1.0
    if src == _ent.SRC_DECIMAL:
        e = int(buf[pos])
        pos += 1
        if e > _alp.MAX_EXP:
            return -3
        s = _alp.INV10[e]  # x = float32(float64(d) * (1 / 10**e))
    elif src == _ent.SRC_SCALE or (src == _ent.SRC_AFFINE and ver >= 4):
        if pos + 8 > end:
            return -1
        u64[0] = get_uint(buf, pos, 8)
        s = f64[0]
        pos += 8
        if not (s > 0.0 and math.isfinite(s)):
            return -3
        if src == _ent.SRC_AFFINE:
            if pos + 8 > end:
                return -1
            u64[0] = get_uint(buf, pos, 8)
            b = f64[0]
            pos += 8
            if not math.isfinite(b):
                return -3
    elif src != _ent.SRC_LATENT:
        return -3
    if pos >= end:
        return -1
    tr = int(buf[pos])
    pos += 1
    order = _pred.order(tr) if pred and src == _ent.SRC_LATENT else 0
    if not (tr <= _ent.MAX_ORDER or _ent.LAG + 2 <= tr <= _ent.LAG + _ent.MAX_LAG or order > 0):
        return -3
    base = np.int64(0)
    if tr == 0:
        zb, pos = _ent.get_varint(buf, pos, end)
        if pos < 0:
            return -1
        base = _ent.unzigzag(zb)
    coef = ts[5]
    if pos + 4 * order > end:
        return -1
    for j in range(order):
        coef[j] = np.float64(np.uint32(get_uint(buf, pos, 4)).view(np.float32))
        pos += 4
    n_exc = 0
    exc_pos = pos
    if src == _ent.SRC_AFFINE:
        pos = _affine.skip_fixes(buf, pos, end, nb)
        if pos < 0:
            return pos
    elif src != _ent.SRC_LATENT:
        if pos + 2 > end:
            return -1
        n_exc = int(get_uint(buf, pos, 2))
        if n_exc > nb:
            return -3
        exc_pos = pos + 2
        pos = exc_pos + 6 * n_exc
        if pos > end:
            return -1
    table = ts[0]
    pos = _ent.read_table(buf, pos, end, table, ts[1], ts[2])
    if pos < 0:
        return pos
    m = nb - n_exc
    z = ts[3]
    stop = _ent.read_lanes(buf, ts[4], pos, end, table, z, m)
    if stop < 0:
        return stop
    bits = out.view(np.uint32)
    if order > 0:
        return stop if _pred.restore(z, np.int64(m), order, coef, v, out) else -3
    _ent.restore(z, m, tr, base, v)
    if src == _ent.SRC_AFFINE:
        return stop if _affine.restore(v, nb, s, b, buf, exc_pos, end, out) else -3
    if src == _ent.SRC_LATENT:
        bad = np.uint64(0)
        for i in range(nb):  # branch-free: the range check is folded into one flag
            bad |= np.uint64(v[i] + 0x80000000) >> np.uint64(32)
            bits[i] = _ent.from_latent(v[i])
        return -3 if bad else stop
    j = 0
    k = 0
    nxt = nb if n_exc == 0 else int(get_uint(buf, exc_pos, 2))
    for i in range(nb):
        if i == nxt:
            bits[i] = np.uint32(get_uint(buf, exc_pos + 6 * k + 2, 4))
            k += 1
            nxt = nb
            if k < n_exc:
                nxt = int(get_uint(buf, exc_pos + 6 * k, 2))
                if nxt <= i:
                    return -4
        else:
            out[i] = np.float32(np.float64(v[j]) * s)
            j += 1
    if k != n_exc or j != m:
        return -4
    return stop


@njit(**JIT_EXACT_INLINE)
def _decode_raw_block(buf, pos, end, nb, seg):  # pragma: no cover - compiled
    if pos + 4 * nb > end:
        return -1
    bits = seg.view(np.uint32)
    for i in range(nb):
        bits[i] = np.uint32(get_uint(buf, pos + 4 * i, 4))
    return pos + 4 * nb


@njit(**JIT_EXACT)
def _decode_v1(buf, n, block, pos, out):  # pragma: no cover - compiled
    """Decode version-1 blocks into ``out``; (0, pos), or (negative error code, where)."""
    end = buf.shape[0]
    u = np.empty(min(block, n), dtype=np.uint64)
    f64 = np.empty(1, dtype=np.float64)
    u64 = f64.view(np.uint64)
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        nb = b1 - b0
        if pos >= end:
            return -1, pos
        scheme = buf[pos]
        pos += 1
        seg = out[b0:b1]
        if scheme == RAW:
            newpos = _decode_raw_block(buf, pos, end, nb, seg)
        elif scheme == INT:
            newpos = _decode_int_block(buf, pos, end, nb, seg, u, f64, u64)
        elif scheme == XOR:
            if pos + 4 > end:
                return -1, pos
            length = int(get_uint(buf, pos, 4))
            if pos + 4 + length > end:
                return -1, pos
            if xor_decode(buf, pos + 4, pos + 4 + length, seg.view(np.uint32)) < 0:
                return -5, pos
            newpos = pos + 4 + length
        else:
            return -2, pos - 1
        if newpos < 0:
            return newpos, pos
        pos = newpos
    if pos != end:
        return -6, pos
    return 0, pos


@njit(**JIT_EXACT)
def _decode_v2(buf, n, block, pos, out):  # pragma: no cover - compiled
    """Decode version-2, -3 or -4 blocks (the version byte ``buf[2]`` says which) into ``out``;
    (0, pos), or (negative error code, where)."""
    ver = int(buf[2])
    end = buf.shape[0]
    m = min(block, n)
    v = np.empty(m, dtype=np.int64)
    z = np.empty(m, dtype=np.uint64)
    table = np.empty(_ent.TABLE, dtype=np.int16)
    lens = np.empty(_ent.NCLASS, dtype=np.int64)
    codes = np.empty(_ent.CODES, dtype=np.int64)
    # the stream as little-endian 64-bit words (zero words after it) for the bit readers
    words = np.zeros(end // 8 + 4, dtype=np.uint64)
    words.view(np.uint8)[:end] = buf
    f64 = np.empty(1, dtype=np.float64)
    u64 = f64.view(np.uint64)
    ts = (table, lens, codes, z, words, np.empty(_pred.MAX_PRED, dtype=np.float64))
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        nb = b1 - b0
        if pos >= end:
            return -1, pos
        scheme = buf[pos]
        pos += 1
        seg = out[b0:b1]
        if scheme == RAW:
            newpos = _decode_raw_block(buf, pos, end, nb, seg)
        elif scheme == ENT:
            newpos = _decode_ent_block(buf, pos, end, nb, seg, v, ts, f64, u64, ver)
        else:
            return -2, pos - 1
        if newpos < 0:
            return newpos, pos
        pos = newpos
    if pos != end:
        return -6, pos
    return 0, pos


def encode_samples(x: np.ndarray, *, resolution: float | None = None) -> bytes:
    """Compress float32 samples into a self-describing byte string.

    Parameters
    ----------
    x : ndarray, float32, shape (n,), 0 <= n < 2**32
        Samples (for several channels, concatenate them channel-major). Other dtypes are
        rejected: the codec is exact on float32 bit patterns.
    resolution : float, optional
        Lossy mode, never the default: the sensor's declared resolution (> 0, in the samples'
        unit). Decoded values are then within ``resolution / 2`` of the input; NaN and ±inf are
        still kept exactly.

    Returns
    -------
    bytes
        The encoded stream (header with the length, then blocks; see docs/kernels.md). Lossless
        by default: ``decode_samples(encode_samples(x))`` has the same bits as ``x``, including
        NaN payloads, ±inf, -0.0 and denormals.

    Raises
    ------
    KernelInputError
        ``x`` is not a 1-D float32 array, or ``resolution`` is not finite and > 0.
    """
    xa = as_float_array(x, "x", 1)
    if xa.dtype != np.float32:
        raise KernelInputError("x", f"the codec takes float32 samples, got {xa.dtype}")
    if xa.shape[0] > _MAX_N:
        raise KernelInputError("x", f"at most {_MAX_N} samples per stream")
    res = 0.0
    if resolution is not None:
        res = float(resolution)
        if not (math.isfinite(res) and res > 0.0):
            raise KernelInputError("resolution", f"must be finite and > 0, got {resolution!r}")
    n = xa.shape[0]
    # room for the worst case of every scheme before the encoder falls back to RAW
    buf = np.empty(32 + (n // 8 + 1) * 64 + 6 * n, dtype=np.uint8)
    with _quiet():
        end = _encode(xa, res, BLOCK, buf)
    if BLOCK < n <= _WHOLE:
        # a window of a few blocks: one block of its own may pay fewer headers and warm-ups
        whole = np.empty_like(buf)
        with _quiet():
            end2 = _encode(xa, res, n, whole)
        if end2 < end:
            return whole[:end2].tobytes()
    return buf[:end].tobytes()


def decode_samples(
    b: bytes | bytearray | memoryview,
    *,
    expected: int | None = None,
    max_samples: int | None = None,
) -> np.ndarray:
    """Decompress a byte string made by :func:`encode_samples` (stream version 1, 2 or 3).

    Parameters
    ----------
    b : bytes-like
        One encoded stream, complete (untrusted input is fine: it is validated).
    expected : int, optional
        The number of samples the caller knows the stream must hold (e.g. channels x
        n_samples of its window); a header claiming another count is refused before anything
        is allocated.
    max_samples : int, optional
        Refuse, before allocating, a header claiming more samples than this. Without either
        bound the header's count is trusted once it passes the stream-length check below (at
        most ``block`` <= 4096 samples per byte of stream).

    Returns
    -------
    ndarray, float32, shape (n,)
        The samples, with the exact bits that were encoded (lossless mode).

    Raises
    ------
    CodecError
        The stream is truncated, corrupt, of an unknown version, has trailing bytes, or its
        header claims a sample count other than ``expected`` or above ``max_samples``.
    """
    buf = np.frombuffer(b, dtype=np.uint8)
    if buf.shape[0] < 10:
        raise CodecError("truncated stream header", offset=buf.shape[0])
    if buf[0] != MAGIC0 or buf[1] != MAGIC1:
        raise CodecError("not an encoded sample stream (bad magic)", offset=0)
    if buf[2] not in VERSIONS:
        raise CodecError(f"unsupported codec version {buf[2]}", offset=2)
    n = int.from_bytes(buf[4:8].tobytes(), "little")
    block = int.from_bytes(buf[8:10].tobytes(), "little")
    pos = 10 + (8 if buf[3] & _FLAG_LOSSY else 0)
    if block == 0 or pos > buf.shape[0]:
        raise CodecError("invalid stream header", offset=8)
    # every block costs at least a few bytes; reject lengths the stream cannot hold
    if (n + block - 1) // block > buf.shape[0]:
        raise CodecError(f"header claims {n} samples, more than the stream can hold", offset=4)
    if expected is not None and n != expected:
        raise CodecError(f"header claims {n} samples, expected {expected}", offset=4)
    if max_samples is not None and n > max_samples:
        raise CodecError(f"header claims {n} samples, limit {max_samples}", offset=4)
    if block > _MAX_BLOCK:  # bounds the decoders' per-block scratch
        raise CodecError(f"header claims blocks of {block} samples, limit {_MAX_BLOCK}", offset=8)
    out = np.empty(n, dtype=np.float32)
    decode = _decode_v1 if buf[2] == 1 else _decode_v2
    with _quiet():
        status, where = decode(buf, n, block, pos, out)
    if status != 0:
        raise CodecError(_ERRORS.get(int(status), "corrupt stream"), offset=int(where))
    return out
