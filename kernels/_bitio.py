"""Little-endian byte and bit I/O on ``uint8`` buffers (compiled helpers for the codec).

Writers take ``(buf, pos, ...)`` and return the new position; the caller guarantees capacity.
Readers never read past ``end``: they are only called after the caller checked that the bytes they
will touch exist, so a corrupt stream can never make a kernel read outside its buffer.

All of these are inlined into their callers (``JIT_EXACT_INLINE``): none is compiled on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels._backend import compiled_in_python, njit
from kernels._config import JIT_EXACT_INLINE


@njit(**JIT_EXACT_INLINE)
def put_uint(buf, pos, value, nbytes):  # pragma: no cover - compiled
    """Write the low ``nbytes`` bytes of ``value`` (int, two's complement) little-endian."""
    v = np.uint64(np.int64(value)) if value < 0 else np.uint64(value)
    p = np.uint64(pos)  # unsigned index: no negative-index wraparound, so the stores merge
    for i in range(nbytes):
        buf[p + np.uint64(i)] = np.uint8(v & np.uint64(0xFF))
        v = v >> np.uint64(8)
    return pos + nbytes


@njit(**JIT_EXACT_INLINE)
def put_u64(buf, pos, v):  # pragma: no cover - compiled
    """Store the 8 bytes of uint64 ``v`` little-endian at ``pos`` (one unaligned store)."""
    p = np.uint64(pos)
    for i in range(8):
        buf[p + np.uint64(i)] = np.uint8(v & np.uint64(0xFF))
        v = v >> np.uint64(8)


@njit(**JIT_EXACT_INLINE)
def get_uint(buf, pos, nbytes):  # pragma: no cover - compiled
    """Read an unsigned little-endian integer of ``nbytes`` bytes (as uint64)."""
    v = np.uint64(0)
    p = np.uint64(pos)
    for i in range(nbytes):
        v |= np.uint64(buf[p + np.uint64(i)]) << np.uint64(8 * i)
    return v


@njit(**JIT_EXACT_INLINE)
def unpack_bits(buf, pos, out, count, width):  # pragma: no cover - compiled
    """Read ``count`` values of ``width`` bits packed LSB-first (version-1 INT blocks) into
    ``out[:count]`` (uint64); return the position after."""
    if width == 0:
        for i in range(count):
            out[i] = 0
        return pos
    acc = np.uint64(0)
    nacc = np.uint64(0)
    w = np.uint64(width)
    mask = (np.uint64(1) << w) - np.uint64(1)
    for i in range(count):
        while nacc < w:
            acc |= np.uint64(buf[pos]) << nacc
            pos += 1
            nacc += np.uint64(8)
        out[i] = acc & mask
        acc >>= w
        nacc -= w
    return pos


_lz64: Any
_tz64: Any
if compiled_in_python():  # pure-Python stand-ins (NUMBA_DISABLE_JIT suite, AOT backend)

    def _py_lz64(v: Any) -> Any:
        return np.uint64(64 - int(v).bit_length())

    def _py_tz64(v: Any) -> Any:
        iv = int(v)
        return np.uint64((iv & -iv).bit_length() - 1 if iv else 64)

    _lz64, _tz64 = _py_lz64, _py_tz64
else:
    from numba.cpython.unsafe import numbers as _unsafe

    _lz64, _tz64 = _unsafe.leading_zeros, _unsafe.trailing_zeros


@njit(**JIT_EXACT_INLINE)
def bit_length(v):  # pragma: no cover - compiled
    """Number of significant bits of a uint64 (0 for 0)."""
    return 64 - int(_lz64(np.uint64(v)))


@njit(**JIT_EXACT_INLINE)
def clz32(v):  # pragma: no cover - compiled
    """Leading zero bits of a non-zero 32-bit value held in a uint64."""
    return int(_lz64(np.uint64(v))) - 32


@njit(**JIT_EXACT_INLINE)
def ctz32(v):  # pragma: no cover - compiled
    """Trailing zero bits of a non-zero 32-bit value held in a uint64."""
    return int(_tz64(np.uint64(v)))
