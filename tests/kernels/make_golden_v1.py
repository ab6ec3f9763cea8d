"""How ``golden_codec_v1.npz`` was made: streams of the version-1 encoder, kept forever.

Run once, against the kernels of commit de71f88 (stream version 1), with the tests of this
tree (``golden_streams`` writes the file)::

    git archive de71f88 kernels | tar -x -C /tmp/v1
    cd /tmp/v1 && PYTHONPATH=.:/path/to/binhai python -m tests.kernels.make_golden_v1 out.npz

Later encoders write version 2 and up; ``test_api`` checks that every stream here still decodes
to exactly the bits the version-1 decoder gave (``__decoded``).
"""

from __future__ import annotations

import sys

import numpy as np

import kernels
from tests.kernels import golden_streams, signals

assert kernels._codec.VERSION == 1
rng = np.random.default_rng(20250101)
special = np.array(
    [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-45, -1e-45, 1.17e-38, 3.4e38, -3.4e38], dtype=np.float32
)
payload = np.array([0x7FC00001, 0xFFC12345, 0x7F800001, 0xFF80FFFF], dtype=np.uint32).view(
    np.float32
)
mixed = np.round(rng.standard_normal(600), 2).astype(np.float32)
mixed[::37] = np.tile(np.concatenate([special, payload]), 3)[: mixed[::37].size]
lsb = np.float32(2 * 9.80665 / 32768)
adc = (np.round(rng.standard_normal(513) * 300) * lsb).astype(np.float32)
cases = {
    "temperature": (signals.temperature_log(700), None),
    "walking_accel": (signals.walking_accel(256).T.ravel().copy(), None),
    "noise": (rng.standard_normal(300).astype(np.float32), None),
    "special": (np.concatenate([special, payload]), None),
    "mixed_special": (mixed, None),
    "adc_counts": (adc, None),
    "smooth": (np.sin(np.arange(777) / 20).astype(np.float32), None),
    "constant": (np.full(300, 1.5, dtype=np.float32), None),
    "empty": (np.zeros(0, dtype=np.float32), None),
    "one": (np.array([-0.0], dtype=np.float32), None),
    "lossy": (signals.temperature_log(300), 0.01),
}
golden_streams.save(cases, sys.argv[1])
