"""A machine's temperature against its load: the thermal part of ``LEVEL`` in :class:`DeviceScreen`.

A machine's housing warms with its load through a thermal lag, and the same load sets how hard
the machine vibrates. So a device that has both sensors knows, from the vibration, what its
temperature should read: the temperature window's mean is fitted, by least squares, on
``[1, lag(√E), lag(E), exp(-t/τ)]``, where ``E`` is a vibration window's energy (the sum of its
axes' variances), ``lag`` a first-order lag of time constant ``τ`` run over the vibration
windows, averaged over the temperature window, and the last column absorbs the lag's start from
an unknown state. The housing's ``τ`` is not known either: a bank of lags (``taus_s``) runs side
by side and the one that fits best speaks. A window whose mean is off the fit by more than
``z`` times the fit's residual (at least ``floor``, widened by the window's leverage: a load the
fit has not seen is not trusted) is flagged — a drifting probe or a machine heating up for
another reason than its load, from the first window it shows in, where the level checks wait
until the offset leaves the range the load swings the temperature over.

A flagged vibration window (a dropout, a bearing's line, a noise burst) says nothing reliable
about the load, so the lags hold still over it, and after a gap of ``gap_s`` or more they are off
by what they missed. For a first-order lag that error fades as ``exp(-(t - s)/τ)`` from the
gap's end ``s``: the same form as the start's, so the vibration after a gap begins a new
*segment* with a start column of its own, and the fit has one per segment in its history. A
segment is judged once ``segment_min`` of its windows trained it (a few minutes after a bearing
fault, where waiting for the miss to fade took about ``4 τ``).

It judges a window only once ``min_windows`` ordinary windows trained the fit and when ordinary
vibration windows cover at least ``coverage`` of it (the cloud, which receives only some, then
takes the device's word; :class:`DeviceScreen` feeds it only the vibration windows whose
samples it has, where the line check ran). It learns from the temperature windows nothing
flagged. State is bounded: the last ``history`` ordinary windows and the last ``ring`` vibration
windows (~100 kB with the defaults), allocated only for a device that has a load sensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ThermalConfig", "ThermalWatch"]


@dataclass(frozen=True, slots=True)
class ThermalConfig:
    #: Candidate thermal time constants of the housing (s), 8.5 % apart from 200 s to 1,300 s:
    #: the best-fitting one judges (a lag 10 % off leaves ~4 % of a slow swing unexplained).
    taus_s: tuple[float, ...] = tuple(round(200.0 * 1.085**k, 1) for k in range(24))
    #: Ordinary temperature windows the fit needs before it judges.
    min_windows: int = 10
    #: Flag when the window's mean is off the fit by more than this × its residual scale.
    z: float = 9.0
    #: Smallest residual scale (°C): below it the fit's own residual is not believed.
    floor: float = 0.02
    #: Share of a temperature window ordinary vibration windows must cover to judge it.
    coverage: float = 0.75
    #: Flagged vibration for this long (s) without an ordinary window between begins a new
    #: segment (the lags missed the load meanwhile); shorter gaps the lags hold over.
    gap_s: float = 30.0
    #: Trained windows a segment needs before its windows are judged.
    segment_min: int = 2
    #: A temperature window trains the fit only after this many windows in a row without a
    #: flag (an event's middle can look ordinary to the other checks).
    settle: int = 3
    #: After this many windows in a row that only this check flags, each off the fit by about
    #: as much as the last (within ``steady`` residual scales, or a fifth of the last offset),
    #: the fit is what is wrong (it learnt an event's windows as ordinary): it starts over.
    reseat: int = 4
    steady: float = 3.0
    #: The fit leaves out training windows off it by more than this × its residual scale.
    reject: float = 4.0
    #: Ordinary temperature windows kept for the fit, vibration windows kept for the averages.
    history: int = 128
    ring: int = 256


class ThermalWatch:
    """The temperature a machine's load explains (see the module docstring)."""

    def __init__(self, config: ThermalConfig | None = None) -> None:
        self.config = cfg = config or ThermalConfig()
        self._taus = np.asarray(cfg.taus_s, dtype=np.float64)
        k = len(self._taus)
        self._lag: np.ndarray | None = None  # (2, k): lagged √E and E
        self._start_ns = 0  # where the current segment began
        self._segment = 0
        self._gap_s = 0.0  # flagged vibration since the last ordinary window
        self._ends = np.full(cfg.ring, -1, dtype=np.int64)
        self._durs = np.zeros(cfg.ring)
        self._vals = np.zeros((cfg.ring, 2, k), dtype=np.float32)  # ordinary windows only
        self._at = 0
        self._X = np.zeros((cfg.history, k, 4), dtype=np.float32)
        self._y = np.zeros(cfg.history)
        self._seg = np.zeros(cfg.history, dtype=np.int64)  # each trained window's segment
        self._n = 0
        self._quiet = 0  # temperature windows in a row without a flag
        self._last_z: float | None = None  # of the last window, when only this check flagged it
        self._steady = 0

    @property
    def active(self) -> bool:
        """Whether a load was ever seen (a device without one never judges this way)."""
        return self._lag is not None

    @property
    def trained(self) -> int:
        return min(self._n, self.config.history)

    def load(self, t0_ns: int, end_ns: int, energy: float, ordinary: bool) -> None:
        """A vibration window ``[t0_ns, end_ns)``: its energy, and whether it had no flag."""
        dt = (end_ns - t0_ns) / 1e9
        if not (ordinary and math.isfinite(energy) and energy >= 0.0):
            self._gap_s += dt  # the lags hold still; the ring keeps only what covers the load
            return
        x = np.array([[math.sqrt(energy)], [energy]])
        if self._lag is None:
            self._lag = np.repeat(x, len(self._taus), axis=1)
            self._start_ns = t0_ns
        elif self._gap_s >= self.config.gap_s:
            self._segment += 1
            self._start_ns = t0_ns
        self._gap_s = 0.0
        self._lag += (1.0 - np.exp(-dt / self._taus)) * (x - self._lag)
        i = self._at % self.config.ring
        self._ends[i], self._durs[i], self._vals[i] = end_ns, dt, self._lag
        self._at += 1

    def regressors(self, t0_ns: int, end_ns: int) -> np.ndarray | None:
        """The fit's columns for the window ``[t0_ns, end_ns)`` ((k, 4) for the k lags), or
        None when the load over it is not known well enough to judge."""
        if self._lag is None:
            return None
        inside = (self._ends > t0_ns) & (self._ends <= end_ns)
        if self._durs[inside].sum() < self.config.coverage * (end_ns - t0_ns) / 1e9:
            return None
        lagged = self._vals[inside].mean(axis=0, dtype=np.float64)  # (2, k)
        t = ((t0_ns + end_ns) / 2 - self._start_ns) / 1e9
        x = np.empty((len(self._taus), 4))
        x[:, 0] = 1.0
        x[:, 1:3] = lagged.T
        x[:, 3] = np.exp(-t / self._taus)
        return x

    def check(self, x: np.ndarray | None, mean: float) -> float | None:
        """How far ``mean`` is off the fit, in residual scales (None: cannot judge)."""
        n = self.trained
        cfg = self.config
        if x is None or n < cfg.min_windows or not math.isfinite(mean):
            return None
        seg = self._seg[:n]
        if np.count_nonzero(seg == self._segment) < cfg.segment_min:
            return None
        a, x = _segmented(self._X[:n], seg, x, self._segment)  # every lag's columns at once
        y = self._y[:n]
        coef, s, gram = _fits(a, y, np.ones(a.shape[:2]))
        off = np.abs(y[:, None] - np.einsum("nki,ki->nk", a, coef))
        keep = off <= cfg.reject * np.maximum(s, cfg.floor)
        redo = ~keep.all(axis=0) & (keep.sum(axis=0) >= cfg.min_windows)
        if redo.any():
            coef, s, gram = _fits(a, y, np.where(redo, keep, True).astype(np.float64))
        j = int(np.argmin(s))
        h = float(x[j] @ gram[j] @ x[j])
        return (mean - float(x[j] @ coef[j])) / (max(float(s[j]), cfg.floor) * math.sqrt(1.0 + h))

    def learn(self, x: np.ndarray | None, mean: float, z: float | None, others: bool) -> None:
        """A temperature window was screened (its columns from :meth:`regressors`, ``z`` from
        :meth:`check`, ``others``: another check flagged it): an ordinary one, ``settle``
        windows after the last flag, trains the fit; a run of steady offsets only this check
        flags resets it."""
        alone = not others and self.flagged(z)
        flagged = others or alone
        self._quiet = 0 if flagged else self._quiet + 1
        last, self._last_z = self._last_z, z if alone else None
        near = (
            last is not None
            and z is not None
            and abs(z - last) < max(self.config.steady, 0.2 * abs(last))
        )
        if alone and near:
            self._steady += 1
            if self._steady >= self.config.reseat:
                self._n = self._steady = 0
                self._last_z = None
        else:
            self._steady = 0
        if x is None or flagged or self._quiet <= self.config.settle or not math.isfinite(mean):
            return
        i = self._n % self.config.history
        self._X[i], self._y[i], self._seg[i] = x, mean, self._segment
        self._n += 1

    def flagged(self, z: float | None) -> bool:
        return z is not None and abs(z) > self.config.z


def _segmented(
    rows: np.ndarray, seg: np.ndarray, x: np.ndarray, current: int
) -> tuple[np.ndarray, np.ndarray]:
    """The trained windows' columns (n, k, 4) with their start column spread over one column
    per segment (n, k, 3 + S), and the judged window's columns (k, 4) likewise, in ``current``."""
    segments = np.unique(seg)
    a = np.zeros((*rows.shape[:2], 3 + len(segments)))
    a[:, :, :3] = rows[:, :, :3]
    mine = seg[:, None] == segments[None, :]  # (n, S)
    a[:, :, 3:] = rows[:, :, 3:4] * mine[:, None, :]
    judged = np.zeros((x.shape[0], 3 + len(segments)))
    judged[:, :3] = x[:, :3]
    judged[:, 3 + int(np.searchsorted(segments, current))] = x[:, 3]
    return a, judged


def _fits(a: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares of ``y`` (n,) on each lag's columns ``a`` (n, k, p), weights ``w``
    (n, k) of 0 or 1: the coefficients (k, p), the residual scales (k,) and the inverse Gram
    matrices (k, p, p) (pseudo-inverses: a start column vanishes on a long run)."""
    g = np.einsum("nk,nki,nkj->kij", w, a, a)
    gram = np.linalg.pinv(g, rcond=1e-12, hermitian=True)
    coef = np.einsum("kij,kj->ki", gram, np.einsum("nk,nki,n->ki", w, a, y))
    r = y[:, None] - np.einsum("nki,ki->nk", a, coef)
    s = np.sqrt((w * r * r).sum(axis=0) / np.maximum(1.0, w.sum(axis=0) - a.shape[2]))
    return coef, s, gram
