"""Slow references for the historians' point selection (kernels._points), literally as written."""

from __future__ import annotations

import math

import numpy as np


def sod_keep(x: np.ndarray, e: float) -> list[int]:
    """Send-on-delta: first, last, non-finite and after-non-finite samples, and every sample
    more than ``e`` from the last kept one."""
    keep: list[int] = []
    last = 0.0
    prev_finite = False
    for i, v in enumerate(np.asarray(x, dtype=np.float64)):
        fin = math.isfinite(v)
        if i == 0 or i == len(x) - 1 or not fin or not prev_finite or abs(v - last) > e:
            keep.append(i)
            last = v
        prev_finite = fin
    return keep


def sd_keep(x: np.ndarray, e: float) -> list[int]:
    """Swinging door: a sample ends a segment when no line from the segment's start passes
    within ``e`` of every sample up to the next one (finite data only)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    keep = [0]
    a = 0
    i = a + 1
    while i < n:
        # can one line from (a, x[a]) pass within e of every sample a+1..i ?
        up = min((x[m] + e - x[a]) / (m - a) for m in range(a + 1, i + 1))
        lo = max((x[m] - e - x[a]) / (m - a) for m in range(a + 1, i + 1))
        if lo > up:
            keep.append(i - 1)
            a = i - 1
            # the door restarts from the new pivot with sample i
        else:
            i += 1
    if keep[-1] != n - 1:
        keep.append(n - 1)
    return keep


def rebuild(idx: list[int], values: np.ndarray, n: int, linear: bool) -> np.ndarray:
    out = np.empty(n, dtype=np.float64)
    for j, i0 in enumerate(idx):
        i1 = idx[j + 1] if j + 1 < len(idx) else n
        v0 = float(values[j])
        v1 = float(values[j + 1]) if j + 1 < len(idx) else v0
        for i in range(i0, i1):
            if linear and j + 1 < len(idx) and math.isfinite(v0) and math.isfinite(v1):
                out[i] = v0 + (v1 - v0) * (i - i0) / (i1 - i0)
            else:
                out[i] = v0
    return out.astype(np.float32)
