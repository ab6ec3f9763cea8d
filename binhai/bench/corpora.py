"""Signals of the codec benchmark: synthetic streams from fixed seeds, and real recordings.

The recordings are read from the UEA/UCR time-series archive files that the ``sktime`` package
ships (a ``dev`` extra; BSD-3-Clause, the data sets under their archive terms): nothing is
downloaded and no third-party data is kept in this repository. Each corpus is a list of windows
as a device sends them: float32, channel-major for several channels.

* ``watch_imu`` — BasicMotions: a smartwatch's 3-axis accelerometer and 3-axis gyroscope at
  10 Hz (standing, walking, running, badminton); one window = one recording, 6 x 100 samples.
* ``appliance_current`` — PLAID: plug-load appliance current waveforms at 30 kHz (1,074
  recordings, 100–1,344 samples); windows of 500 samples (one 60 Hz mains cycle), a tail of at
  least 100 kept.
* ``appliance_power`` — ACS-F1: household appliance power-consumption signatures (200
  recordings of 1,460 samples, z-normalised); windows of 365 samples.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FS = 50.0
#: (corpus name, archive problem, samples per window; 0 = one recording per window)
RECORDED = (
    ("watch_imu", "BasicMotions", 0),
    ("appliance_current", "PLAID", 500),
    ("appliance_power", "ACSF1", 365),
)
MIN_TAIL = 100


@dataclass(frozen=True)
class Corpus:
    """Windows of one signal family, as a device would send them one by one."""

    name: str
    recorded: bool
    windows: list[np.ndarray]

    @property
    def samples(self) -> int:
        return sum(w.size for w in self.windows)


def synthetic(n: int = 3 * 256 * 300, seed: int = 0, window: int = 3 * 256) -> list[Corpus]:
    """Three channel-major streams of 3-channel windows of 256 samples, cut into windows."""
    return [
        Corpus(name, False, [x[i : i + window] for i in range(0, x.size, window)])
        for name, x in codec_signals(n, seed).items()
    ]


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


def archive_dir() -> Path | None:
    """Where sktime keeps its bundled archive files (without importing sktime), or None."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return path if path.is_dir() else None


def recorded() -> list[Corpus]:
    """The recorded corpora (empty when sktime is not installed)."""
    root = archive_dir()
    if root is None:
        return []
    out = []
    for name, problem, window in RECORDED:
        cases = [
            c
            for part in ("TRAIN", "TEST")
            for c in read_ts(root / problem / f"{problem}_{part}.ts")
        ]
        out.append(Corpus(name, True, [w for c in cases for w in _windows(c, window)]))
    return out


def _windows(case: list[np.ndarray], window: int) -> list[np.ndarray]:
    if window == 0:
        return [np.concatenate(case)]
    (x,) = case
    cuts = [x[i : i + window] for i in range(0, x.size, window)]
    return [c.copy() for c in cuts if c.size >= MIN_TAIL]


def read_ts(path: Path) -> list[list[np.ndarray]]:
    """Cases of a ``.ts`` archive file: per case, one float32 array per dimension (label dropped).

    Values are parsed as the decimal text says, then rounded once to float32 — the samples a
    device holding those readings would send.
    """
    cases = []
    in_data = False
    with path.open(encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                in_data = line.lower().startswith("@data")
                continue
            if in_data:
                dims = line.split(":")[:-1]
                cases.append(
                    [np.array(d.split(","), dtype=np.float64).astype(np.float32) for d in dims]
                )
    return cases
