"""The offload decision: FEATURES, RAW or BOTH for each window, under an uplink byte budget.

Per window the device can send its features (``FEATURES``), its raw samples (``RAW``, from which
the cloud recomputes the features) or both (``BOTH``, so the cloud can check that device and cloud
kernels agree). Codes match the protobuf enum ``Offload``: 1 FEATURES, 2 RAW, 3 BOTH.

Algorithm (:func:`decide_offload`), deterministic given ``seed``:

1. Every window costs at least its features; that floor is always sent.
2. If ``battery < policy.min_battery_raw`` nothing is upgraded.
3. Windows whose novelty is ``>= policy.novelty_threshold`` are upgraded to RAW in order of
   decreasing novelty (ties: lower index first), each one only if its extra bytes
   (``raw - features``) fit in the tokens left; a window that does not fit is skipped, a smaller
   one further down may still fit.
4. Each window is drawn for a conformance check with probability ``policy.both_fraction`` (a
   counter-based hash of ``seed`` and the window index, so the draw does not depend on the other
   windows). Drawn windows are upgraded to BOTH (from RAW: + features; from FEATURES: + raw), in
   index order, if the bytes fit.
5. With ``policy.explore_fraction`` > 0, remaining windows are drawn likewise and go RAW if the
   bytes fit (raw samples of ordinary windows for the cloud to learn from).

The bytes spent never exceed ``tokens`` unless the features floor alone does; then nothing is
upgraded and ``tokens_left`` is negative (a debt the token bucket repays).
NaN novelty counts as not novel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kernels._backend import njit
from kernels._config import JIT_EXACT
from kernels._errors import KernelInputError

FEATURES = 1
RAW = 2
BOTH = 3

_M64 = (1 << 64) - 1


@dataclass(frozen=True)
class OffloadPolicy:
    """The cloud's offload policy for a device (small, frozen, sent down as part of a policy).

    Attributes
    ----------
    novelty_threshold : float
        Novelty score at or above which a window is an anomaly that should go RAW. Default 1.0
        (one standard deviation beyond the scorer's allowance).
    both_fraction : float
        Fraction of windows sent BOTH for device/cloud conformance checks. Default 0.01.
    explore_fraction : float
        Fraction of ordinary windows sent RAW when budget is left. Default 0.0.
    min_battery_raw : float
        Battery level (0..1) below which no window is upgraded beyond FEATURES. Default 0.15.
    """

    novelty_threshold: float = 1.0
    both_fraction: float = 0.01
    explore_fraction: float = 0.0
    min_battery_raw: float = 0.15

    def __post_init__(self) -> None:
        if not math.isfinite(self.novelty_threshold) or self.novelty_threshold < 0.0:
            raise KernelInputError("novelty_threshold", "must be finite and >= 0")
        for name in ("both_fraction", "explore_fraction", "min_battery_raw"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise KernelInputError(name, f"must be in [0, 1], got {v!r}")


@njit(**JIT_EXACT)
def uniform(seed, index, stream):  # pragma: no cover - compiled
    """Counter-based uniform draw in [0, 1): splitmix64 of (seed, index, stream)."""
    z = np.uint64(seed) + np.uint64(index) * np.uint64(0x9E3779B97F4A7C15)
    z += np.uint64(stream) * np.uint64(0xD1B54A32D192ED03)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(**JIT_EXACT)
def offload_kernel(
    novelty,
    raw_bytes,
    feature_bytes,
    tokens,
    battery,
    threshold,
    both_fraction,
    explore_fraction,
    min_battery,
    seed,
    modes,
):  # pragma: no cover - compiled
    """Fill ``modes`` (int8 (m,)); return the tokens left. See the module docstring."""
    m = novelty.shape[0]
    left = tokens
    for i in range(m):
        modes[i] = FEATURES
        left -= feature_bytes[i]
    if left < 0.0 or battery < min_battery:
        return left
    key = np.empty(m, dtype=np.float64)
    for i in range(m):
        v = novelty[i]
        key[i] = -v if v == v else np.inf
    order = np.argsort(key, kind="mergesort")
    for r in range(m):
        i = order[r]
        if not novelty[i] >= threshold:
            break
        extra = raw_bytes[i] - feature_bytes[i]
        if extra <= left:
            modes[i] = RAW
            left -= extra
    for i in range(m):
        if uniform(seed, i, 1) < both_fraction:
            extra = feature_bytes[i] if modes[i] == RAW else raw_bytes[i]
            if extra <= left:
                modes[i] = BOTH
                left -= extra
    if explore_fraction > 0.0:
        for i in range(m):
            if modes[i] == FEATURES and uniform(seed, i, 2) < explore_fraction:
                extra = raw_bytes[i] - feature_bytes[i]
                if extra <= left:
                    modes[i] = RAW
                    left -= extra
    return left


def _as_costs(v: np.ndarray | float, m: int, name: str) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(m, float(a))
    if a.shape != (m,):
        raise KernelInputError(name, f"expected a scalar or shape ({m},), got {a.shape}")
    if not (np.isfinite(a).all() and (a >= 0).all()):
        raise KernelInputError(name, "byte counts must be finite and >= 0")
    return np.ascontiguousarray(a)


def decide_offload(
    novelty: np.ndarray,
    raw_bytes: np.ndarray | float,
    feature_bytes: np.ndarray | float,
    *,
    tokens: float,
    battery: float,
    policy: OffloadPolicy | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Choose FEATURES (1), RAW (2) or BOTH (3) for each window.

    Parameters
    ----------
    novelty : ndarray, float, shape (m,)
        Novelty score of each window (>= 0; NaN counts as not novel).
    raw_bytes, feature_bytes : ndarray shape (m,) or scalar, bytes
        Encoded size of each window's raw samples and of its features.
    tokens : float, bytes
        Uplink budget available for these windows (the token bucket's level).
    battery : float
        Battery level in [0, 1].
    policy : OffloadPolicy, optional
        Thresholds and fractions; ``OffloadPolicy()`` defaults when omitted.
    seed : int
        Seed of the conformance / exploration draws (0 <= seed < 2**64).

    Returns
    -------
    modes : ndarray, int8, shape (m,)
        1 FEATURES, 2 RAW, 3 BOTH (the protobuf ``Offload`` codes).
    tokens_left : float, bytes
        ``tokens`` minus the bytes spent (negative only when features alone exceed it).
    """
    pol = OffloadPolicy() if policy is None else policy
    nov = np.ascontiguousarray(np.asarray(novelty, dtype=np.float64))
    if nov.ndim != 1:
        raise KernelInputError("novelty", f"expected a 1-D array, got shape {nov.shape}")
    m = nov.shape[0]
    raw = _as_costs(raw_bytes, m, "raw_bytes")
    feat = _as_costs(feature_bytes, m, "feature_bytes")
    if not math.isfinite(tokens):
        raise KernelInputError("tokens", f"must be finite, got {tokens!r}")
    if not (math.isfinite(battery) and 0.0 <= battery <= 1.0):
        raise KernelInputError("battery", f"must be in [0, 1], got {battery!r}")
    if not 0 <= int(seed) <= _M64:
        raise KernelInputError("seed", "must be in [0, 2**64)")
    modes = np.empty(m, dtype=np.int8)
    # the hash relies on uint64 wrap-around; without Numba, NumPy would warn about it
    with np.errstate(over="ignore"):
        left = offload_kernel(
            nov,
            raw,
            feat,
            float(tokens),
            float(battery),
            float(pol.novelty_threshold),  # floats whatever was given: one compiled signature
            float(pol.both_fraction),
            float(pol.explore_fraction),
            float(pol.min_battery_raw),
            np.uint64(int(seed)),
            modes,
        )
    return modes, float(left)


class TokenBucket:
    """Uplink byte budget: ``rate`` bytes/s refill up to ``capacity`` bytes (no clock inside).

    Parameters
    ----------
    rate : float
        Refill rate, bytes per second (>= 0).
    capacity : float
        Maximum level, bytes (>= 0; 0 leaves no room beyond what features spend).
    level : float, optional
        Initial level; defaults to ``capacity``.
    """

    def __init__(self, rate: float, capacity: float, *, level: float | None = None) -> None:
        if not (math.isfinite(rate) and rate >= 0.0):
            raise KernelInputError("rate", f"must be finite and >= 0, got {rate!r}")
        if not (math.isfinite(capacity) and capacity >= 0.0):
            raise KernelInputError("capacity", f"must be finite and >= 0, got {capacity!r}")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.level = self.capacity if level is None else min(float(level), self.capacity)

    def advance(self, seconds: float) -> float:
        """Refill for ``seconds`` of elapsed time (>= 0); return the new level."""
        if not (math.isfinite(seconds) and seconds >= 0.0):
            raise KernelInputError("seconds", f"must be finite and >= 0, got {seconds!r}")
        self.level = min(self.capacity, self.level + self.rate * seconds)
        return self.level

    def spend(self, nbytes: float) -> None:
        """Take ``nbytes`` out (the level may go negative: a debt repaid by refills)."""
        self.level -= float(nbytes)

    def decide(
        self,
        novelty: np.ndarray,
        raw_bytes: np.ndarray | float,
        feature_bytes: np.ndarray | float,
        *,
        battery: float,
        policy: OffloadPolicy | None = None,
        seed: int = 0,
    ) -> np.ndarray:
        """:func:`decide_offload` with this bucket's level as the budget; spends what it uses."""
        modes, left = decide_offload(
            novelty,
            raw_bytes,
            feature_bytes,
            tokens=self.level,
            battery=battery,
            policy=policy,
            seed=seed,
        )
        self.level = left
        return modes
