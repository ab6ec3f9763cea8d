"""Regenerate ``golden.npz`` (run by hand, only when ALGO_VERSION or the codec version changes).

.venv/bin/python -m tests.kernels.make_golden
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import kernels
from tests.kernels import signals

GOLDEN = Path(__file__).with_name("golden.npz")


def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240601)
    return {
        "windows": np.concatenate(
            [
                rng.standard_normal((4, 256)).astype(np.float32),
                signals.walking_accel(256).T.copy(),
                signals.ppg(256)[None, :],
            ]
        ),
        "codec_input": np.concatenate(
            [
                signals.temperature_log(700),
                signals.walking_accel(256).T.ravel(),
                rng.standard_normal(300).astype(np.float32),
            ]
        ),
    }


def main() -> None:
    data = inputs()
    np.savez_compressed(
        GOLDEN,
        algo_version=np.int64(kernels.ALGO_VERSION),
        feature_names=np.array(kernels.FEATURE_NAMES),
        windows=data["windows"],
        features=kernels.window_features_batch(data["windows"], signals.FS),
        codec_input=data["codec_input"],
        codec_bytes=np.frombuffer(kernels.encode_samples(data["codec_input"]), dtype=np.uint8),
    )
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
