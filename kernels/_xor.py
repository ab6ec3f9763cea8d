"""Decoder of Gorilla-style XOR blocks (written by the version-1 encoder; read forever).

Facebook's Gorilla (VLDB 2015) adapted to 32-bit values. The first value is stored as 32 raw bits;
every next value is XOR-ed with its predecessor and written as

* ``0`` when the XOR is zero (value repeated);
* ``10`` + the meaningful bits, when they fit inside the previous leading/trailing-zero window;
* ``11`` + 5 bits leading-zero count + 5 bits (length - 1) + the meaningful bits otherwise.

Bits are written LSB-first. It works on raw bit patterns, so it is exact for every float32,
NaN payloads, ±inf, -0.0 and denormals included.
"""

from __future__ import annotations

import numpy as np

from kernels._backend import njit
from kernels._config import JIT_EXACT_INLINE, JIT_EXACT_INNER


@njit(**JIT_EXACT_INLINE)
def _take(buf, pos, end, acc, nacc, width):  # pragma: no cover - compiled
    """Read ``width`` (<= 32) bits; pos = -1 when the stream ends first."""
    while nacc < width:
        if pos >= end:
            return np.uint64(0), -1, acc, nacc
        acc |= np.uint64(buf[pos]) << np.uint64(nacc)
        pos += 1
        nacc += 8
    value = acc & ((np.uint64(1) << np.uint64(width)) - np.uint64(1))
    acc >>= np.uint64(width)
    nacc -= width
    return value, pos, acc, nacc


@njit(**JIT_EXACT_INNER)
def xor_decode(buf, pos, end, out):  # pragma: no cover - compiled
    """Decode ``out.shape[0]`` values from ``buf[pos:end]`` into ``out`` (uint32); -1 if corrupt."""
    acc = np.uint64(0)
    nacc = 0
    prev, pos, acc, nacc = _take(buf, pos, end, acc, nacc, 32)
    if pos < 0:
        return -1
    out[0] = np.uint32(prev)
    plz = 64
    ptz = 0
    for i in range(1, out.shape[0]):
        flag, pos, acc, nacc = _take(buf, pos, end, acc, nacc, 1)
        if pos < 0:
            return -1
        if flag == np.uint64(0):
            out[i] = np.uint32(prev)
            continue
        flag, pos, acc, nacc = _take(buf, pos, end, acc, nacc, 1)
        if pos < 0:
            return -1
        if flag == np.uint64(0):
            if plz == 64:
                return -1
            length = 32 - plz - ptz
            tz = ptz
        else:
            head, pos, acc, nacc = _take(buf, pos, end, acc, nacc, 10)
            if pos < 0:
                return -1
            lz = int(head & np.uint64(31))
            length = int(head >> np.uint64(5)) + 1
            if lz + length > 32:
                return -1
            tz = 32 - lz - length
            plz = lz
            ptz = tz
        x, pos, acc, nacc = _take(buf, pos, end, acc, nacc, length)
        if pos < 0:
            return -1
        prev ^= x << np.uint64(tz)
        out[i] = np.uint32(prev)
    return pos
