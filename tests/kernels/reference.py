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


# -- codec stream versions 2 to 4, read literally from docs/kernels.md ---------------------------


class _Bits:
    """LSB-first bit reader over ``data`` that refuses to read past its end."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "little")
        self.size = 8 * len(data)
        self.pos = 0

    def take(self, n: int) -> int:
        if self.pos + n > self.size:
            raise ValueError("bit stream overrun")
        v = (self.value >> self.pos) & ((1 << n) - 1)
        self.pos += n
        return v


def _varint(b: bytes, pos: int) -> tuple[int, int]:
    v = shift = 0
    while True:
        byte = b[pos]
        pos += 1
        v |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return v, pos


def _canonical(lens: dict[int, int]) -> dict[tuple[int, int], int]:
    """(length, code read MSB-first) -> class, codes handed out by (length, class)."""
    out = {}
    code = 0
    prev = 0
    for c, n in sorted(lens.items(), key=lambda t: (t[1], t[0])):
        code <<= n - prev
        out[(n, code)] = c
        code += 1
        prev = n
    return out


def _ent_values(b: bytes, pos: int, m: int) -> tuple[list[int], int]:
    """The ``m`` residuals of an ENT block's table and lanes: (residuals, position after)."""
    lo, hi = b[pos], b[pos + 1]
    pos += 2
    lens = {}
    for j in range(hi - lo + 1):
        nib = (b[pos + j // 2] >> (4 * (j & 1))) & 15
        if nib:
            lens[lo + j] = nib
    pos += (hi - lo + 2) // 2
    codes = _canonical(lens)
    sizes = []
    for _ in range(4):
        size, pos = _varint(b, pos)
        sizes.append(size)
    q = -(-m // 4)
    out: list[int] = []
    for k, size in enumerate(sizes):
        bits = _Bits(b[pos : pos + size])
        pos += size
        for _ in range(max(0, min(m, (k + 1) * q) - k * q)):
            if not lens:  # one class alone: no bits
                c = lo
            else:
                code = n = 0
                while (n, code) not in codes:
                    code = (code << 1) | bits.take(1)
                    n += 1
                c = codes[(n, code)]
            out.append(0 if c == 0 else (1 << (c - 1)) | bits.take(c - 1))
    return out, pos


def _unpredict(z: list[int], tr: int, base: int) -> list[int]:
    v: list[int] = []
    for i, zi in enumerate(z):
        if tr == 0:
            v.append(base + zi)
            continue
        r = (zi >> 1) ^ -(zi & 1)
        if tr >= 16:
            lag = tr - 16
            p = v[i - lag] if i >= lag else (v[i - 1] if i else 0)
        else:  # polynomial extrapolation of order min(i, tr)
            k = min(i, tr)
            if k == 0:
                p = 0
            elif k == 1:
                p = v[i - 1]
            elif k == 2:
                p = 2 * v[i - 1] - v[i - 2]
            else:
                p = 3 * v[i - 1] - 3 * v[i - 2] + v[i - 3]
        v.append(p + r)
    return v


def _latent(bits: int) -> int:
    return bits if bits < 0x80000000 else -(bits - 0x80000000) - 1


def _bits(latent: int) -> int:
    assert -(2**31) <= latent < 2**31
    return latent if latent >= 0 else (-(latent + 1)) | 0x80000000


def _unpredict_float(z: list[int], c: list[float]) -> list[int]:
    """Latents of a block under the linear predictor ``c`` (transforms 9-12, version 3): each
    of the four lanes on its own; a lane's first ``k`` values by the order-1 delta, the others
    from ``float32(c[k-1] y[i-k] + ... + c[0] y[i-1])`` in float64 (``y`` the decoded floats)."""
    k = len(c)
    m = len(z)
    q = -(-m // 4)
    v: list[int] = []
    y: list[float] = []
    for i, zi in enumerate(z):
        r = (zi >> 1) ^ -(zi & 1)
        t = i % q if q else 0
        if t == 0:
            p = 0
        elif t < k:
            p = v[i - 1]
        else:
            s = c[k - 1] * y[i - k]
            for j in range(k - 1, 0, -1):
                s += c[j - 1] * y[i - j]
            p = _latent(int(np.float32(s).view(np.uint32))) if math.isfinite(s) else v[i - 1]
        v.append(p + r)
        y.append(float(np.uint32(_bits(v[-1])).view(np.float32)))
    return v


def decode(b: bytes, seen: list[tuple[int, int]] | None = None) -> np.ndarray:
    """Reference decoder of lossless stream versions 2 to 4 (RAW and ENT blocks), plain
    Python; appends each ENT block's (source, transform) to ``seen``."""
    assert b[:2] == bytes([0xB7, 0x5A]) and b[2] in (2, 3, 4) and b[3] == 0
    n = int.from_bytes(b[4:8], "little")
    block = int.from_bytes(b[8:10], "little")
    pos = 10
    out = np.empty(n, dtype=np.uint32)
    for b0 in range(0, n, block):
        nb = min(block, n - b0)
        scheme = b[pos]
        pos += 1
        if scheme == 0:  # RAW
            out[b0 : b0 + nb] = np.frombuffer(b[pos : pos + 4 * nb], dtype="<u4")
            pos += 4 * nb
            continue
        assert scheme == 3, f"scheme {scheme}"
        src = b[pos]
        pos += 1
        e, s, off = 0, 1.0, 0.0
        if src == 0:
            e = b[pos]
            pos += 1
        elif src in (1, 3):  # scale; affine grid (version 4): scale and offset
            s = float(np.frombuffer(b[pos : pos + 8], dtype="<f8")[0])
            pos += 8
            if src == 3:
                assert b[2] >= 4
                off = float(np.frombuffer(b[pos : pos + 8], dtype="<f8")[0])
                pos += 8
        tr = b[pos]
        pos += 1
        base = 0
        if tr == 0:
            zb, pos = _varint(b, pos)
            base = (zb >> 1) ^ -(zb & 1)
        if seen is not None:
            seen.append((src, tr))
        coef = []
        if b[2] >= 3 and src == 2 and 9 <= tr <= 12:  # linear predictor: float32 coefficients
            coef = [float(c) for c in np.frombuffer(b[pos : pos + 4 * (tr - 8)], dtype="<f4")]
            pos += 4 * (tr - 8)
        exc: dict[int, int] = {}
        fixes: dict[int, int] = {}
        if src == 3:  # fixes: varint count, then varint 4 gap + c (and |r| - 2 for c >= 2)
            n_fix, pos = _varint(b, pos)
            i = -1
            for _ in range(n_fix):
                u, pos = _varint(b, pos)
                i += (u >> 2) + 1
                c = u & 3
                r = 1 if c == 0 else -1
                if c >= 2:
                    mag, pos = _varint(b, pos)
                    r = (mag + 2) * (1 if c == 2 else -1)
                fixes[i] = r
        elif src != 2:
            n_exc = int.from_bytes(b[pos : pos + 2], "little")
            pos += 2
            for _ in range(n_exc):
                exc[int.from_bytes(b[pos : pos + 2], "little")] = int.from_bytes(
                    b[pos + 2 : pos + 6], "little"
                )
                pos += 6
        z, pos = _ent_values(b, pos, nb - len(exc))
        ints = iter(_unpredict_float(z, coef) if coef else _unpredict(z, tr, base))
        for i in range(nb):
            if i in exc:
                out[b0 + i] = exc[i]
                continue
            d = next(ints)
            if src == 2:  # latent: order-preserving integer of the bit pattern
                out[b0 + i] = _bits(d)
            elif src == 3:  # the grid's float32, its latent moved by the fix
                grid = int(np.float32(float(d) * s + off).view(np.uint32))
                out[b0 + i] = _bits(_latent(grid) + fixes.get(i, 0))
            elif src == 0:  # decimal: times the float64 quotient 1 / 10**e
                out[b0 + i] = np.float32(float(d) * (1.0 / 10.0**e)).view(np.uint32)
            else:
                out[b0 + i] = np.float32(float(d) * s).view(np.uint32)
    assert pos == len(b), "trailing bytes"
    return out.view(np.float32)
