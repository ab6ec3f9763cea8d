"""Every public kernel on the golden vectors and the reference suite's inputs, as one ``.npz``.

``python -m tests.kernels.conformance OUT.npz`` writes the outputs of the backend that
``BINHAI_KERNELS`` selects (and its name); ``test_aot.py`` runs it once with ``jit`` and once with
``aot`` and compares the bytes. Outputs are arrays (scalars wrapped), so that NaN payloads, -0 and
denormals are compared bit for bit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import kernels
from kernels import _backend
from tests.kernels import signals
from tests.kernels.make_golden import GOLDEN

FS = signals.FS


def _windows() -> Iterator[tuple[str, np.ndarray]]:
    """The feature inputs of the golden vectors and the reference suite."""
    with np.load(GOLDEN) as g:
        golden = g["windows"]
    for i, w in enumerate(golden):
        yield f"golden{i}", w
    for seed in range(4):
        for n in (64, 100, 256, 257):
            for dtype in (np.float32, np.float64):
                x = np.random.default_rng(seed).standard_normal(n).astype(dtype)
                yield f"random{seed}_{n}_{np.dtype(dtype).name}", x
    yield from signals.edge_windows().items()
    acc = signals.walking_accel(512)
    for c in range(3):
        yield f"walk{c}", acc[:, c].copy()
    yield "ppg", signals.ppg(256)
    for bad in (np.nan, np.inf, -np.inf):
        x = np.random.default_rng(1).standard_normal(128)
        x[17] = bad
        yield f"nonfinite{bad}", x


def _codec_inputs() -> Iterator[tuple[str, np.ndarray]]:
    with np.load(GOLDEN) as g:
        golden = g["codec_input"]
    yield "golden", golden
    yield "smooth", np.sin(np.arange(700) / 13).astype(np.float32)
    yield "accel", signals.walking_accel(300).T.ravel().copy()
    yield "decimals", signals.temperature_log(2100)
    yield "periodic", np.tile(np.float32([-0.58, -0.58, 1.73, -0.58, 2.5e-3]), 80)
    yield "wide", np.random.default_rng(4).integers(-(2**49), 2**49, 300).astype(np.float32)
    specials = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-45, 3.4e38, 0.5]
    yield "specials", np.array(specials * 40, dtype=np.float32)
    yield "random", np.random.default_rng(5).standard_normal(513).astype(np.float32)
    yield "power", signals.power_readings(1100, seed=3)
    calibrated = signals.calibrated_adc(600)
    calibrated.view(np.uint32)[[5, 300]] = [0x7FC00001, 0x80000000]
    yield "calibrated", calibrated


def outputs() -> dict[str, np.ndarray]:
    """Name -> output array of every public kernel on the inputs above."""
    out: dict[str, np.ndarray] = {}
    windows = dict(_windows())
    for name, x in windows.items():
        out[f"features/{name}"] = kernels.window_features(x, FS)
    stack = np.stack([windows[f"random{s}_256_float32"] for s in range(4)])
    out["features_batch"] = kernels.window_features_batch(stack, FS)

    for name, x in _codec_inputs():
        b = kernels.encode_samples(x)
        out[f"codec/{name}"] = np.frombuffer(b, dtype=np.uint8)
        out[f"decoded/{name}"] = kernels.decode_samples(b)
        lossy = kernels.encode_samples(x, resolution=0.01)
        out[f"codec_lossy/{name}"] = np.frombuffer(lossy, dtype=np.uint8)
        out[f"decoded_lossy/{name}"] = kernels.decode_samples(lossy)
    for version in (1, 2, 3):
        with np.load(GOLDEN.with_name(f"golden_codec_v{version}.npz")) as g:
            for key in sorted(k for k in g.files if k.endswith("__stream")):
                out[f"decoded_v{version}/{key}"] = kernels.decode_samples(g[key].tobytes())

    x = signals.walking_accel(400)[:, 0].copy()
    for mode in (kernels.HOLD, kernels.LINEAR):
        idx = kernels.select_points(x, 0.2, mode)
        out[f"points/{mode}"] = idx
        out[f"points64/{mode}"] = kernels.select_points(x.astype(np.float64), 0.2, mode)
        out[f"rebuild/{mode}"] = kernels.rebuild(idx, x[idx], x.size, mode)
        data = np.stack([x, x * 2.0])
        b = kernels.encode_points(data, 0.2, mode)
        out[f"points_bytes/{mode}"] = np.frombuffer(b, dtype=np.uint8)
        out[f"points_decoded/{mode}"] = kernels.decode_points(b, 2, x.size, mode)

    for seed in range(3):
        rng = np.random.default_rng(seed)
        nov = rng.exponential(0.5, 40)
        nov[rng.integers(0, 40, 3)] = np.nan
        raw = rng.integers(500, 3000, 40).astype(np.float64)
        pol = kernels.OffloadPolicy(both_fraction=0.1, explore_fraction=0.05)
        for tokens in (0.0, 5_000.0, 40_000.0, 1e9):
            modes, left = kernels.decide_offload(
                nov, raw, np.full(40, 120.0), tokens=tokens, battery=0.8, policy=pol, seed=seed
            )
            out[f"offload/{seed}/{tokens}"] = np.append(modes.astype(np.float64), left)

    feats = np.random.default_rng(0).standard_normal((40, 6))
    feats[25] += 8.0
    feats[30, 2] = np.nan
    feats[31] = np.nan
    for dtype in (np.float32, np.float64):
        scorer = kernels.NoveltyScorer(6, alpha=0.1, warmup=5)
        scores = [scorer.update(f.astype(dtype)) for f in feats]
        out[f"novelty/{np.dtype(dtype).name}"] = np.append(scores, scorer.state())

    acc = signals.walking_accel(1024)
    for dtype in (np.float32, np.float64):
        steps = kernels.StepCounter(FS)
        counts = [steps.update(acc[i : i + 128].astype(dtype)) for i in range(0, 1024, 128)]
        out[f"steps/{np.dtype(dtype).name}"] = np.append(counts, steps.state())
        hr = kernels.HeartRateEstimator(FS)
        p = signals.ppg(2048)
        bpm = [hr.update(p[i : i + 128].astype(dtype)) for i in range(0, 2048, 128)]
        out[f"hr/{np.dtype(dtype).name}"] = np.append(bpm, hr.state())

    out.update(_screening(acc))
    return out


def _screening(acc: np.ndarray) -> dict[str, np.ndarray]:
    """A device screen over accelerometer and vibration windows (learning, then a jump)."""
    out: dict[str, np.ndarray] = {}
    screen = kernels.DeviceScreen()
    rng = np.random.default_rng(3)
    t = np.arange(256) / 1000.0
    flags = []
    for i in range(120):
        w = acc[(i * 7) % 896 : (i * 7) % 896 + 128].T.astype(np.float32).copy()
        if i >= 100:
            w[0] += 25.0
        f = np.concatenate([kernels.window_features(c, FS) for c in w])
        s = screen.screen("accel", i * 10**9, FS, 128, f, w)
        flags.append([s.flags, s.score])
        v = (np.sin(2 * np.pi * 50 * t) + 0.1 * rng.standard_normal(256)).astype(np.float32)
        if i >= 90:
            v += 0.5 * np.sin(2 * np.pi * 157 * t).astype(np.float32)
        vw = np.stack([v, v * 0.5])
        fv = np.concatenate([kernels.window_features(c, 1000.0) for c in vw])
        s = screen.screen("vib", i * 10**9, 1000.0, 256, fv, vw)
        flags.append([s.flags, s.score])
    out["screen/flags"] = np.array(flags, dtype=np.float64)
    out["screen/accel_ref"] = screen.stream("accel", 3).ref.copy()
    lines = kernels.LineWatch(2, 256)
    ratios = [lines.check(np.stack([v, v]).astype(np.float64), learn=True) for _ in range(40)]
    out["linewatch"] = np.append(ratios, lines.base.ravel())
    # three axes: the checks across them too, a line on two axes from window 36
    axes = kernels.LineWatch(3, 256)
    ratios = []
    for i in range(44):
        x = 0.1 * rng.standard_normal((3, 256)) + np.sin(2 * np.pi * 50 * t)
        if i >= 36:
            x[:2] += 0.05 * np.sin(2 * np.pi * 157 * t)
        ratios.append(axes.check(x, learn=True))
    out["linewatch/axes"] = np.append(ratios, axes.base.ravel())
    return out


def main() -> None:
    path = Path(sys.argv[1])
    np.savez(path, backend=np.array(_backend.MODE), **outputs())
    print(f"{_backend.MODE}: wrote {path}")


if __name__ == "__main__":
    main()
