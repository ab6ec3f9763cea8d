"""Measurement logic of ``binhai bench kernels`` (the CLI command only formats and prints).

Everything is measured side by side in one run, on data generated from fixed seeds (and, for the
codec, real recordings: :mod:`binhai.bench.corpora`), and reported as absolute figures plus ratios
against the baselines of :mod:`binhai.bench.baselines` (NumPy vectorised across windows, a
per-window SciPy loop) and the peer codecs of :mod:`binhai.bench.codec`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from binhai.bench import codec
from binhai.bench.baselines import numpy_features, scipy_window_features, stats_batch
from kernels import window_features, window_features_batch

FS = 50.0


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


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
    res["codec"] = codec.run()
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
    stats_batch(stack[:2], out[:2])
    t_stats = _best(lambda: stats_batch(stack, out), repeat=5)
    stats_bw = stack.nbytes / t_stats
    return {
        "copy_bandwidth_gb_s": copy_bw / 1e9,
        "stats_read_gb_s": stats_bw / 1e9,
        "stats_fraction_of_bandwidth": stats_bw / copy_bw,
    }


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
