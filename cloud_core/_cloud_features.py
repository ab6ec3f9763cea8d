"""Cloud-side kernels: features of offloaded raw windows, and the device-conformance check.

Pure functions on decoded arrays (no I/O). The core decodes every RAW and BOTH window of a flush
(:func:`decode_raw`, which also validates the samples), then :func:`compute_features` runs
``kernels.window_features_batch`` once per (samples per channel, rate) group across all windows
of the flush, every channel of a window being one row. RAW windows store these features with
``source = cloud``; for BOTH windows :func:`conforms` compares them with the device's.

Tolerance
---------
The device and the core run the same compiled code on the same float32 samples (the codec is
lossless), so on the same CPU family the features are bit-identical. Across CPUs and Numba/LLVM
versions ``fastmath`` reassociation, FMA contraction and libm may move a float64 intermediate by
a few ulps before the final rounding to float32. A feature therefore *conforms* when
``|device - cloud| <= ATOL + RTOL * |cloud|`` (``RTOL = 1e-4``, about 800 float32 ulps;
``ATOL = 1e-5`` for values that cancel to near zero, such as the mean of a centred signal), NaN
matching NaN. A device that reports features of different samples, or of another algorithm
version under the same number, fails by orders of magnitude more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

import kernels

__all__ = [
    "ATOL",
    "CLOUD",
    "DEVICE",
    "RTOL",
    "RawWindow",
    "compute_features",
    "conforms",
    "decode_raw",
]

#: ``windows.source``: features computed on the device / by the core.
DEVICE = 1
CLOUD = 2

RTOL = 1e-4
ATOL = 1e-5

_F = len(kernels.FEATURE_NAMES)


@dataclass(frozen=True, slots=True)
class RawWindow:
    """A decoded window waiting for cloud features; ``samples`` is (channels, n_samples)."""

    samples: np.ndarray
    rate_hz: float


def decode_raw(codec: int, data: bytes, channels: int, n_samples: int) -> np.ndarray:
    """Decode stored raw samples into a float32 array of shape (channels, n_samples).

    Raises
    ------
    ValueError
        Unknown codec, undecodable bytes, or a sample count other than channels * n_samples
        (refused from the stream's header or length, before anything is allocated).
    """
    try:
        return kernels.decode_window(codec, data, channels, n_samples)
    except kernels.KernelError as exc:
        raise ValueError(f"raw samples undecodable: {exc}") from exc


def compute_features(windows: list[RawWindow]) -> list[np.ndarray]:
    """Cloud features of ``windows``, batched by (n_samples, rate); one float32 vector each.

    Each result is channel-major, ``channels * len(FEATURE_NAMES)`` values, the layout devices
    send, and equals ``kernels.window_features`` of each channel.
    """
    groups: dict[tuple[int, float], list[int]] = defaultdict(list)
    for i, w in enumerate(windows):
        groups[(w.samples.shape[1], w.rate_hz)].append(i)
    out: list[np.ndarray] = [np.empty(0, np.float32)] * len(windows)
    for (_, rate), members in groups.items():
        rows = np.concatenate([windows[i].samples for i in members], axis=0)
        feats = kernels.window_features_batch(rows, rate)
        at = 0
        for i in members:
            c = windows[i].samples.shape[0]
            out[i] = feats[at : at + c].reshape(-1)
            at += c
    return out


def conforms(device: np.ndarray, cloud: np.ndarray) -> str:
    """Compare device and cloud features; return "" when they agree, else what differs first."""
    if device.shape != cloud.shape:
        return f"{device.shape[0]} values, expected {cloud.shape[0]}"
    d64, c64 = device.astype(np.float64), cloud.astype(np.float64)
    close = np.isclose(d64, c64, rtol=RTOL, atol=ATOL, equal_nan=True)
    if close.all():
        return ""
    i = int(np.argmin(close))
    return (
        f"{kernels.FEATURE_NAMES[i % _F]}[ch{i // _F}] device={device[i]:.7g} cloud={cloud[i]:.7g}"
    )
