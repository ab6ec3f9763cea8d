"""A recorded signal played back in a loop (no physics, no quantisation: values as recorded)."""

from __future__ import annotations

import warnings

import numpy as np

from firmware_sim._catalog import SensorInfo
from firmware_sim._models._base import SensorModel


class Replay(SensorModel):
    """Sample i is row ``(offset + i) % n`` of ``data``; the noise faults assume a white noise
    of 5 % of each column's standard deviation."""

    def __init__(self, info: SensorInfo, data: np.ndarray, offset: int) -> None:
        finite = np.where(np.isfinite(data), data, np.nan).astype(np.float64)
        with warnings.catch_warnings():  # an all-NaN column: no mean, no spread
            warnings.simplefilter("ignore", RuntimeWarning)
            center = np.nan_to_num(np.nanmean(finite, axis=0))
            spread = np.nan_to_num(np.nanstd(finite, axis=0))
        spread = np.where(spread > 0, spread, 1.0)
        inf = np.full(data.shape[1], np.inf)
        super().__init__(
            info, center=center, spread=spread, noise_sd=0.05 * spread, lo=-inf, hi=inf
        )
        self.data = data
        self.offset = offset

    def render(self, i0: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rows = (self.offset + i0 + np.arange(len(t))) % len(self.data)
        return self.data[rows].astype(np.float64)
