"""Lossless (and optional lossy) codec for float32 sensor windows.

Stream format, version 1 (all integers little-endian)::

    header   magic 0xB7 0x5A | version u8 = 1 | flags u8 (bit 0: lossy) | n u32 | block u16
             [lossy only: resolution f64]
    blocks   ceil(n / block) blocks of `block` samples (the last one may be shorter), each
             scheme u8, then
      RAW  0 nb * u32 raw bit patterns
      INT  1 kind u8 (0 decimal, 1 scale) | e u8 or s f64 | transform u8 (0 FOR, 1 DELTA)
             | base i64 | patches u16 | exceptions u16 | ceil(nb / 64) group widths u8
             | per group of 64: ceil(64 * width / 8) bytes of bit-packed offsets
             | patches: (index u16, offset u64) each | exceptions: (index u16, bits u32) each
      XOR  2 length u32 | `length` bytes of Gorilla XOR bits (see kernels._xor)

The encoder picks per block the INT coding when it represents most values, else XOR, and falls
back to RAW whenever that would be smaller: no block ever costs more than 4 bytes a sample plus
its 1-byte tag. The search for the INT coding (decimal exponent or ADC scale) is skipped when one
of the last few blocks' codings still fits the block's sample exactly (``_alp.reuse_int``); the
encoder still verifies every value with the decoder's formula, so this only changes speed (and,
on channel-major data whose per-block search misses a channel's scale, the size: smaller).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels import _alp
from kernels._alp import MAX_WIDTH, choose_int, int_plan, int_restore
from kernels._bitio import get_uint, pack_bits, put_uint, unpack_bits
from kernels._config import JIT_EXACT, JIT_EXACT_INNER
from kernels._errors import CodecError, KernelInputError
from kernels._validate import as_float_array
from kernels._xor import xor_decode, xor_encode

MAGIC0 = 0xB7
MAGIC1 = 0x5A
VERSION = 1
BLOCK = 256
RAW = 0
INT = 1
XOR = 2
_FLAG_LOSSY = 1
_MAX_N = 0xFFFFFFFF
#: Recent block codings tried before a search.
_MRU = 4

_ERRORS = {
    -1: "truncated stream",
    -2: "unknown block scheme",
    -3: "invalid INT block parameters",
    -4: "index out of range in a block",
    -5: "corrupt XOR block",
    -6: "trailing bytes after the last block",
}


@njit(**JIT_EXACT_INNER)
def _encode_int_block(x, kind, e, s, tol, sc, buf, pos):  # pragma: no cover - compiled
    """Try the INT scheme; return the new position, or -1 when it would not pay off."""
    d, ok, u, full, hist, widths, w_delta, f64, u64 = sc
    nb = x.shape[0]
    ngroups = (nb + _alp.GROUP - 1) // _alp.GROUP
    wd = widths[:ngroups]
    transform, base, n_exc, cost = int_plan(x, kind, e, s, tol, d, ok, hist, wd, w_delta)
    if n_exc * 2 > nb or not cost < 32.0 * nb:
        return -1
    # offsets to bit-pack (exceptions and patches get 0; ``full`` keeps the patches' offsets)
    prev = base
    n_patch = 0
    for i in range(nb):
        v = np.uint64(0)
        if ok[i]:
            if transform == _alp.FOR:
                v = np.uint64(d[i] - base)
            else:
                delta = d[i] - prev
                v = np.uint64((delta << 1) ^ (delta >> 63))
                prev = d[i]
        full[i] = v
        if v >> np.uint64(wd[i // _alp.GROUP]) != np.uint64(0):
            n_patch += 1
            u[i] = 0
        else:
            u[i] = v
    start = pos
    buf[pos] = INT
    buf[pos + 1] = kind
    pos += 2
    if kind == _alp.DECIMAL:
        buf[pos] = e
        pos += 1
    else:
        f64[0] = s
        pos = put_uint(buf, pos, u64[0], 8)
    buf[pos] = transform
    pos = put_uint(buf, pos + 1, base, 8)
    pos = put_uint(buf, pos, n_patch, 2)
    pos = put_uint(buf, pos, n_exc, 2)
    for g in range(ngroups):
        buf[pos + g] = wd[g]
    pos += ngroups
    for g in range(ngroups):
        g0 = g * _alp.GROUP
        g1 = min(nb, g0 + _alp.GROUP)
        pos = pack_bits(buf, pos, u[g0:g1], g1 - g0, wd[g])
    if n_patch:
        for i in range(nb):
            if u[i] != full[i]:
                pos = put_uint(buf, pos, i, 2)
                pos = put_uint(buf, pos, full[i], 8)
    if n_exc:
        bits = x.view(np.uint32)
        for i in range(nb):
            if not ok[i]:
                pos = put_uint(buf, pos, i, 2)
                pos = put_uint(buf, pos, bits[i], 4)
    if pos - start >= 4 * nb + 1:
        return -1
    return pos


@njit(**JIT_EXACT)
def _encode(x, resolution, buf):  # pragma: no cover - compiled
    n = x.shape[0]
    buf[0] = MAGIC0
    buf[1] = MAGIC1
    buf[2] = VERSION
    buf[3] = _FLAG_LOSSY if resolution > 0.0 else 0
    pos = put_uint(buf, 4, n, 4)
    pos = put_uint(buf, pos, BLOCK, 2)
    f64 = np.empty(1, dtype=np.float64)
    u64 = f64.view(np.uint64)
    if resolution > 0.0:
        f64[0] = resolution
        pos = put_uint(buf, pos, u64[0], 8)
    ngroups = (BLOCK + _alp.GROUP - 1) // _alp.GROUP
    sc = (
        np.empty(BLOCK, dtype=np.int64),
        np.empty(BLOCK, dtype=np.bool_),
        np.empty(BLOCK, dtype=np.uint64),
        np.empty(BLOCK, dtype=np.uint64),
        np.zeros((2, 65), dtype=np.int64),
        np.empty(ngroups, dtype=np.int64),
        np.empty(ngroups, dtype=np.int64),
        f64,
        u64,
    )
    vals = np.empty(_alp.SAMPLE + 1, dtype=np.float64)
    # the codings of recent blocks, most recent first: a block that one of them still fits
    # skips the search (channel-major data cycles through a few channels' codings)
    mru_kind = np.zeros(_MRU, dtype=np.int64)
    mru_e = np.zeros(_MRU, dtype=np.int64)
    mru_s = np.zeros(_MRU, dtype=np.float64)
    n_mru = 0
    for b0 in range(0, n, BLOCK):
        b1 = min(n, b0 + BLOCK)
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
            for c in range(n_mru):
                if _alp.reuse_int(xb, mru_kind[c], mru_e[c], mru_s[c]):
                    hit = c
                    break
            if hit >= 0:
                kind = mru_kind[hit]
                e = mru_e[hit]
                s = mru_s[hit]
            else:
                good, kind, e, s = choose_int(xb, vals)
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
        newpos = -1
        if good:
            newpos = _encode_int_block(xb, kind, e, s, tol, sc, buf, pos)
        if newpos >= 0:
            pos = newpos
            continue
        bits = xb.view(np.uint32)
        buf[pos] = XOR
        end = xor_encode(bits, buf, pos + 5)
        if end - pos < 4 * nb + 1:
            put_uint(buf, pos + 1, end - pos - 5, 4)
            pos = end
            continue
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


@njit(**JIT_EXACT)
def _decode(buf, n, block, pos, out):  # pragma: no cover - compiled
    """Decode blocks into ``out``; return 0, or a negative error code (see ``_ERRORS``)."""
    end = buf.shape[0]
    u = np.empty(block, dtype=np.uint64)
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
            if pos + 4 * nb > end:
                return -1, pos
            bits = seg.view(np.uint32)
            for i in range(nb):
                bits[i] = np.uint32(get_uint(buf, pos + 4 * i, 4))
            pos += 4 * nb
        elif scheme == INT:
            newpos = _decode_int_block(buf, pos, end, nb, seg, u, f64, u64)
            if newpos < 0:
                return newpos, pos
            pos = newpos
        elif scheme == XOR:
            if pos + 4 > end:
                return -1, pos
            length = int(get_uint(buf, pos, 4))
            if pos + 4 + length > end:
                return -1, pos
            if xor_decode(buf, pos + 4, pos + 4 + length, seg.view(np.uint32)) < 0:
                return -5, pos
            pos += 4 + length
        else:
            return -2, pos - 1
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
    nblocks = (n + BLOCK - 1) // BLOCK
    # room for the worst case of every scheme before the encoder falls back to RAW
    buf = np.empty(32 + nblocks * 64 + 6 * n, dtype=np.uint8)
    end = _encode(xa, res, buf)
    return buf[:end].tobytes()


def decode_samples(
    b: bytes | bytearray | memoryview,
    *,
    expected: int | None = None,
    max_samples: int | None = None,
) -> np.ndarray:
    """Decompress a byte string made by :func:`encode_samples`.

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
        bound the header's count (up to 2**32 - 1 samples, 16 GiB) is trusted once it passes
        the stream-length check below.

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
    if buf[2] != VERSION:
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
    out = np.empty(n, dtype=np.float32)
    status, where = _decode(buf, n, block, pos, out)
    if status != 0:
        raise CodecError(_ERRORS.get(int(status), "corrupt stream"), offset=int(where))
    return out
