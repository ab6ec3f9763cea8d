"""Per-window novelty score: EWMA z-scores with an allowance (CUSUM-style), state across windows.

For every finite feature ``j`` the scorer keeps an exponentially weighted mean ``mu_j`` and variance
``var_j``. A window's score is::

    z_j   = (f_j - mu_j) / sqrt(var_j + eps_j),   eps_j = (1e-6 * max(|mu_j|, 1e-3))**2
    score = sqrt(mean_j(max(0, |z_j| - k)**2))        over the finite features

with allowance ``k`` (default 3): an ordinary window, whose features all lie within k standard
deviations, scores exactly 0; a novel one scores roughly by how many standard deviations beyond k
it lies. The statistics are then updated with the z-score clipped to ``±clip`` (winsorised), so a
single outlier barely moves them but a lasting change is learnt within about ``1 / alpha`` windows.
During the first ``warmup`` windows the score is 0 and the statistics are plain running means.

NaN policy: non-finite features are ignored (not scored, not learnt). A window with no finite
feature (a window holding NaN/inf samples has all-NaN features) scores 0 and leaves the state as
it was.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._backend import njit
from kernels._config import JIT
from kernels._errors import KernelInputError, StateError
from kernels._validate import as_float_array

_STATE_VERSION = 1.0
_HEADER = 6  # version, n_features, alpha, warmup, k, count


@njit(**JIT)
def novelty_update(f, mu, var, count, alpha, warmup, k, clip):  # pragma: no cover - compiled
    """Score one feature vector and update ``mu``/``var`` in place; return (score, new count)."""
    nf = f.shape[0]
    nfin = 0
    for j in range(nf):
        nfin += math.isfinite(f[j])
    if nfin == 0:
        return 0.0, count
    if count < warmup:
        c = count + 1
        for j in range(nf):
            v = np.float64(f[j])
            if math.isfinite(v):
                d = v - mu[j]
                mu[j] += d / c
                var[j] += (d * (v - mu[j]) - var[j]) / c
        return 0.0, count + 1
    acc = 0.0
    for j in range(nf):
        v = np.float64(f[j])
        if not math.isfinite(v):
            continue
        eps = 1e-6 * max(abs(mu[j]), 1e-3)
        sd = math.sqrt(var[j] + eps * eps)
        z = (v - mu[j]) / sd
        excess = abs(z) - k
        if excess > 0.0:
            acc += excess * excess
        zc = min(max(z, -clip), clip)
        d = zc * sd
        mu[j] += alpha * d
        var[j] = (1.0 - alpha) * (var[j] + alpha * d * d)
    return math.sqrt(acc / nfin), count + 1


class NoveltyScorer:
    """Streaming novelty score of feature vectors, one window at a time (device side).

    Parameters
    ----------
    n_features : int
        Length F of the feature vectors (e.g. ``len(FEATURE_NAMES)``).
    alpha : float, optional
        EWMA weight of a new window, in (0, 1). Default 0.05 (memory of about 20 windows).
    warmup : int, optional
        Windows used to initialise the statistics before scoring starts (score 0). Default 8.
    allowance : float, optional
        z-score below which a feature contributes nothing (k above). Default 3.0.
    clip : float, optional
        z-score at which updates are winsorised. Default 4.0.

    Notes
    -----
    The score is >= 0, 0 for ordinary windows, in standard deviations beyond ``allowance`` for
    novel ones. State is O(F) float64; ``state()``/``from_state()`` persist it across reboots.
    """

    def __init__(
        self,
        n_features: int,
        *,
        alpha: float = 0.05,
        warmup: int = 8,
        allowance: float = 3.0,
        clip: float = 4.0,
    ) -> None:
        if int(n_features) < 1:
            raise KernelInputError("n_features", f"must be >= 1, got {n_features!r}")
        if not 0.0 < float(alpha) < 1.0:
            raise KernelInputError("alpha", f"must be in (0, 1), got {alpha!r}")
        if int(warmup) < 1:
            raise KernelInputError("warmup", f"must be >= 1, got {warmup!r}")
        if not (math.isfinite(allowance) and allowance >= 0.0):
            raise KernelInputError("allowance", f"must be finite and >= 0, got {allowance!r}")
        if not (math.isfinite(clip) and clip > 0.0):
            raise KernelInputError("clip", f"must be finite and > 0, got {clip!r}")
        self.n_features = int(n_features)
        self.alpha = float(alpha)
        self.warmup = int(warmup)
        self.allowance = float(allowance)
        self.clip = float(clip)
        self._mu = np.zeros(self.n_features, dtype=np.float64)
        self._var = np.zeros(self.n_features, dtype=np.float64)
        self._count = 0

    @property
    def count(self) -> int:
        """Windows seen so far (windows with no finite feature are not counted)."""
        return self._count

    def update(self, features: np.ndarray) -> float:
        """Score one window's features, then learn from them.

        Parameters
        ----------
        features : ndarray, float32 or float64, shape (F,)

        Returns
        -------
        float
            Novelty score >= 0 (0 during warm-up and for ordinary windows).
        """
        f = as_float_array(features, "features", 1)
        if f.shape[0] != self.n_features:
            raise KernelInputError(
                "features", f"expected {self.n_features} features, got {f.shape[0]}"
            )
        score, self._count = novelty_update(
            f, self._mu, self._var, self._count, self.alpha, self.warmup, self.allowance, self.clip
        )
        return float(score)

    def state(self) -> np.ndarray:
        """The full state as one float64 array (parameters included), for persistence."""
        head = np.array(
            [_STATE_VERSION, self.n_features, self.alpha, self.warmup, self.allowance, self._count],
            dtype=np.float64,
        )
        return np.concatenate([head, [self.clip], self._mu, self._var])

    @classmethod
    def from_state(cls, arr: np.ndarray) -> NoveltyScorer:
        """Rebuild a scorer from :meth:`state`; raises :class:`StateError` if it does not fit."""
        a = np.asarray(arr, dtype=np.float64)
        if a.ndim != 1 or a.shape[0] < _HEADER + 1 or a[0] != _STATE_VERSION:
            raise StateError("not a NoveltyScorer state (wrong shape or version)")
        nf = int(a[1])
        if nf < 1 or a.shape[0] != _HEADER + 1 + 2 * nf:
            raise StateError(f"state length {a.shape[0]} does not match {nf} features")
        try:
            obj = cls(nf, alpha=a[2], warmup=int(a[3]), allowance=a[4], clip=a[_HEADER])
        except KernelInputError as exc:
            raise StateError(f"invalid parameters in state: {exc}") from exc
        mu = a[_HEADER + 1 : _HEADER + 1 + nf]
        var = a[_HEADER + 1 + nf :]
        if not (np.isfinite(mu).all() and np.isfinite(var).all() and (var >= 0).all()):
            raise StateError("state holds non-finite or negative statistics")
        obj._mu = mu.copy()
        obj._var = var.copy()
        obj._count = int(a[5])
        return obj
