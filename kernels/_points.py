"""Point compression of sensor windows: send-on-delta and swinging door (the historian baselines).

Industrial historians (OSIsoft PI's exception and compression tests) keep only the samples a
reader needs to rebuild the signal within a deviation ``E``:

* **send-on-delta** (exception reporting, deadband): keep a sample when it differs from the last
  kept one by more than ``E``; the reader holds each kept value until the next (step).
* **swinging door** (PI compression): keep a sample when no straight line from the last kept
  one can pass within ``E`` of every sample since (the "door" closes); the reader interpolates
  linearly between kept samples.

The first and the last sample of a window are always kept. Non-finite samples (NaN from a sensor
dropout, ±inf) are always kept, as is the sample after them; the reader holds a non-finite value
until the next kept sample, so a dropout reads back as NaN over the same samples.

Wire form (:func:`encode_points`), all varints unsigned LEB128::

    version u8 = 1 | channels varint | n varint
    per channel: k varint (kept samples, 1 <= k <= n) | k - 1 varints (index step - 1)
    values: kernels.encode_samples of every channel's kept values, channel after channel

:func:`decode_points` checks every count against ``n`` and the bytes left before it allocates.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._backend import njit
from kernels._codec import decode_samples, encode_samples
from kernels._config import JIT_EXACT
from kernels._errors import CodecError, KernelInputError
from kernels._validate import as_float_array

HOLD = 0  # send-on-delta: step reconstruction
LINEAR = 1  # swinging door: linear reconstruction
_VERSION = 1


@njit(**JIT_EXACT)
def _sod_keep(x, e, keep):  # pragma: no cover - compiled
    """Mark the samples send-on-delta keeps; return how many."""
    n = x.shape[0]
    k = 0
    last = np.float64(0.0)
    prev_finite = False
    for i in range(n):
        v = np.float64(x[i])
        fin = math.isfinite(v)
        take = i == 0 or i == n - 1 or not fin or not prev_finite or abs(v - last) > e
        keep[i] = take
        if take:
            k += 1
            last = v
        prev_finite = fin
    return k


@njit(**JIT_EXACT)
def _sd_keep(x, e, keep):  # pragma: no cover - compiled
    """Mark the samples the swinging door keeps; return how many."""
    n = x.shape[0]
    for i in range(n):
        keep[i] = False
    if n == 0:
        return 0
    keep[0] = True
    keep[n - 1] = True
    a = 0  # index of the last kept sample (the door's pivot)
    up = np.inf
    lo = -np.inf
    for i in range(1, n):
        v = np.float64(x[i])
        pv = np.float64(x[a])
        if not (math.isfinite(v) and math.isfinite(pv)):
            keep[i] = True
            if i > 1 and not keep[i - 1]:
                keep[i - 1] = True
            a = i
            up = np.inf
            lo = -np.inf
            continue
        dt = np.float64(i - a)
        up = min(up, (v + e - pv) / dt)
        lo = max(lo, (v - e - pv) / dt)
        if lo > up:  # the door opened: the previous sample is the end of the segment
            j = i - 1
            keep[j] = True
            a = j
            pj = np.float64(x[j])
            up = (v + e - pj) / np.float64(i - j)
            lo = (v - e - pj) / np.float64(i - j)
    k = 0
    for i in range(n):
        k += keep[i]
    return k


@njit(**JIT_EXACT)
def _fill(idx, vals, linear, out):  # pragma: no cover - compiled
    """Rebuild ``out`` from kept (index, value) pairs."""
    k = idx.shape[0]
    n = out.shape[0]
    for j in range(k):
        i0 = idx[j]
        i1 = idx[j + 1] if j + 1 < k else n
        v0 = np.float64(vals[j])
        v1 = np.float64(vals[j + 1]) if j + 1 < k else v0
        lin = linear and j + 1 < k and math.isfinite(v0) and math.isfinite(v1)
        out[i0] = vals[j]
        for i in range(i0 + 1, i1):
            if lin:
                out[i] = np.float32(v0 + (v1 - v0) * (i - i0) / (i1 - i0))
            else:
                out[i] = vals[j]


def _varint(v: int, out: bytearray) -> None:
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _read_varint(b: bytes, pos: int) -> tuple[int, int]:
    v = shift = 0
    while True:
        if pos >= len(b) or shift > 63:
            raise CodecError("truncated or overlong varint in a point stream", offset=pos)
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, pos


def select_points(x: np.ndarray, deviation: float, mode: int) -> np.ndarray:
    """Indices of the samples a historian keeps.

    Parameters
    ----------
    x : ndarray, float32 or float64, shape (n,)
        One channel of a window.
    deviation : float
        ``E``, in the samples' unit (finite, >= 0).
    mode : int
        :data:`HOLD` (send-on-delta) or :data:`LINEAR` (swinging door).

    Returns
    -------
    ndarray, int64, shape (k,)
        Increasing indices, the first and last sample always among them.
    """
    xa = as_float_array(x, "x", 1)
    if not (math.isfinite(deviation) and deviation >= 0.0):
        raise KernelInputError("deviation", f"must be finite and >= 0, got {deviation!r}")
    if mode not in (HOLD, LINEAR):
        raise KernelInputError("mode", f"must be HOLD (0) or LINEAR (1), got {mode!r}")
    keep = np.empty(xa.shape[0], dtype=np.bool_)
    if mode == HOLD:
        _sod_keep(xa, float(deviation), keep)
    else:
        _sd_keep(xa, float(deviation), keep)
    return np.flatnonzero(keep)


def rebuild(idx: np.ndarray, values: np.ndarray, n: int, mode: int) -> np.ndarray:
    """The window a reader rebuilds from kept samples: float32 (n,)."""
    out = np.empty(n, dtype=np.float32)
    if n:
        _fill(
            np.ascontiguousarray(idx, dtype=np.int64),
            np.ascontiguousarray(values, dtype=np.float32),
            mode == LINEAR,
            out,
        )
    return out


def encode_points(data: np.ndarray, deviation: np.ndarray | float, mode: int) -> bytes:
    """Compress a (channels, n) float32 window by send-on-delta or swinging door.

    Parameters
    ----------
    data : ndarray, float32, shape (channels, n), n >= 1
    deviation : float or ndarray shape (channels,)
        ``E`` per channel, in the samples' unit.
    mode : int
        :data:`HOLD` or :data:`LINEAR`; the reader must be told which (the wire codec says).

    Returns
    -------
    bytes
        The point stream (see the module docstring). Decoded with the same ``mode``: with
        send-on-delta every finite sample is within ``E`` of the original; with the swinging
        door, as historians run it, the line to an archived sample's actual value can stray a
        little past ``E`` in between (the classic algorithm bounds the door, not that line).
    """
    d = np.asarray(data)
    if d.ndim != 2 or d.shape[1] < 1 or d.dtype != np.float32:
        raise KernelInputError(
            "data", f"expected float32 (channels, n >= 1), got {d.dtype} {d.shape}"
        )
    dev = np.broadcast_to(np.asarray(deviation, dtype=np.float64), (d.shape[0],))
    out = bytearray([_VERSION])
    _varint(d.shape[0], out)
    _varint(d.shape[1], out)
    kept = []
    for c in range(d.shape[0]):
        idx = select_points(d[c], float(dev[c]), mode)
        _varint(idx.shape[0], out)
        for step in np.diff(idx).tolist():
            _varint(step - 1, out)
        kept.append(d[c][idx])
    out += encode_samples(np.concatenate(kept))
    return bytes(out)


def decode_points(
    b: bytes, channels: int, n_samples: int, mode: int, *, max_samples: int = 1 << 20
) -> np.ndarray:
    """Rebuild a (channels, n_samples) float32 window from :func:`encode_points`' bytes.

    The stream must declare exactly ``channels`` x ``n_samples`` (the window's own header) and
    ``channels * n_samples <= max_samples``; anything else raises :class:`CodecError` before
    any allocation.
    """
    if channels < 1 or n_samples < 1 or channels * n_samples > max_samples:
        raise CodecError(f"window of {channels} x {n_samples} samples is out of bounds", offset=0)
    if not b or b[0] != _VERSION:
        raise CodecError("not a point stream (bad version)", offset=0)
    c, pos = _read_varint(b, 1)
    n, pos = _read_varint(b, pos)
    if (c, n) != (channels, n_samples):
        msg = f"point stream holds {c} x {n}, window says {channels} x {n_samples}"
        raise CodecError(msg, offset=1)
    idxs = []
    total = 0
    for _ in range(c):
        k, pos = _read_varint(b, pos)
        if not 1 <= k <= n or k - 1 > len(b) - pos:
            raise CodecError(f"point count {k} out of range", offset=pos)
        idx = np.empty(k, dtype=np.int64)
        at = 0
        idx[0] = 0
        for j in range(1, k):
            step, pos = _read_varint(b, pos)
            at += step + 1
            if at >= n:
                raise CodecError("point index beyond the window", offset=pos)
            idx[j] = at
        idxs.append(idx)
        total += k
    values = decode_samples(b[pos:], expected=total)
    if values.shape[0] != total:
        raise CodecError(f"{values.shape[0]} point values for {total} points", offset=pos)
    out = np.empty((c, n), dtype=np.float32)
    at = 0
    for ch, idx in enumerate(idxs):
        out[ch] = rebuild(idx, values[at : at + idx.shape[0]], n, mode)
        at += idx.shape[0]
    return out


#: Raw-sample codecs of a window (the numbers of the protobuf enum ``binhai.v1.Codec``).
CODEC_F32LE = 1
CODEC_BINHAI = 2
CODEC_POINTS_HOLD = 3
CODEC_POINTS_LINEAR = 4


def decode_window(
    codec: int, data: bytes, channels: int, n_samples: int, *, max_samples: int = 1 << 20
) -> np.ndarray:
    """Decode a window's raw samples, whatever their codec, into float32 (channels, n_samples).

    The one decoder of window samples, for devices and the cloud alike. Raises
    :class:`CodecError` for an unknown codec, undecodable bytes, or a sample count other than
    ``channels * n_samples`` (checked against ``max_samples`` before anything is allocated).
    """
    if channels < 1 or n_samples < 1 or channels * n_samples > max_samples:
        raise CodecError(f"window of {channels} x {n_samples} samples is out of bounds", offset=0)
    n = channels * n_samples
    if codec == CODEC_BINHAI:
        flat = decode_samples(data, expected=n)
    elif codec == CODEC_F32LE:
        if len(data) != 4 * n:
            raise CodecError(f"{len(data)} bytes for {channels} x {n_samples} float32", offset=0)
        flat = np.frombuffer(data, dtype="<f4").astype(np.float32)
    elif codec in (CODEC_POINTS_HOLD, CODEC_POINTS_LINEAR):
        mode = HOLD if codec == CODEC_POINTS_HOLD else LINEAR
        return decode_points(data, channels, n_samples, mode, max_samples=max_samples)
    else:
        raise CodecError(f"unknown raw codec {codec}", offset=0)
    if flat.shape[0] != channels * n_samples:
        raise CodecError(f"{flat.shape[0]} values for {channels} x {n_samples} window", offset=0)
    return flat.reshape(channels, n_samples)
