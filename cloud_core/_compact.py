"""Feature subsets on the wire (COMPACT windows, Summaries) to the stored layout. Pure, no I/O.

Both carry a subset of a window's features: ``index``, positions in ``kernels.FEATURE_NAMES``
(the same for every channel), and little-endian IEEE float16 values, channel-major (channel 0's
selected features, then channel 1's, ...). The core stores them in the layout of
``windows.features``: full length (``channels x len(FEATURE_NAMES)``), channel-major float32,
with NaN where a feature was not selected — so every query and rollup reads one layout, and a
rollup counts a feature only where it is known (see :mod:`cloud_core._rollups`).
"""

from __future__ import annotations

import numpy as np

import kernels

__all__ = ["N_FEATURES", "check_index", "expand"]

N_FEATURES = len(kernels.FEATURE_NAMES)


def check_index(index: object) -> np.ndarray:
    """``index`` as an int array; ValueError unless 1..N_FEATURES distinct positions < N."""
    idx = np.fromiter(index, dtype=np.int64)  # type: ignore[call-overload]
    if not 1 <= idx.size <= N_FEATURES:
        raise ValueError(f"{idx.size} feature positions (1..{N_FEATURES} expected)")
    if idx.min() < 0 or idx.max() >= N_FEATURES:
        raise ValueError(f"feature position {int(idx.max())} out of range 0..{N_FEATURES - 1}")
    if np.unique(idx).size != idx.size:
        raise ValueError("repeated feature positions")
    return idx


def expand(index: np.ndarray, half: bytes, channels: int) -> np.ndarray:
    """The (channels * N_FEATURES,) float32 vector of ``half`` values at ``index`` positions of
    every channel, NaN elsewhere; ValueError when ``half`` is not channels x len(index) values.
    """
    want = 2 * channels * index.size
    if len(half) != want:
        raise ValueError(f"{len(half)} bytes of float16, expected {want} ({channels} channels)")
    out = np.full((channels, N_FEATURES), np.nan, dtype=np.float32)
    out[:, index] = np.frombuffer(half, dtype="<f2").reshape(channels, index.size)
    return out.reshape(-1)
