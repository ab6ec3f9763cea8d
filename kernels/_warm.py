"""Compile (or load from the Numba cache) every kernel once, ahead of first use.

A device that calls :func:`warm_up` at install or boot time never pays the compile on its first
window; with a warm cache (``NUMBA_CACHE_DIR`` or the package's ``__pycache__``) it only loads the
machine code. The test suite calls it once per session for the same reason. With the
ahead-of-time kernels (:mod:`kernels._backend`) there is nothing to compile: it only runs them once.
"""

from __future__ import annotations

import time

import numpy as np

from kernels._codec import decode_samples, encode_samples
from kernels._detectors import HeartRateEstimator, StepCounter
from kernels._features import window_features, window_features_batch
from kernels._novelty import NoveltyScorer
from kernels._offload import decide_offload
from kernels._screening import DeviceScreen


def warm_up() -> float:
    """Run every public kernel on small inputs; return the seconds it took."""
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    x32 = rng.normal(size=256).astype(np.float32)
    for x in (x32, x32.astype(np.float64)):
        window_features(x, 50.0)
    window_features_batch(np.stack([x32, x32]), 50.0)
    decode_samples(encode_samples(x32))
    decode_samples(encode_samples(np.round(x32 * 100) / 100))
    scorer = NoveltyScorer(len(window_features(x32, 50.0)))
    scorer.update(window_features(x32, 50.0))
    decide_offload(
        np.array([0.5]), np.array([1024], dtype=np.int64), np.array([128], dtype=np.int64),
        tokens=4096.0, battery=1.0, seed=1,
    )  # fmt: skip
    StepCounter(50.0).update(rng.normal(size=(256, 3)).astype(np.float32))
    HeartRateEstimator(100.0).update(x32)
    screen = DeviceScreen()  # the screening kernels, a spectral line watch and the pulse check
    for sensor, channels in (("accel", 3), ("ppg", 1), ("vib", 3), ("temp", 1)):
        x = rng.normal(size=(channels, 256)).astype(np.float32)
        f = np.concatenate([window_features(ch, 50.0) for ch in x])
        screen.screen(sensor, 0, 50.0, 256, f, x)
    return time.perf_counter() - started
