"""Feature subsets on the wire (COMPACT windows, Summaries) to the stored layout. Pure, no I/O.

Both carry a subset of a window's features: ``index``, positions in ``kernels.FEATURE_NAMES``
(the same for every channel), and little-endian IEEE float16 values, channel-major (channel 0's
selected features, then channel 1's, ...). The core stores them in the layout of
``windows.features``: full length (``channels x len(FEATURE_NAMES)``), channel-major float32,
with NaN where a feature was not selected — so every query and rollup reads one layout, and a
rollup counts a feature only where it is known (see :mod:`cloud_core._rollups`).

:func:`subset` checks and expands a subset; :func:`summary_row` checks a Summary and makes its
staging row (the checks are listed in :mod:`cloud_core._rows`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import kernels
import protos
from cloud_core._columns import SummaryRow
from cloud_core._errors import RejectedItem
from cloud_core._limits import INT32_MAX, IngestLimits, check_stream

__all__ = ["N_FEATURES", "batch_algo", "check_index", "expand", "subset", "summary_row"]

BatchKey = tuple[str, str, int]

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


def subset(
    key: BatchKey, what: str, index: Any, halves: dict[str, bytes], channels: int
) -> list[bytes]:
    """The float16 feature subsets ``halves`` at ``index``, expanded to packed float32 of the
    full layout; :class:`RejectedItem` when index or lengths are wrong."""
    try:
        idx = check_index(index)
        return [expand(idx, half, channels).astype("<f4").tobytes() for half in halves.values()]
    except ValueError as exc:
        part = "/".join(halves)
        raise RejectedItem(f"{what} {part}: {exc}", device_id=key[1], seq=key[2]) from exc


def summary_row(
    key: BatchKey, idx: int, s: protos.Summary, limits: IngestLimits, latest_ns: int, algo: int
) -> SummaryRow:
    """The staging row of summary ``idx``; raises :class:`RejectedItem` if it is not storable."""
    what = f"summary {idx}"
    channels, n_samples, rate = s.channels, s.n_samples, s.rate_hz
    check_stream(key, what, s.sensor, rate, channels, n_samples, s.t0_ns, limits, latest_ns)
    span = s.t1_ns - s.t0_ns
    # a window starts at most once per sample period
    most = 1 + span * rate / 1e9 if span >= 0 else 0.0
    if not (span >= 0 and s.t1_ns <= latest_ns and 1 <= s.windows <= most):
        raise RejectedItem(
            f"{what}: {s.windows} windows in t0..t1 = {s.t0_ns}..{s.t1_ns} ns",
            device_id=key[1],
            seq=key[2],
        )
    mean, lo, hi = subset(
        key, what, s.index, {"mean": s.mean, "min": s.min, "max": s.max}, channels
    )
    novelty = s.novelty_max
    return SummaryRow(
        *key,
        idx,
        s.sensor,
        s.t0_ns,
        s.t1_ns,
        s.windows,
        s.sent,
        channels,
        rate,
        n_samples,
        novelty if math.isfinite(novelty) else 0.0,
        algo,
        mean,
        lo,
        hi,
        min(s.novel, s.windows),
    )


def batch_algo(batch: protos.TelemetryBatch) -> int:
    """The algo_version of a batch's COMPACT windows and summaries (see the module docstring)."""
    if batch.HasField("health") and 0 < batch.health.algo_version <= INT32_MAX:
        return int(batch.health.algo_version)
    for w in batch.windows:
        if w.HasField("features") and 0 < w.features.algo_version <= INT32_MAX:
            return int(w.features.algo_version)
    return kernels.ALGO_VERSION
