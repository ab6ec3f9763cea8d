"""Slow, obviously correct references for every kernel (plain Python / NumPy / SciPy).

Each function follows the written definition literally, one window at a time, without any of the
kernels' tricks (single passes, rewritten formulas, integer band indices).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from kernels import AUTOCORR_LAGS, BOTH, FEATURE_NAMES, FEATURES, RAW, OffloadPolicy

N_BANDS = 8


def features(x: np.ndarray, fs: float) -> np.ndarray:
    """Reference for ``window_features``: the definitions, in FEATURE_NAMES order."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if not np.isfinite(x).all():
        return np.full(len(FEATURE_NAMES), np.nan, dtype=np.float32)
    f: dict[str, float] = {}
    # a constant window's mean is the constant itself (exact)
    mean = x[0] if np.all(x == x[0]) else float(np.mean(x))
    z = x - mean
    m2 = float(np.mean(z**2))
    std = math.sqrt(m2)
    f["mean"], f["std"], f["min"], f["max"] = mean, std, x.min(), x.max()
    f["rms"] = math.sqrt(float(np.mean(x**2)))
    f["ptp"] = x.max() - x.min()
    if m2 > 0:
        f["skew"] = float(np.mean(z**3)) / m2**1.5
        f["kurtosis"] = float(np.mean(z**4)) / m2**2 - 3.0
    else:
        f["skew"] = f["kurtosis"] = 0.0
    f["zero_crossing_rate"] = _crossings(x) / (n - 1) if n > 1 else 0.0
    f["mean_crossing_rate"] = _crossings(z) / (n - 1) if n > 1 else 0.0
    f["peak_count"] = sum(
        1 for i in range(1, n - 1) if x[i] > x[i - 1] and x[i] > x[i + 1] and x[i] > mean + std
    )
    f.update(_spectral(z, fs))
    f["crest_factor"] = max(abs(x.min()), abs(x.max())) / f["rms"] if f["rms"] > 0 else 0.0
    f["mean_abs_deviation"] = float(np.mean(np.abs(z)))
    f["jerk_rms"] = math.sqrt(float(np.mean((np.diff(x) * fs) ** 2))) if n > 1 else 0.0
    for k in AUTOCORR_LAGS:
        ok = m2 > 0 and k < n
        f[f"autocorr_lag{k}"] = float(np.dot(z[: n - k], z[k:])) / (n * m2) if ok else 0.0
    return np.array([f[name] for name in FEATURE_NAMES], dtype=np.float32)


def _crossings(v: np.ndarray) -> int:
    return sum(1 for i in range(1, v.size) if (v[i - 1] < 0) != (v[i] < 0))


def _spectral(z: np.ndarray, fs: float) -> dict[str, float]:
    n = z.size
    names = ["dominant_freq", "spectral_centroid", "spectral_entropy", "spectral_flatness"]
    names += ["spectral_rolloff"] + [f"band_power_{j}" for j in range(N_BANDS)]
    zero = dict.fromkeys(names, 0.0)
    if n < 2:
        return zero
    k = np.arange(n)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * k / n)
    spec = scipy.fft.rfft(z * w)
    p = np.abs(spec[1 : n // 2 + 1]) ** 2
    kk = np.arange(1, n // 2 + 1)
    f = kk * fs / n
    total = p.sum()
    if total == 0:
        return zero
    out = {}
    out["dominant_freq"] = f[int(np.argmax(p))]
    out["spectral_centroid"] = float(np.sum(f * p) / total)
    q = p / total
    nz = q[q > 0]
    ent = float(-np.sum(nz * np.log(nz)) / np.log(p.size)) if p.size > 1 else 0.0
    out["spectral_entropy"] = ent
    pe = p + 1e-12 * p.max()
    out["spectral_flatness"] = float(np.exp(np.mean(np.log(pe))) / np.mean(pe))
    cum = np.cumsum(p)
    out["spectral_rolloff"] = f[int(np.argmax(cum >= 0.85 * total))]
    # band(k) = min(floor(8 f[k] / (fs / 2)), 7), evaluated exactly: 8 f / (fs/2) == 16 k / n
    band = np.minimum((16 * kk) // n, N_BANDS - 1)
    for j in range(N_BANDS):
        out[f"band_power_{j}"] = float(p[band == j].sum() / total)
    return out


def offload(
    novelty: np.ndarray,
    raw: np.ndarray,
    feat: np.ndarray,
    tokens: float,
    battery: float,
    policy: OffloadPolicy,
    seed: int,
) -> tuple[np.ndarray, float]:
    """Reference for ``decide_offload``, written as the documented steps."""
    m = len(novelty)
    modes = [FEATURES] * m
    left = tokens - float(np.sum(feat))
    if left < 0 or battery < policy.min_battery_raw:
        return np.array(modes, dtype=np.int8), left
    nov = [v if v == v else -math.inf for v in novelty]
    for i in sorted(range(m), key=lambda i: (-nov[i], i)):
        if nov[i] >= policy.novelty_threshold and raw[i] - feat[i] <= left:
            modes[i] = RAW
            left -= raw[i] - feat[i]
    for i in range(m):
        if uniform(seed, i, 1) < policy.both_fraction:
            extra = feat[i] if modes[i] == RAW else raw[i]
            if extra <= left:
                modes[i] = BOTH
                left -= extra
    if policy.explore_fraction > 0:
        for i in range(m):
            drawn = modes[i] == FEATURES and uniform(seed, i, 2) < policy.explore_fraction
            if drawn and raw[i] - feat[i] <= left:
                modes[i] = RAW
                left -= raw[i] - feat[i]
    return np.array(modes, dtype=np.int8), left


def uniform(seed: int, index: int, stream: int) -> float:
    """splitmix64 on Python integers."""
    mask = (1 << 64) - 1
    z = (seed + index * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    return (z >> 11) / 2.0**53


def novelty_scores(
    feats: np.ndarray, alpha: float, warmup: int, k: float = 3.0, clip: float = 4.0
) -> list[float]:
    """Reference for ``NoveltyScorer``: the documented EWMA z-score recursion."""
    nf = feats.shape[1]
    mu = [0.0] * nf
    var = [0.0] * nf
    count = 0
    scores = []
    for row in feats.astype(np.float64):
        fin = [j for j in range(nf) if math.isfinite(row[j])]
        if not fin:
            scores.append(0.0)
            continue
        if count < warmup:
            count += 1
            for j in fin:
                old = mu[j]
                mu[j] = old + (row[j] - old) / count
                var[j] = var[j] + ((row[j] - old) * (row[j] - mu[j]) - var[j]) / count
            scores.append(0.0)
            continue
        count += 1
        total = 0.0
        for j in fin:
            eps = 1e-6 * max(abs(mu[j]), 1e-3)
            sd = math.sqrt(var[j] + eps**2)
            z = (row[j] - mu[j]) / sd
            total += max(0.0, abs(z) - k) ** 2
            d = min(max(z, -clip), clip) * sd
            mu[j] += alpha * d
            var[j] = (1 - alpha) * (var[j] + alpha * d * d)
        scores.append(math.sqrt(total / len(fin)))
    return scores
