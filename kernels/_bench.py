"""Measurement logic of ``binhai bench kernels`` (the CLI command only formats and prints).

Everything is measured side by side in one run, on data generated here from fixed seeds, and
reported as absolute figures plus ratios against baselines written plainly in this module:
NumPy vectorised across windows, a per-window SciPy loop, a plain Gorilla XOR coder and zstd.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numba import njit, prange

from kernels._codec import decode_samples, encode_samples
from kernels._config import JIT_PARALLEL
from kernels._features import window_features, window_features_batch

FS = 50.0


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


# -- NumPy / SciPy baselines ---------------------------------------------------------------------


def numpy_features(xs: np.ndarray, fs: float) -> np.ndarray:
    """The same features, NumPy vectorised across windows (float64), as well as NumPy can."""
    x = xs.astype(np.float64)
    n = x.shape[1]
    mean = x.mean(1)
    z = x - mean[:, None]
    z2 = z * z
    m2 = z2.mean(1)
    std = np.sqrt(m2)
    safe = np.where(m2 > 0, m2, 1.0)
    skew = np.where(m2 > 0, (z2 * z).mean(1) / safe**1.5, 0.0)
    kurt = np.where(m2 > 0, (z2 * z2).mean(1) / safe**2 - 3.0, 0.0)
    mn, mx = x.min(1), x.max(1)
    rms = np.sqrt((x * x).mean(1))
    neg = x < 0
    zcr = (neg[:, 1:] != neg[:, :-1]).sum(1) / (n - 1)
    zneg = z < 0
    mcr = (zneg[:, 1:] != zneg[:, :-1]).sum(1) / (n - 1)
    mid = x[:, 1:-1]
    peaks = ((mid > x[:, :-2]) & (mid > x[:, 2:]) & (mid > (mean + std)[:, None])).sum(1)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    spec = np.fft.rfft(z * w, axis=1)[:, 1 : n // 2 + 1]
    p = spec.real**2 + spec.imag**2
    k = np.arange(1, n // 2 + 1)
    f = k * fs / n
    total = p.sum(1)
    tot = np.where(total > 0, total, 1.0)[:, None]
    q = p / tot
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(q > 0, q * np.log(q), 0.0).sum(1) / np.log(p.shape[1])
    pe = p + 1e-12 * p.max(1, keepdims=True)
    flat = np.exp(np.log(pe).mean(1)) / pe.mean(1)
    dom = f[np.argmax(p, 1)]
    cen = (p * f).sum(1) / tot[:, 0]
    roll = f[np.argmax(np.cumsum(p, 1) >= 0.85 * total[:, None], 1)]
    band = np.minimum((16 * k) // n, 7)
    bands = np.stack([p[:, band == j].sum(1) for j in range(8)], 1) / tot
    crest = np.maximum(np.abs(mn), np.abs(mx)) / np.where(rms > 0, rms, 1.0)
    mad = np.abs(z).mean(1)
    jerk = np.sqrt((np.diff(x, axis=1) ** 2).mean(1)) * fs
    ac = [(z[:, : n - lag] * z[:, lag:]).sum(1) / (n * safe) for lag in (1, 2, 4, 8)]
    cols = [mean, std, mn, mx, rms, mx - mn, skew, kurt, zcr, mcr, peaks, dom, cen, ent, flat, roll]
    return np.column_stack([*cols, bands, crest, mad, jerk, *ac]).astype(np.float32)


def scipy_window_features(x: np.ndarray, fs: float) -> list[float]:
    """One window with SciPy, the way a per-window script would do it."""
    import scipy.fft
    import scipy.signal
    import scipy.stats

    x = x.astype(np.float64)
    n = x.size
    mean, std = x.mean(), x.std()
    z = x - mean
    out = [mean, std, x.min(), x.max(), math.sqrt(np.mean(x * x)), np.ptp(x)]
    out += [scipy.stats.skew(x), scipy.stats.kurtosis(x)]
    out += [np.count_nonzero(np.diff(np.signbit(x))) / (n - 1)]
    out += [np.count_nonzero(np.diff(np.signbit(z))) / (n - 1)]
    pk, _ = scipy.signal.find_peaks(x, height=mean + std)
    out.append(len(pk))
    p = np.abs(scipy.fft.rfft(z * scipy.signal.get_window("hann", n)))[1 : n // 2 + 1] ** 2
    f = np.arange(1, n // 2 + 1) * fs / n
    tot = p.sum()
    out += [f[np.argmax(p)], (f * p).sum() / tot, scipy.stats.entropy(p) / np.log(p.size)]
    out += [scipy.stats.gmean(p + 1e-12 * p.max()) / np.mean(p + 1e-12 * p.max())]
    out += [f[np.searchsorted(np.cumsum(p), 0.85 * tot)]]
    band = np.minimum((16 * np.arange(1, n // 2 + 1)) // n, 7)
    out += [p[band == j].sum() / tot for j in range(8)]
    out += [np.abs(x).max() / out[4], np.abs(z).mean(), np.sqrt(np.mean(np.diff(x) ** 2)) * fs]
    ac = scipy.signal.correlate(z, z, mode="full")[n - 1 :] / (n * std * std)
    return [*out, ac[1], ac[2], ac[4], ac[8]]


@njit(**JIT_PARALLEL)
def _stats_batch(xs, out):  # pragma: no cover - compiled
    """mean, std, min, max, rms of each row in one pass (the memory-bound part of the features)."""
    for i in prange(xs.shape[0]):
        s = 0.0
        sq = 0.0
        mn = np.inf
        mx = -np.inf
        for j in range(xs.shape[1]):
            v = np.float64(xs[i, j])
            s += v
            sq += v * v
            mn = min(mn, v)
            mx = max(mx, v)
        n = xs.shape[1]
        mean = s / n
        out[i, 0] = mean
        out[i, 1] = math.sqrt(max(sq / n - mean * mean, 0.0))
        out[i, 2] = mn
        out[i, 3] = mx
        out[i, 4] = math.sqrt(sq / n)


# -- codec baselines -----------------------------------------------------------------------------


def gorilla_bytes(x: np.ndarray) -> int:
    """Size of a plain Gorilla XOR coding of float32 values (32-bit variant), in bytes."""
    bits = [int(v) for v in x.view(np.uint32)]
    if not bits:
        return 0
    nbits = 32
    prev, plz, ptz = bits[0], -1, -1
    for cur in bits[1:]:
        xor = cur ^ prev
        prev = cur
        if xor == 0:
            nbits += 1
            continue
        lz = 32 - xor.bit_length()
        tz = (xor & -xor).bit_length() - 1
        if plz >= 0 and lz >= plz and tz >= ptz:
            nbits += 2 + 32 - plz - ptz
        else:
            nbits += 2 + 5 + 5 + 32 - lz - tz
            plz, ptz = lz, tz
    return (nbits + 7) // 8


def codec_signals(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Three channel-major streams of 3-channel windows of 256 samples (n samples each)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n // 3) / FS
    smooth = np.concatenate([np.sin(2 * np.pi * f * t + f) for f in (0.3, 0.5, 0.7)])
    lsb = np.float32(2 * 9.80665 / 32768)  # 16-bit ADC, +-2 g, m/s²
    walk = [
        0.3 * np.sin(2 * np.pi * 0.9 * t),
        0.1 * np.sin(t),
        9.81 + 2 * np.sin(2 * np.pi * 1.8 * t),
    ]
    accel = [np.round((w + 0.05 * rng.standard_normal(t.size)) / lsb) * lsb for w in walk]
    temp = 21.5 + np.cumsum(rng.standard_normal(t.size)) * 0.01
    adc = [
        np.round(temp, 2),
        np.round(45 + 0.02 * np.cumsum(rng.standard_normal(t.size)), 1),
        np.round(np.round(1013.25 * 400 + rng.standard_normal(t.size) * 3) / 400, 3),
    ]
    return {
        name: _channel_major(np.asarray(np.stack(list(chans)), dtype=np.float32))
        for name, chans in (
            ("smooth", smooth.reshape(3, -1)),
            ("noisy_accel", accel),
            ("adc_decimal", adc),
        )
    }


def _channel_major(chans: np.ndarray, window: int = 256) -> np.ndarray:
    """Concatenate 3-channel windows channel-major: [x0..x255, y0..y255, z0..z255, x256...]."""
    c, n = chans.shape
    n -= n % window
    return chans[:, :n].reshape(c, -1, window).transpose(1, 0, 2).ravel().copy()


def _per_window(x: np.ndarray, size: int, fn: Callable[[np.ndarray], int]) -> float:
    total = sum(fn(x[i : i + size]) for i in range(0, x.size, size))
    return total / x.size


# -- the run -------------------------------------------------------------------------------------


def run(
    windows: int = 20_000, n: int = 256, scipy_windows: int = 300
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Run every measurement; yields ``(step name, results so far)`` after each step."""
    res: dict[str, Any] = {
        "windows": windows,
        "n": n,
        "threads": _threads(),
        "cpus": os.cpu_count(),
    }
    xs = np.random.default_rng(0).standard_normal((windows, n)).astype(np.float32)
    window_features_batch(xs[:4], FS)
    window_features(xs[0], FS)
    t_batch = _best(lambda: window_features_batch(xs, FS))
    res["batch_s"] = t_batch
    res["batch_windows_per_s"] = windows / t_batch
    yield "batch features", res
    t_np = _best(lambda: numpy_features(xs, FS), repeat=2)
    res["numpy_s"] = t_np
    res["speedup_vs_numpy"] = t_np / t_batch
    yield "numpy baseline", res
    try:
        sub = xs[: min(scipy_windows, windows)]
        scipy_window_features(sub[0], FS)  # imports and warm-up outside the timing
        t = time.perf_counter()
        for row in sub:
            scipy_window_features(row, FS)
        per = (time.perf_counter() - t) / sub.shape[0]
        res["scipy_s_scaled"] = per * windows
        res["speedup_vs_scipy"] = per * windows / t_batch
    except ImportError:
        res["scipy_s_scaled"] = None
        res["speedup_vs_scipy"] = None
    yield "scipy baseline", res
    x0 = xs[1]
    reps = 2000
    lat = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            window_features(x0, FS)
        lat.append((time.perf_counter() - t) / reps)
    res["single_window_us"] = min(lat) * 1e6
    yield "single-window latency", res
    res.update(_bandwidth(xs))
    yield "memory bandwidth", res
    res["codec"] = _codec()
    yield "codec", res
    res["cold_start"] = _cold_start()
    yield "cold start", res


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _bandwidth(xs: np.ndarray) -> dict[str, float]:
    big = np.random.default_rng(1).standard_normal(64 * 2**20 // 8)  # 64 MiB, beyond the caches
    dst = np.empty_like(big)
    t_copy = _best(lambda: np.copyto(dst, big), repeat=5)
    copy_bw = 2 * big.nbytes / t_copy  # bytes read + written per second
    reps = max(1, (64 * 2**20) // xs.nbytes)
    stack = np.concatenate([xs] * reps) if reps > 1 else xs
    out = np.empty((stack.shape[0], 5))
    _stats_batch(stack[:2], out[:2])
    t_stats = _best(lambda: _stats_batch(stack, out), repeat=5)
    stats_bw = stack.nbytes / t_stats
    return {
        "copy_bandwidth_gb_s": copy_bw / 1e9,
        "stats_read_gb_s": stats_bw / 1e9,
        "stats_fraction_of_bandwidth": stats_bw / copy_bw,
    }


def _codec(n: int = 3 * 256 * 300) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        import zstandard

        zc: Any = zstandard.ZstdCompressor(level=3)
    except ImportError:
        zc = None
    window = 3 * 256
    for name, x in codec_signals(n).items():
        ours = _per_window(x, window, lambda w: len(encode_samples(w)))
        gor = _per_window(x, window, gorilla_bytes)
        zst = _per_window(x, window, lambda w: len(zc.compress(w.tobytes()))) if zc else None
        best = min(gor, zst) if zst is not None else gor
        out[name] = {
            "bytes_per_sample": ours,
            "gorilla_bytes_per_sample": gor,
            "zstd3_bytes_per_sample": zst,
            "ratio_vs_best_baseline": ours / best,
        }
    x = np.tile(codec_signals(n)["noisy_accel"], 4)
    enc = encode_samples(x)
    decode_samples(enc)
    t_enc = _best(lambda: encode_samples(x))
    t_dec = _best(lambda: decode_samples(enc))
    out["encode_mb_s"] = x.nbytes / t_enc / 1e6
    out["decode_mb_s"] = x.nbytes / t_dec / 1e6
    win = x[:window]
    t_win = _best(lambda: [encode_samples(win) for _ in range(2000)]) / 2000
    out["encode_window_us"] = t_win * 1e6
    out["zstd_available"] = zc is not None
    return out


_COLD = (
    "import time; t = time.perf_counter(); import numpy as np, kernels; "
    "x = np.zeros(256, np.float32); kernels.window_features(x, 50.0); "
    "kernels.window_features_batch(x[None], 50.0); "
    "kernels.decode_samples(kernels.encode_samples(x)); "
    "print(time.perf_counter() - t)"
)


def _cold_start() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="binhai-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        times = []
        for _ in range(2):
            proc = subprocess.run(
                [sys.executable, "-c", _COLD], env=env, capture_output=True, text=True, check=True
            )
            times.append(float(proc.stdout.strip().splitlines()[-1]))
    return {"empty_cache_s": times[0], "warm_cache_s": times[1]}
